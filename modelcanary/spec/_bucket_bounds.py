"""Latency bucket bounds of modelcanary's own histograms, and the SLO-max-is-a-bound rule.

With a Prometheus-compatible provider the sequential latency tests count *buckets*, not
requests' exact latencies (:mod:`modelcanary.analysis._histogram`): a request is within a
latency SLO's ``max`` only when its bucket's upper bound is ``<= max``. When ``max`` is not a
bound, the requests of the bucket that straddles it count as slow (conservative: toward
rollback, never toward promotion), so an SLO max should be one of the bounds. This module
lists them and finds the metrics that break the rule, so ``validate`` and the plan can warn.
"""

from __future__ import annotations

from ..errors import SpecIssue
from ._catalogue import LATENCY_METRICS
from ._rollout import ModelRollout

LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
)  # fmt: skip
"""Upper bounds (ms) of the router's and the model servers' request-duration histograms
(``modelcanary_router_request_duration_seconds``, ``modelcanary_model_request_duration_seconds``
in seconds); ``+Inf`` is implicit."""

PROMETHEUS_TYPES = frozenset({"prometheus", "victoriametrics", "thanos", "mimir"})
"""Provider types that read latency from histogram buckets (Prometheus HTTP API)."""


def format_bounds(bounds: tuple[float, ...] = LATENCY_BUCKETS_MS) -> str:
    """``1, 2.5, 5, ... 10000 ms`` for messages."""
    return ", ".join(f"{b:g}" for b in bounds) + " ms"


def bucket_bound_warnings(rollout: ModelRollout) -> list[SpecIssue]:
    """A warning (field path, what, fix) for each built-in latency SLO whose absolute ``max``
    is not a bucket bound while the rollout's built-in SLIs come from a Prometheus-compatible
    provider. Not an error: the rollout still works, but the straddling bucket's requests
    all count as slow, so a healthy challenger near the SLO can be rolled back."""
    provider = rollout.spec.metrics_provider
    if provider is None or provider.type not in PROMETHEUS_TYPES:
        return []
    out: list[SpecIssue] = []
    for i, metric in enumerate(rollout.spec.analysis.metrics):
        if not metric.is_builtin or metric.name not in LATENCY_METRICS:
            continue
        rng = metric.effective_range()
        if metric.relative_to is not None or rng is None or rng.max is None:
            continue
        if rng.max in LATENCY_BUCKETS_MS:
            continue
        below = max((b for b in LATENCY_BUCKETS_MS if b <= rng.max), default=None)
        counted = (
            f"requests slower than {below:g} ms count as slow"
            if below is not None
            else "every request counts as slow (max is below the first bucket)"
        )
        out.append(
            SpecIssue(
                f"spec.analysis.metrics[{i}].thresholdRange.max",
                f"{metric.name} max {rng.max:g} ms is not a latency bucket bound: with "
                f"{provider.type} the sequential test reads buckets, so {counted}",
                f"use one of the bounds {format_bounds()}",
            )
        )
    return out


__all__ = ["LATENCY_BUCKETS_MS", "PROMETHEUS_TYPES", "bucket_bound_warnings", "format_bounds"]
