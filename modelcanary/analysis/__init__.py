"""Pure analysis math: inference SLIs, checks, judges, sequential tests, backtest, power.

No I/O. The engine calls :func:`analyse_interval` once per analysis interval with the
window's :class:`IntervalData` and the :class:`AnalysisState` it stored last time.
"""

from ..spec.plan import StepPlan
from .backtest import BacktestResult, backtest
from .bands import Band, difference_band, intersect, sequential_states, state_counts
from .chartdata import BandChart, ChartData, MetricChart, Traffic, chart_data
from .checks import CheckResult, Verdict, metric_key, threshold_check
from .drift import drift, js_distance, ks_statistic, psi, wasserstein
from .interval import AnalysisState, IntervalResult, aggregate, analyse_interval, check_batch
from .judges import SequentialState, comparison_alpha, select_judge, sequential_check
from .kayenta import classify, kayenta_checks, mann_whitney
from .measurements import (
    Counts,
    IntervalData,
    LatencyHistogram,
    NoData,
    PairedPredictions,
    PredictionHistogram,
    Predictions,
    Samples,
    Scalar,
    VersionData,
    Window,
    scalar,
    version_data,
)
from .power import PowerEstimate, estimate_power
from .sequential import GaussianState, MixtureState, OddsMixture, gaussian_msprt
from .sli import (
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
    "LatencyHistogram",
    "MetricChart",
    "MixtureState",
    "NoData",
    "OddsMixture",
    "PairedPredictions",
    "PowerEstimate",
    "PredictionHistogram",
    "Predictions",
    "Samples",
    "Scalar",
    "SequentialState",
    "StepPlan",
    "Traffic",
    "Verdict",
    "VersionData",
    "Window",
    "aggregate",
    "agreement",
    "analyse_interval",
    "backtest",
    "chart_data",
    "check_batch",
    "classify",
    "comparison_alpha",
    "difference_band",
    "drift",
    "error_rate",
    "estimate_power",
    "gaussian_msprt",
    "histogram_quantile",
    "intersect",
    "js_distance",
    "kayenta_checks",
    "ks_statistic",
    "latency_quantile",
    "mann_whitney",
    "metric_key",
    "psi",
    "scalar",
    "select_judge",
    "sequential_check",
    "sequential_states",
    "sli_value",
    "state_counts",
    "success_rate",
    "threshold_check",
    "throughput",
    "version_data",
    "wasserstein",
]
