"""A metric's identity in a rollout: what the duplicate rule, the builder's ``slo()`` and the
analysis (``metric_key``: the key of checks, sequential states and history rows) agree on.

A metric is its name, whether it compares with the champion, and the ``errorClass`` it counts:
``error-rate``, ``error-rate@champion``, ``error-rate[rate-limit]`` and
``error-rate[rate-limit]@champion`` are four checks a rollout may have side by side (e.g. rate
limits under 5 % and all errors under 1 %).
"""

from __future__ import annotations

from ._metric_spec import MetricSpec


def metric_identity(metric: MetricSpec) -> str:
    """``name``, ``name[errorClass]``, each with ``@champion`` when it compares with the
    champion."""
    name = f"{metric.name}[{metric.error_class}]" if metric.error_class else metric.name
    return f"{name}@{metric.relative_to}" if metric.relative_to else name


__all__ = ["metric_identity"]
