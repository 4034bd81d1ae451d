"""Issue 12 (item 10): the YAML loader refuses duplicate keys and documents that are too big,
too deep or alias bombs; a flood of problems is reported as the first 50 and a count."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modelcanary._files import read_text
from modelcanary.cli import _validate_cmd as validate_cmd
from modelcanary.errors import SpecError
from modelcanary.spec import load_documents, parse_rollout_yaml
from modelcanary.spec._loader import MAX_DEPTH, MAX_DOCUMENT_CHARS
from modelcanary.spec._validate import MAX_ISSUES

HEAD = """apiVersion: modelcanary.io/v1alpha1
kind: ModelRollout
metadata: {name: fraud}
spec:
  challenger: {url: "http://127.0.0.1:5003"}
  analysis:
    stepWeights: [5, 50]
    metrics: [{name: error-rate, thresholdRange: {max: 0.01}}]
"""
DUPLICATE_URL = (
    HEAD
    + """  champion:
    url: http://127.0.0.1:5001
    url: http://127.0.0.1:5002
"""
)


def _validate_cli(tmp_path: Path, text: str) -> tuple[int, str]:
    app = typer.Typer()
    validate_cmd.register(app)
    app.command("noop")(lambda: None)  # two commands: `validate` stays a subcommand
    file = tmp_path / "rollout.yaml"
    file.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(file)])
    return result.exit_code, result.output


def test_duplicate_key_is_refused_with_path_and_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        parse_rollout_yaml(DUPLICATE_URL)
    issue = info.value.issues[0]
    assert issue.path == "spec.champion.url"
    assert "line 11" in issue.message and "first on line 10" in issue.message, issue
    assert issue.hint
    code, output = _validate_cli(tmp_path, DUPLICATE_URL)
    assert code == 2 and "spec.champion.url" in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("a: 1\nb: 2\na: 3\n", "a"),
        (
            "spec:\n  analysis:\n    metrics:\n      - {name: x, name: y}\n",
            "spec.analysis.metrics[0].name",
        ),
        (
            '{"spec": {"router": {"provider": "istio", "provider": "local"}}}',
            "spec.router.provider",
        ),
        ("a: 1\n---\nb: {c: 1, c: 2}\n", "b.c"),
    ],
)
def test_duplicates_anywhere_name_their_path(text: str, path: str) -> None:
    with pytest.raises(SpecError) as info:
        load_documents(text)
    assert info.value.issues[0].path == path, info.value


def test_merge_keys_and_distinct_key_types_are_not_duplicates() -> None:
    docs = load_documents("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  x: 3\nk: {1: a, '1': b}\n")
    assert docs[0]["use"] == {"x": 3, "y": 2}


def test_oversized_document_is_refused() -> None:
    text = HEAD + "#" + "x" * MAX_DOCUMENT_CHARS + "\n"
    with pytest.raises(SpecError, match="1 MiB"):
        load_documents(text)


def test_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    file = tmp_path / "big.yaml"
    file.write_text("a: " + "x" * (3 * MAX_DOCUMENT_CHARS) + "\n", encoding="utf-8")
    with pytest.raises(SpecError, match="1 MiB"):
        read_text(file)


def test_deep_nesting_is_refused() -> None:
    depth = MAX_DEPTH + 10
    text = HEAD + "  service: {match: [{a: " + "[" * depth + "]" * depth + "}]}\n"
    with pytest.raises(SpecError, match="nests deeper"):
        load_documents(text)


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = HEAD.replace("metadata: {name: fraud}", "metadata:\n  name: fraud\n  annotations:\n")
    text = text.replace(
        "  annotations:\n", "  annotations:\n" + "".join(f"    {x}\n" for x in lines)
    )
    with pytest.raises(SpecError, match="more than 200,000 values"):
        parse_rollout_yaml(text)  # 10^9 values once expanded


def test_huge_integer_is_a_spec_error() -> None:
    """int('9' * 5000) raises ValueError (Python's digit limit): it used to escape as a crash."""
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_rollout_yaml(HEAD + "  progressDeadlineSeconds: " + "9" * 5000 + "\n")


def test_unknown_key_flood_is_capped(tmp_path: Path) -> None:
    keys = "".join(f"    k{i}: 1\n" for i in range(20_000))
    text = HEAD.replace("  analysis:\n", "  analysis:\n" + keys)
    with pytest.raises(SpecError) as info:
        parse_rollout_yaml(text)
    issues = info.value.issues
    assert len(issues) == MAX_ISSUES + 1
    assert "19,950 more problem(s)" in issues[-1].message
    assert len(str(info.value)) < 20_000
    code, output = _validate_cli(tmp_path, text)
    assert code == 2 and "more problem(s)" in output
