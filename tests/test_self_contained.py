"""A clone is self-contained: tests read only the repository; vendored data names its source."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
# what reaching for a folder beside the clone looks like in code
OUTSIDE = re.compile(
    r"\.\./shared|parents?\W*(\[\d\]\W*)?/\s*[\"']shared[\"']|[\"']shared[\"']\s*/"
)


def _sources() -> list[Path]:
    roots = [REPO / "tests", REPO / "scripts", REPO / ".ci", REPO / "benchmarks"]
    return [
        p
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and p.suffix in {".py", ".sh", ""}
    ]


def test_no_test_or_script_reads_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in _sources()
        if path != Path(__file__)
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], (
        f"tests must read only the repository (copy the file into tests/data): {offenders}"
    )


def test_vendored_files_name_their_source_and_licence() -> None:
    files = sorted(DATA.rglob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        head = "\n".join(path.read_text().splitlines()[:3])
        assert head.startswith("#"), path
        assert "github" in head.lower() or "repository" in head, f"{path}: no source repository"
        assert "License" in head, f"{path}: no licence"
