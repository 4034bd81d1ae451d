"""Pure analysis math: inference SLIs, checks, judges, sequential tests, backtest, power.

No I/O. The engine calls :func:`analyse_interval` once per analysis interval with the
window's :class:`IntervalData` and the :class:`AnalysisState` it stored last time.
"""

from ..spec.plan import StepPlan
from .backtest import BacktestResult, backtest
from .checks import CheckResult, Verdict, metric_key, threshold_check
from .drift import drift, js_distance, ks_statistic, psi, wasserstein
from .interval import AnalysisState, IntervalResult, aggregate, analyse_interval, check_batch
from .judges import SequentialState, select_judge, sequential_check
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
    "CheckResult",
    "Counts",
    "GaussianState",
    "IntervalData",
    "IntervalResult",
    "LatencyHistogram",
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
    "Verdict",
    "VersionData",
    "Window",
    "aggregate",
    "agreement",
    "analyse_interval",
    "backtest",
    "check_batch",
    "classify",
    "drift",
    "error_rate",
    "estimate_power",
    "gaussian_msprt",
    "histogram_quantile",
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
    "sli_value",
    "success_rate",
    "threshold_check",
    "throughput",
    "version_data",
    "wasserstein",
]
