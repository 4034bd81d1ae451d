"""Pure analysis math: inference SLIs, checks, judges, sequential tests, backtest, power.

No I/O. The engine calls :func:`analyse_interval` once per analysis interval with the
window's :class:`IntervalData` and the :class:`AnalysisState` it stored last time.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ..spec import StepPlan
from ._bands import (
    Band,
    difference_band,
    intersect,
    rate_band,
    sequential_states,
    state_counts,
    stored_analysis,
)
from ._checks import CheckResult, Verdict, metric_key, threshold_check
from ._drift import drift, js_distance, ks_statistic, psi, wasserstein
from ._drift_noise import drift_noise
from ._interval import AnalysisState, IntervalResult, aggregate, analyse_interval, check_batch
from ._judges import SequentialState, comparison_alpha, select_judge, sequential_check
from ._kayenta import classify, kayenta_checks, mann_whitney
from ._measurements import (
    Counts,
    IntervalData,
    LatencyHistogram,
    MirrorCoverage,
    NoData,
    PairedPredictions,
    PredictionHistogram,
    Predictions,
    Samples,
    Scalar,
    UnitRequests,
    VersionData,
    Window,
    scalar,
    version_data,
)
from ._sequential import GaussianState, MixtureState, OddsMixture, gaussian_msprt
from ._sli import (
    Agreement,
    agreement,
    error_rate,
    histogram_quantile,
    latency_quantile,
    sli_value,
    success_rate,
    throughput,
)

__all__ = [
    "Agreement",
    "AnalysisState",
    "BacktestResult",
    "Band",
    "BandChart",
    "ChartData",
    "CheckResult",
    "Counts",
    "GaussianState",
    "IntervalData",
    "IntervalResult",
    "Judgement",
    "LatencyHistogram",
    "MetricChart",
    "MirrorCoverage",
    "MixtureState",
    "NoData",
    "OddsMixture",
    "PairedPredictions",
    "PowerEstimate",
    "PrePeriod",
    "PredictionHistogram",
    "Predictions",
    "Samples",
    "Scalar",
    "SequentialState",
    "StageSamples",
    "StepPlan",
    "Traffic",
    "UnitRequests",
    "Verdict",
    "VersionData",
    "WinRateState",
    "Window",
    "aggregate",
    "agreement",
    "analyse_interval",
    "backtest",
    "chart_data",
    "check_batch",
    "classify",
    "comparison_alpha",
    "design_effect_of",
    "difference_band",
    "drift",
    "drift_noise",
    "error_rate",
    "estimate_power",
    "gaussian_msprt",
    "histogram_quantile",
    "intersect",
    "js_distance",
    "judge_answer",
    "kayenta_checks",
    "ks_statistic",
    "latency_quantile",
    "mann_whitney",
    "metric_key",
    "pairwise",
    "pre_period",
    "psi",
    "rate_band",
    "sample_plan",
    "samples_to_detect",
    "scalar",
    "select_judge",
    "sequential_check",
    "sequential_states",
    "sli_value",
    "state_counts",
    "stored_analysis",
    "success_rate",
    "threshold_check",
    "throughput",
    "update_win_rate",
    "version_data",
    "wasserstein",
    "win_rate_band",
    "win_rate_verdict",
]

if TYPE_CHECKING:  # the offline tools load on first use: the engine's tick needs none of them
    from ._answer_judges import Judgement, judge_answer, pairwise
    from ._backtest import BacktestResult, backtest
    from ._chartdata import BandChart, ChartData, MetricChart, Traffic, chart_data
    from ._power import PowerEstimate, estimate_power
    from ._sample_plan import (
        PrePeriod,
        StageSamples,
        design_effect_of,
        pre_period,
        sample_plan,
        samples_to_detect,
    )
    from ._winrate import WinRateState, update_win_rate, win_rate_band, win_rate_verdict

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "BacktestResult": "._backtest",
            "backtest": "._backtest",
            "BandChart": "._chartdata",
            "ChartData": "._chartdata",
            "MetricChart": "._chartdata",
            "Traffic": "._chartdata",
            "chart_data": "._chartdata",
            "PowerEstimate": "._power",
            "estimate_power": "._power",
            "PrePeriod": "._sample_plan",
            "design_effect_of": "._sample_plan",
            "StageSamples": "._sample_plan",
            "pre_period": "._sample_plan",
            "sample_plan": "._sample_plan",
            "samples_to_detect": "._sample_plan",
            "WinRateState": "._winrate",
            "update_win_rate": "._winrate",
            "win_rate_band": "._winrate",
            "win_rate_verdict": "._winrate",
            "Judgement": "._answer_judges",
            "judge_answer": "._answer_judges",
            "pairwise": "._answer_judges",
        },
    )
