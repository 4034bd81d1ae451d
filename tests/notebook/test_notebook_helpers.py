"""Notebook helpers give exactly the numbers of modelcanary.analysis, as pandas objects."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcanary as mc
from modelcanary import analysis
from modelcanary.analysis._measurements import Predictions
from modelcanary.notebook import backtest, compare_predictions, compare_slos, power
from modelcanary.notebook._run import HISTORY_COLUMNS, history_frame
from modelcanary.spec import AnalysisRecord, CheckRecord, RolloutStatus
from modelcanary.spec._html import status_html

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_import_is_lazy() -> None:
    code = (
        "import sys, modelcanary.notebook; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('plotly', 'ipywidgets', 'pandas', 'anywidget')))"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_power_matches_estimate_power_per_effect() -> None:
    plan = analysis.StepPlan.canary([10, 25, 50], 60.0)
    frame = power(plan, 20.0, baseline=0.01, effect=[2.0, 4.0], runs=50)
    assert list(frame["effect"]) == [2.0, 4.0]
    for row in frame.itertuples():
        est = analysis.estimate_power(plan, 20.0, baseline=0.01, effect=row.effect, runs=50)
        assert row.detection_probability == est.detection_probability
        assert row.median_requests_exposed == est.median_requests_exposed
        assert row.median_seconds_to_decision == est.median_seconds_to_decision
    rollout = (
        mc.Rollout("p")
        .champion("a")
        .challenger("b")
        .canary(steps=[10, 25, 50], interval="1m")
        .slo(mc.sli.error_rate() < "5%")
    )
    assert power(rollout, 20.0, baseline=0.01, effect=2.0, runs=50).equals(frame.head(1))


def test_backtest_accepts_a_dataframe_and_matches_the_analysis() -> None:
    spec = mc.load(EXAMPLES / "backtest-rollout.yaml")
    for name, verdict in (("healthy", "promoted"), ("regression", "rolled_back")):
        log = pd.read_csv(EXAMPLES / f"backtest-{name}.csv")
        view = backtest(spec, log)
        direct = analysis.backtest(spec, log.to_dict("records"))
        assert view.verdict == direct.verdict == verdict
        assert view.summary()["decided_after_s"] == direct.decided_after_s
        intervals = view.intervals()
        assert set(intervals["interval"]) == set(range(len(direct.intervals)))
        assert verdict in view._repr_html_()
    table = compare_slos(
        {"as is": spec, "loose": spec},
        pd.read_csv(EXAMPLES / "backtest-regression.csv"),
    )
    assert list(table.index) == ["as is", "loose"]
    assert set(table["verdict"]) == {"rolled_back"}


def test_compare_predictions_labels_and_scores() -> None:
    champ = ["a", "a", "b", "b", "c", "a"]
    chal = ["a", "b", "b", "b", "a", "a"]
    cmp = compare_predictions(pd.Series(champ), chal)
    expected = analysis.agreement(analysis.PairedPredictions(champ, chal))
    assert isinstance(expected, analysis.Agreement)
    assert cmp.agreement == pytest.approx(expected.rate) == pytest.approx(4 / 6)
    assert cmp.flips.loc["a", "b"] == 1 and cmp.flips.loc["c", "a"] == 1
    assert int(cmp.flips.to_numpy().sum()) == 6
    for method in ("psi", "ks", "js", "wasserstein"):
        assert cmp.drift[method] == analysis.drift(
            Predictions(tuple(champ), "champion"), Predictions(tuple(chal)), method
        )
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    b = a + rng.normal(scale=0.05, size=500)
    num = compare_predictions(a, b, tolerance=0.1)
    close = float(np.mean(np.abs(a - b) <= 0.1))
    assert num.agreement == pytest.approx(close)
    assert num.flips.empty
    assert num.drift["ks"] == pytest.approx(analysis.ks_statistic(a, b))
    assert list(num.summary().columns) == ["pairs", "agreement", "psi", "ks", "js", "wasserstein"]
    assert "Agreement" in num._repr_html_()


def test_history_frame_and_status_html_escape() -> None:
    check = CheckRecord(metric="error-rate", value=0.5, max=0.01, verdict="fail", reason="<bad>")
    status = RolloutStatus(
        phase="Failed",
        outcome="rolled_back",
        canary_weight=0,
        message="rollback <now>",
        history=[
            AnalysisRecord(
                time="2026-01-01T00:00:00Z",
                phase="Progressing",
                canary_weight=10,
                verdict="fail",
                checks=[check],
            ),
            AnalysisRecord(time="2026-01-01T00:00:01Z", phase="Progressing", verdict="skipped"),
        ],
    )
    frame = history_frame(status)
    assert list(frame.columns) == HISTORY_COLUMNS
    assert frame["metric"].tolist()[0] == "error-rate" and pd.isna(frame["metric"].tolist()[1])
    assert frame["verdict"].tolist() == ["fail", "skipped"]
    html = status_html(status)
    assert "&lt;bad&gt;" in html and "<bad>" not in html and "Failed: rolled_back" in html
