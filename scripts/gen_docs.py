"""Regenerate derived files: the CRD and the field reference in docs/spec.md.

.venv/bin/python scripts/gen_docs.py
"""

from __future__ import annotations

from pathlib import Path

from modelcanary.spec._crd import crd_yaml
from modelcanary.spec._reference import BEGIN, END, reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    (ROOT / "operator" / "crds" / "modelrollouts.yaml").write_text(crd_yaml())
    # the Helm chart installs its own copy of every CRD (tests/operator checks they are equal)
    for crd_file in (ROOT / "operator" / "crds").glob("*.yaml"):
        if crd_file.name != "kustomization.yaml":
            (ROOT / "operator" / "chart" / "crds" / crd_file.name).write_text(crd_file.read_text())
    doc = ROOT / "docs" / "spec.md"
    text = doc.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(head + reference_markdown() + tail)
    print("regenerated operator/crds/modelrollouts.yaml (+ chart copy) and docs/spec.md reference")


if __name__ == "__main__":
    main()
