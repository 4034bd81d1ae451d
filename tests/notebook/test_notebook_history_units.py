"""`history()` / `history_frame`: one unit per row, named in a `unit` column.

The records come from the analysis itself (threshold checks against the champion as a ratio
and as a difference, an absolute check, Mann-Whitney checks and their score), so the table
is tested on what a rollout stores, not on hand-made records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcanary import analysis
from modelcanary._files import loads
from modelcanary.analysis import Counts, IntervalData, Samples, Scalar, VersionData, Window
from modelcanary.notebook import history_frame
from modelcanary.notebook._run import HISTORY_COLUMNS
from modelcanary.spec import AnalysisRecord, RolloutStatus

ROLLOUT = loads(
    """
apiVersion: modelcanary.io/v1alpha1
kind: ModelRollout
metadata: {name: units}
spec:
  champion: {url: "http://127.0.0.1:1"}
  challenger: {url: "http://127.0.0.1:2"}
  router: {provider: local}
  analysis:
    interval: 1m
    stepWeights: [50]
    metrics:
      - {name: latency-p99, thresholdRange: {max: 250}}
      - {name: latency-p99, relativeTo: champion, thresholdRange: {max: 1.1}}
      - name: error-rate
        relativeTo: champion
        comparison: difference
        thresholdRange: {max: 0.005}
"""
)


def _data() -> IntervalData:
    window = Window(0.0, 60.0)
    challenger = VersionData("challenger", Counts(1000, 12), values={"latency-p99": Scalar(230.0)})
    champion = VersionData(
        "champion", Counts(1000, 4, "champion"), values={"latency-p99": Scalar(200.0, "champion")}
    )
    return IntervalData(window, challenger, champion)


def _status() -> RolloutStatus:
    data = _data()
    checks = [
        analysis.threshold_check(m, data, "fail").to_record() for m in ROLLOUT.spec.analysis.metrics
    ]
    record = AnalysisRecord(
        time="2026-01-01T00:01:00Z", phase="Progressing", canary_weight=50, verdict="fail",
        checks=checks,
    )  # fmt: skip
    return RolloutStatus(phase="Progressing", canary_weight=50, history=[record])


@pytest.mark.parametrize("with_spec", [True, False])
def test_relative_checks_are_shown_in_the_sli_unit(with_spec: bool) -> None:
    status = _status()
    stored = {c.metric: c for c in status.history[0].checks}
    assert stored["latency-p99@champion"].value == pytest.approx(1.15)  # a ratio in the status
    frame = history_frame(status, ROLLOUT if with_spec else None)
    assert list(frame.columns) == HISTORY_COLUMNS
    rows = frame.set_index("metric")
    absolute = rows.loc["latency-p99"]
    assert (absolute["unit"], absolute["value"], absolute["max"]) == ("ms", 230.0, 250.0)
    ratio = rows.loc["latency-p99@champion"]
    assert ratio["unit"] == "ms"
    assert ratio["value"] == pytest.approx(230.0)  # the challenger's p99, not 1.15
    assert ratio["champion_value"] == pytest.approx(200.0)
    assert ratio["max"] == pytest.approx(220.0)  # 1.1 x the champion's 200 ms
    assert ratio["verdict"] == "fail" and ratio["value"] > ratio["max"]
    diff = rows.loc["error-rate@champion"]
    assert diff["unit"] == "fraction"
    assert diff["value"] == pytest.approx(0.012)
    assert diff["champion_value"] == pytest.approx(0.004)
    assert diff["max"] == pytest.approx(0.009)  # champion 0.4 % + 0.5 points
    assert diff["verdict"] == "fail" and diff["value"] > diff["max"]


def test_mann_whitney_rows_are_ratios_and_the_score_a_score() -> None:
    spec = ROLLOUT.spec.analysis.model_copy(update={"metrics": ROLLOUT.spec.analysis.metrics[:1]})
    metric = spec.metrics[0].model_copy(update={"allowed_increase": 1.1})
    rng = np.random.default_rng(1)
    data = IntervalData(
        Window(0.0, 60.0),
        VersionData("challenger", series={"latency-p99": Samples(rng.normal(300, 5, 40))}),
        VersionData(
            "champion", series={"latency-p99": Samples(rng.normal(200, 5, 40), "champion")}
        ),
    )
    checks = [c.to_record() for c in analysis.kayenta_checks([metric], data, spec)]
    record = AnalysisRecord(time="2026-01-01T00:01:00Z", phase="Progressing", verdict="fail")
    status = RolloutStatus(history=[record.model_copy(update={"checks": checks})])
    rows = history_frame(status, ROLLOUT).set_index("metric")
    assert rows.loc["latency-p99", "unit"] == "ratio"
    assert rows.loc["latency-p99", "value"] == pytest.approx(1.5, rel=0.05)
    assert rows.loc["canary-score", "unit"] == "score"


def test_an_interval_without_checks_has_no_unit() -> None:
    record = AnalysisRecord(time="2026-01-01T00:01:00Z", phase="Progressing", verdict="pass")
    frame = history_frame(RolloutStatus(history=[record]))
    assert frame["unit"].isna().all() and frame["verdict"].tolist() == ["pass"]
    assert isinstance(frame, pd.DataFrame)
