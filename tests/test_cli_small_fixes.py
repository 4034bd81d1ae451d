"""Small CLI fixes of issue 13: the kubectl plugin connects through public names of the cluster
mode; PyYAML is not imported for ``--help``; a capped problem list says how many it shows of
how many there were."""

from __future__ import annotations

import ast
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from spec_cases import base
from typer.testing import CliRunner

from modelcanary.cli import _cluster_cmd as cluster_cmd
from modelcanary.cli import _kubectl_plugin as plugin
from modelcanary.cli._main import app
from modelcanary.errors import SpecError, SpecIssue

runner = CliRunner()
CLI = Path(cluster_cmd.__file__).parent


# -- item 4: the plugin uses the cluster mode's public names ------------------------------------
def _private_uses(path: Path) -> list[str]:
    """``module._name`` accesses on modules the file imports (reaching past their surface)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom | ast.Import)
        for alias in node.names
        if isinstance(node, ast.Import) or node.module is None  # `from . import _x as x`
    }
    return [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
        and node.attr.startswith("_")
    ]


def test_the_kubectl_plugin_reaches_no_private_name_of_the_cluster_mode() -> None:
    assert _private_uses(CLI / "_kubectl_plugin.py") == []


@pytest.mark.parametrize("args", [["get", "fraud"], ["abort", "fraud"], ["status", "fraud"]])
def test_every_plugin_command_connects_through_connect_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    def connect(kubeconfig: str | None, context: str | None) -> None:
        raise SpecError(SpecIssue("--kubeconfig", f"connect_cluster({kubeconfig}) was used"))

    monkeypatch.setattr(cluster_cmd, "connect_cluster", connect, raising=False)
    missing = str(tmp_path / "no-kubeconfig")
    result = runner.invoke(plugin.app, [*args, "-n", "ml", "--kubeconfig", missing])
    assert result.exit_code == 2, result.output
    assert f"connect_cluster({missing}) was used" in result.output


def test_cluster_action_builds_the_command_of_each_action() -> None:
    command = cluster_cmd.cluster_action("abort")
    assert callable(command) and command.__name__ == "cluster_abort"


# -- item 5: PyYAML is loaded by the commands that need it, not by --help -----------------------
HELP_THEN_MODULES = """
import sys
from {module} import main
sys.argv = ["x", "--help"]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(sorted(m for m in sys.modules if m == "yaml" or m.startswith("yaml.")))
"""


@pytest.mark.parametrize("module", ["modelcanary.cli._main", "modelcanary.cli._kubectl_plugin"])
def test_help_does_not_import_pyyaml(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", HELP_THEN_MODULES.format(module=module)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_commands_that_print_yaml_still_do(shared_dir: Path) -> None:
    crd = runner.invoke(app, ["crd"])
    assert crd.exit_code == 0 and yaml.safe_load(crd.output)["kind"] == "CustomResourceDefinition"
    canary = sorted((shared_dir / "flagger-examples").glob("*.yaml"))[0]
    out = runner.invoke(app, ["convert", "--from", "flagger", str(canary)])
    assert out.exit_code == 0, out.output
    assert any(d and d.get("kind") == "ModelRollout" for d in yaml.safe_load_all(out.stdout))


# -- item 6: a capped problem list counts what it shows and what there was ----------------------
def _validate(tmp_path: Path, unknown_keys: int) -> str:
    doc = base()
    doc["spec"]["analysis"].update({f"k{i}": 1 for i in range(unknown_keys)})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    return result.output


def test_a_capped_list_says_how_many_it_shows_of_how_many(tmp_path: Path) -> None:
    output = _validate(tmp_path, 51)
    assert "showing 50 of 51 problems" in output and "51 problem(s)" not in output
    assert "... and 1 more problem(s)" in output
    assert "showing 50 of 20,000 problems" in _validate(tmp_path, 20_000)


def test_an_uncapped_list_counts_its_problems(tmp_path: Path) -> None:
    output = _validate(tmp_path, 2)
    assert "2 problem(s)" in output and "showing" not in output


def test_a_capped_request_log_says_how_many_rows_were_bad(tmp_path: Path) -> None:
    rollout = tmp_path / "r.yaml"
    rollout.write_text(yaml.safe_dump(base()), encoding="utf-8")
    log = tmp_path / "log.csv"
    with log.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "version", "latency_ms", "status"])
        writer.writerows([[1_700_000_000 + i, "champion", 50, "abc"] for i in range(25)])
    result = runner.invoke(app, ["backtest", str(rollout), "--data", str(log)])
    assert result.exit_code == 2, result.output
    assert "showing 10 of 25 problems" in result.output


def test_a_capped_spec_error_renders_the_same_count_as_the_cli() -> None:
    """``str(SpecError)`` (what a notebook shows) says how many it shows of how many too."""
    from modelcanary.errors import SpecError, SpecIssue

    issues = [SpecIssue(f"spec.x[{i}]", "bad", "fix it") for i in range(50)]
    issues.append(SpecIssue("spec", "... and 7 more", "fix the above first", omitted=7))
    text = SpecError(issues).render()
    assert text.startswith("showing 50 of 57 problems") and "51 problems" not in text
    assert SpecError(issues[:2]).render().startswith("2 problems")


def test_the_hook_log_follows_stderr_after_a_command_ran_under_a_captured_stream(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mlflow-hook run`` adds a stderr handler; run once under a captured stream that is then
    closed (CliRunner, a notebook cell), later log lines must still go to the stderr of the
    moment, not raise "--- Logging error ---" (seen as 9 failures in a full test run)."""
    import io
    import logging

    from modelcanary.cli import _mlflow_cmd

    hook_log = logging.getLogger("modelcanary.mlflow")
    before = list(hook_log.handlers)
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    try:
        _mlflow_cmd._log_to_stderr()
        hook_log.info("first delivery")
        monkeypatch.undo()
        captured.close()
        hook_log.info("second delivery")
        err = capfd.readouterr().err
        assert "Logging error" not in err and "second delivery" in err
    finally:
        hook_log.handlers[:] = before
