"""Backtest: replaying request logs through a rollout's analysis, and the CLI command."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from analysis_helpers import analysis, metric, plan_log
from typer.testing import CliRunner

from modelcanary._files import load
from modelcanary.analysis import backtest
from modelcanary.analysis._backtest import parse_log
from modelcanary.cli._main import app
from modelcanary.errors import SpecError

STAGES = [(0, 100), (0, 100), (5, 0), (10, 0), (25, 0), (50, 0), (50, 0)]
REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "examples" / "backtest-rollout.yaml"


@pytest.fixture(scope="module")
def rollout() -> Any:
    return load(SPEC)


def test_healthy_log_is_promoted_after_the_plan(rollout: Any) -> None:
    result = backtest(rollout, plan_log(1, STAGES))
    assert result.verdict == "promoted"
    assert result.decided_after_s == pytest.approx(6 * 30, abs=1)  # 2 mirror + 4 weights
    assert len(result.intervals) == 6
    mirrored = result.intervals[0].checks
    agreement = next(c for c in mirrored if c.metric == "prediction-agreement")
    assert agreement.verdict == "pass" and agreement.value is not None and agreement.value > 0.95
    shifted = next(c for c in result.intervals[3].checks if c.metric == "prediction-agreement")
    assert shifted.verdict == "skipped"
    assert 0 < result.challenger_served_before_decision < result.challenger_requests_before_decision


def test_regression_is_rolled_back_during_the_mirror_phase(rollout: Any) -> None:
    result = backtest(rollout, plan_log(2, STAGES, err_chal=0.05))
    assert result.verdict == "rolled_back"
    assert result.challenger_served_before_decision == 0  # only mirrored copies
    assert "error-rate" in result.reason
    data = result.to_dict()
    assert data["verdict"] == "rolled_back"
    assert data["decided_at"] == pytest.approx(result.intervals[-1].window.end)
    check = data["checks"][-1]["checks"][0]
    assert {"metric", "value", "threshold", "verdict", "reason"} <= set(check)


def test_latency_regression_within_slo_and_short_logs(rollout: Any) -> None:
    slow = backtest(rollout, plan_log(3, STAGES, lat_scale=1.5, rps=40))
    assert slow.verdict == "rolled_back" and "slow requests" in slow.reason
    short = backtest(rollout, plan_log(4, STAGES[:3]))
    assert short.verdict == "inconclusive" and short.decided_at is None
    assert "log ended" in short.reason


def test_disagreeing_predictions_fail_agreement_in_mirror(rollout: Any) -> None:
    result = backtest(rollout, plan_log(5, STAGES, disagree=0.2))
    assert result.verdict == "rolled_back"
    assert all(i.verdict == "fail" for i in result.intervals)
    assert any(
        "prediction-agreement" in c.reason
        for c in result.intervals[0].checks
        if c.verdict == "fail"
    )


def test_log_inputs_records_columns_and_dataframe_like() -> None:
    rows = plan_log(6, STAGES[:2])
    columns = {k: [r[k] for r in rows] for k in rows[0]}

    class FakeFrame:
        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return rows

    assert parse_log(columns) == parse_log(rows) == parse_log(FakeFrame())
    spec = analysis(metric("error-rate", threshold_range={"max": 0.05}), mirror=True)
    assert backtest(spec, columns).verdict == backtest(spec, rows).verdict


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"version": "challenger", "status": 200}, "timestamp"),
        ({"timestamp": 1, "version": "blue", "status": 200}, "version"),
        ({"timestamp": "x", "version": "champion", "status": 200}, "x"),
    ],
)
def test_bad_rows_are_spec_errors(row: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError, match=problem) as info:
        backtest(analysis(metric("error-rate", threshold_range={"max": 0.05})), [row])
    assert info.value.issues[0].path == "log row 1"
    with pytest.raises(SpecError, match="no requests"):
        backtest(analysis(metric("error-rate", threshold_range={"max": 0.05})), [])


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    good = _csv(tmp_path / "good.csv", plan_log(1, STAGES))
    bad = _csv(tmp_path / "bad.csv", plan_log(2, STAGES, err_chal=0.05))
    short = _csv(tmp_path / "short.csv", plan_log(4, STAGES[:2]))
    out = runner.invoke(app, ["backtest", str(SPEC), "--data", str(good), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["verdict"] == "promoted"
    out = runner.invoke(app, ["backtest", str(SPEC), "--data", str(bad), "--json"])
    data = json.loads(out.output)
    assert out.exit_code == 1 and data["verdict"] == "rolled_back"
    assert data["challenger_requests_before_decision"] > 0 and data["decided_at"] is not None
    assert runner.invoke(app, ["backtest", str(SPEC), "--data", str(short)]).exit_code == 3
    table = runner.invoke(app, ["backtest", str(SPEC), "--data", str(good)])
    assert table.exit_code == 0 and "promoted" in table.output


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["backtest", str(SPEC), "--data", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,version,latency_ms,status\n1,blue,3,200\n")
    out = runner.invoke(app, ["backtest", str(SPEC), "--data", str(broken)])
    assert out.exit_code == 2 and "log row 1" in out.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert runner.invoke(app, ["backtest", str(SPEC), "--data", str(empty)]).exit_code == 2
