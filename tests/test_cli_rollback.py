"""``modelcanary rollback NAME --to VERSION`` on local runs (real processes, real model servers,
real exit codes): after a promotion, the earlier champion comes back through a short analysed
rollout run by a detached runner; the history records the request; a version that never
served as champion exits 2 listing the known ones. The cluster side is in
tests/operator/test_rollback_to_version.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runs import cli, local_rollout_file, status_json
from polling import until

from modelcanary.cli._runner import read_runner


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("rollback-models")
    x, y = load_iris(return_X_y=True, as_frame=True)
    req = ["scikit-learn"]
    for name, c in (("v1", 1.0), ("v2", 0.3)):
        model = LogisticRegression(C=c, max_iter=300).fit(x, y)
        mlflow.sklearn.save_model(model, root / name, pip_requirements=req)
    x.to_csv(root / "rows.csv", index=False)
    return {"v1": str(root / "v1"), "v2": str(root / "v2"), "rows": str(root / "rows.csv")}


def _until(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    return until(check, what, timeout)


def test_rollback_after_a_local_promotion(tmp_path: Path, models: dict[str, str]) -> None:
    workdir = tmp_path / "w"
    spec = local_rollout_file(
        tmp_path / "fraud.yaml",
        "fraud",
        champion=models["v1"],
        challenger=models["v2"],
        steps=[20, 50],
        dataset=models["rows"],
    )
    done = cli(tmp_path, "run", str(spec), "--quiet", "--workdir", str(workdir))
    assert done.returncode == 0, done.stdout + done.stderr
    promoted = status_json(tmp_path, "fraud", workdir)
    assert promoted["outcome"] == "promoted"
    assert promoted["champions"] == [models["v1"], models["v2"]]
    before = len(promoted["history"])

    never = cli(tmp_path, "rollback", "fraud", "--to", "v7", "--workdir", str(workdir))
    assert never.returncode == 2 and "Traceback" not in never.stderr
    text = " ".join(never.stderr.split())
    assert "'v7' was never the champion of default/fraud" in text, text
    assert f"known versions: {models['v1']}, {models['v2']}" in text, text

    dry = cli(tmp_path, "rollback", "fraud", "--to", "v1", "--workdir", str(workdir), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = yaml.safe_load(dry.stdout)
    assert planned["spec"]["champion"] == {"modelUri": models["v2"]}
    assert planned["spec"]["challenger"] == {"modelUri": models["v1"]}
    assert planned["spec"]["analysis"]["stepWeights"] == [50]
    assert status_json(tmp_path, "fraud", workdir)["challenger"] == models["v2"]  # nothing ran

    asked = cli(
        tmp_path,
        "rollback",
        "fraud",
        "--to",
        "v1",  # the model directory's name
        "--workdir",
        str(workdir),
        "--by",
        "carol",
        "--reason",
        "v2 is slower",
    )
    assert asked.returncode == 0, asked.stderr
    assert "one analysis interval (1s) at canary 50%" in " ".join(asked.stderr.split())
    pid = int(asked.stdout.split("detached (pid ")[1].split(")")[0])

    def ended() -> bool:
        runner = read_runner(workdir, "default", "fraud")
        return bool(runner and runner.pid == pid and not runner.alive and runner.exit_code == 0)

    _until(ended, "the rollback's runner to promote and exit 0")
    status = status_json(tmp_path, "fraud", workdir)
    assert (status["outcome"], status["champion"], status["challenger"]) == (
        "promoted",
        models["v2"],
        models["v1"],
    )
    assert status["champions"] == [models["v2"], models["v1"]]  # by when each last served
    entry = status["history"][0]  # a local run starts its status afresh
    assert (entry["kind"], entry["version"], entry["requestedBy"]) == (
        "rollback",
        models["v1"],
        "carol",
    )
    assert "v2 is slower" in entry["message"] and before > 1
    analysed = status["history"][1:]
    assert [r["canaryWeight"] for r in analysed] == [50]  # one interval, then the switch
    assert analysed[0]["verdict"] == "pass"

    back = cli(tmp_path, "rollback", "fraud", "--to", "v1", "--workdir", str(workdir))
    assert back.returncode == 2 and "already the champion" in back.stderr, back.stderr
    shown = cli(tmp_path, "history", "fraud", "--workdir", str(workdir))
    assert shown.returncode == 0 and "rollback to" in shown.stdout and "carol" in shown.stdout


def test_rollback_of_an_unknown_rollout_exits_2(tmp_path: Path) -> None:
    done = cli(tmp_path, "rollback", "ghost", "--to", "1", "--workdir", str(tmp_path / "w"))
    assert done.returncode == 2 and "no rollout default/ghost" in done.stderr, done.stderr
