"""A sequential rejection's reason line names the check as the threshold reasons do.

The interval's check (:func:`sequential_check`) and a batch's look (:func:`check_batch`) give
the same reason for the same evidence, from one place, and it starts with the check's name
(:func:`~modelcanary.analysis._checks.reason_name`): ``error-rate`` for all errors,
``error-rate[rate-limit]`` for one ``errorClass``.
"""

from __future__ import annotations

from modelcanary.analysis import AnalysisState, check_batch
from modelcanary.analysis._judges import sequential_check
from modelcanary.analysis._measurements import Counts, IntervalData, VersionData, Window
from modelcanary.spec import Analysis, MetricSpec


def _window(challenger_errors: int, champion_errors: int) -> IntervalData:
    """One 30 s window of 3000 requests a side (counts only: the request-level tests)."""
    return IntervalData(
        Window(0.0, 30.0),
        VersionData("challenger", counts=Counts(3000, challenger_errors)),
        VersionData("champion", counts=Counts(3000, champion_errors)),
    )


def _analysis(metric: dict[str, object]) -> Analysis:
    return Analysis.model_validate(
        {"interval": "30s", "threshold": 1, "step_weights": [50], "metrics": [metric]}
    )


def test_the_interval_check_and_the_batch_look_give_one_reason_line() -> None:
    analysis = _analysis({"name": "error-rate", "threshold_range": {"max": 0.01}})
    metric = analysis.metrics[0]
    data = _window(challenger_errors=600, champion_errors=6)  # 20 % vs 0.2 %, SLO 1 %
    looked = check_batch(analysis, data, AnalysisState())
    assert looked.action == "rollback"
    [batch] = looked.checks
    interval, _ = sequential_check(metric, data, None, analysis.no_data, alpha=0.01)
    assert interval.verdict == batch.verdict == "fail"
    assert interval.decisive and batch.decisive
    assert interval.reason == batch.reason
    assert batch.reason.startswith("error-rate: sequential test rejects - ")
    assert batch.reason.endswith("<= alpha 0.01")


def test_a_sequential_error_class_check_is_named_by_its_identity() -> None:
    # the spec's rules refuse judge: sequential with an errorClass (the per-request tests
    # count every error); a MetricSpec built in code still reaches the judge, and its
    # reason must not read like the check of all errors
    metric = MetricSpec.model_validate(
        {
            "name": "error-rate",
            "errorClass": "rate-limit",
            "judge": "sequential",
            "thresholdRange": {"max": 0.01},
        }
    )
    analysis = _analysis({"name": "error-rate", "threshold_range": {"max": 0.01}})
    analysis = analysis.model_copy(update={"metrics": [metric]})
    looked = check_batch(analysis, _window(600, 6), AnalysisState())
    assert looked.action == "rollback"
    [check] = looked.checks
    assert check.key == "error-rate[rate-limit]"
    assert check.reason.startswith("error-rate[rate-limit]: sequential test rejects - ")
    assert looked.message == f"rollback: {check.reason}"
