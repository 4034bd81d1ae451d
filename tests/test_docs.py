"""Docs stay true: the generated field reference and the examples embedded in docs are current."""

from __future__ import annotations

import re
from pathlib import Path

from modelcanary.spec import parse_rollout_yaml
from modelcanary.spec._reference import reference_markdown


def test_spec_reference_is_generated(repo_dir: Path) -> None:
    text = (repo_dir / "docs" / "spec.md").read_text()
    assert reference_markdown() in text, "run: .venv/bin/python scripts/gen_docs.py"


def test_every_yaml_block_in_docs_that_is_a_rollout_validates(repo_dir: Path) -> None:
    checked = 0
    for doc in sorted((repo_dir / "docs").glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(), flags=re.S):
            if "kind: ModelRollout" in block:
                parse_rollout_yaml(block, source=str(doc))
                checked += 1
    assert checked >= 2


def test_full_example_is_embedded_in_spec_doc(repo_dir: Path) -> None:
    example = (repo_dir / "examples" / "fraud-full.yaml").read_text()
    assert example in (repo_dir / "docs" / "spec.md").read_text()


def test_readme_opens_with_two_command_quickstart(repo_dir: Path) -> None:
    text = (repo_dir / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [
        line
        for block in re.findall(r"```bash\n(.*?)```", quick, flags=re.S)
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2, commands
    assert commands[1].startswith("./scripts/test")
    assert (repo_dir / "scripts" / "test").exists() and (repo_dir / "scripts" / "demo").exists()
    assert "scripts/test" in (repo_dir / ".ci" / "run").read_text()


def test_every_local_link_in_readme_and_docs_exists(repo_dir: Path) -> None:
    pages = [repo_dir / "README.md", *sorted((repo_dir / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+?)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
            checked += 1
    assert checked >= 20
