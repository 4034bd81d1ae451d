"""The command line: exit codes (0 ok, 2 bad input/usage), messages without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from spec_cases import base, set_path
from typer.testing import CliRunner

from modelcanary.cli._main import app
from modelcanary.spec._crd import crd_yaml

runner = CliRunner()


def _write(tmp_path: Path, doc: object, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def test_validate_ok(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_write(tmp_path, base()))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "fraud" in result.output
    assert "weights [5, 10, 25, 50]" in result.output


def test_validate_reports_every_problem_with_exit_2(tmp_path: Path) -> None:
    doc = set_path(base(), "spec.analysis.stepWeights", [5, 50, 20, 300])
    result = runner.invoke(app, ["validate", str(_write(tmp_path, doc))])
    assert result.exit_code == 2
    assert "spec.analysis.stepWeights[2]" in result.output
    assert "spec.analysis.stepWeights[3]" in result.output
    assert "fix:" in result.output and "Traceback" not in result.output


def test_validate_stdin() -> None:
    result = runner.invoke(app, ["validate", "-"], input=yaml.safe_dump(base()))
    assert result.exit_code == 0, result.output
    bad = yaml.safe_dump(set_path(base(), "spec.analysis.intervall", "1m"))
    result = runner.invoke(app, ["validate", "-"], input=bad)
    assert result.exit_code == 2 and "did you mean 'interval'" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "does-not-exist.yaml"], "does not exist"),
        (["validate"], "Missing argument"),
        (["nonsense-command"], "No such command"),
        (["convert", "x.yaml"], "exactly one of --from"),
    ],
)
def test_usage_and_missing_files_exit_2(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_validate_rejects_directory_and_binary(tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(tmp_path)]).exit_code == 2
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = runner.invoke(app, ["validate", str(binary)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_crd_command_prints_generated_crd() -> None:
    result = runner.invoke(app, ["crd"])
    assert result.exit_code == 0
    assert result.output == crd_yaml()
    assert yaml.safe_load(result.output)["spec"]["names"]["kind"] == "ModelRollout"


def test_console_script_end_to_end(tmp_path: Path, repo_dir: Path) -> None:
    """The installed entry point, as a user runs it, in a real process."""
    exe = Path(sys.executable).with_name("modelcanary")
    ok = subprocess.run(
        [str(exe), "validate", str(repo_dir / "examples" / "fraud-canary.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [str(exe), "validate", "-"],
        input="spec: {analysis: 3}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "spec.analysis" in bad.stderr
