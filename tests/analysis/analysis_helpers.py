"""Shared builders for the analysis tests: specs, interval data and synthetic request logs."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelcanary.analysis import IntervalData, Window, version_data
from modelcanary.spec import Analysis, MetricSpec, ModelRollout, parse_rollout


def metric(name: str, **kw: Any) -> MetricSpec:
    """A MetricSpec from snake_case keywords (threshold_range as a dict)."""
    return MetricSpec.model_validate({"name": name, **kw})


def analysis(*metrics: MetricSpec, **kw: Any) -> Analysis:
    """An Analysis with these metrics (default: 5/10/25/50 canary, threshold 2)."""
    base: dict[str, Any] = {"step_weights": [5, 10, 25, 50], "threshold": 2}
    return Analysis.model_validate({**base, **kw, "metrics": list(metrics)})


def interval(
    rng: np.random.Generator,
    *,
    n_chal: int = 500,
    n_champ: int = 5000,
    err_chal: float = 0.005,
    err_champ: float = 0.005,
    lat_scale: float = 1.0,
    seconds: float = 30.0,
) -> IntervalData:
    """One window of log-normal latencies (median ~55 ms) and Bernoulli errors per version."""
    chal = version_data(
        "challenger",
        latencies_ms=rng.lognormal(4.0, 0.5, n_chal) * lat_scale,
        errors=rng.random(n_chal) < err_chal,
    )
    champ = version_data(
        "champion",
        latencies_ms=rng.lognormal(4.0, 0.5, n_champ),
        errors=rng.random(n_champ) < err_champ,
    )
    return IntervalData(Window(0.0, seconds), chal, champ)


def request_log(
    seed: int,
    *,
    seconds: float = 300.0,
    rps: float = 20.0,
    weight: float = 0.2,
    err_chal: float = 0.005,
    lat_scale: float = 1.0,
    mirror: bool = False,
) -> list[dict[str, Any]]:
    """A request log: champion and challenger rows (mirrored pairs share a request_id)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rps)
    times = np.sort(rng.uniform(0, seconds, n)) + 1_700_000_000.0
    rows: list[dict[str, Any]] = []
    for i, t in enumerate(times):
        score = float(rng.normal(0.3, 0.1))
        to_chal = rng.random() < weight
        versions = (
            ["champion", "challenger"] if mirror else (["challenger"] if to_chal else ["champion"])
        )
        for version in versions:
            bad = rng.random() < (err_chal if version == "challenger" else 0.005)
            scale = lat_scale if version == "challenger" else 1.0
            rows.append(
                {
                    "timestamp": float(t),
                    "version": version,
                    "latency_ms": float(rng.lognormal(4.0, 0.5) * scale),
                    "status": 503 if bad else 200,
                    "prediction": round(score + (0.0 if version == "champion" else 1e-4), 4),
                    "request_id": f"r{i}",
                }
            )
    return rows


def plan_log(
    seed: int,
    stages: list[tuple[int, int]],
    *,
    interval_s: float = 30.0,
    rps: float = 20.0,
    err_chal: float = 0.002,
    lat_scale: float = 1.0,
    disagree: float = 0.01,
    start: float = 1_700_000_000.0,
) -> list[dict[str, Any]]:
    """A log that follows a plan: one interval per ``(weight, mirror_weight)`` stage.

    Mirrored requests reach both versions with one request_id; predictions are class labels
    (``fraud``/``legit``) on which the challenger disagrees with probability ``disagree``.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    rid = 0
    for k, (weight, mirror) in enumerate(stages):
        n = int(rng.poisson(rps * interval_s))
        for t in np.sort(rng.uniform(0, interval_s, n)) + start + k * interval_s:
            rid += 1
            label = "fraud" if rng.random() < 0.1 else "legit"
            to_chal = rng.random() < weight / 100
            copy = rng.random() < mirror / 100
            versions = (
                ["challenger"] if to_chal else ["champion", "challenger"] if copy else ["champion"]
            )
            for version in versions:
                chal = version == "challenger"
                flip = chal and rng.random() < disagree
                pred = ("legit" if label == "fraud" else "fraud") if flip else label
                bad = rng.random() < (err_chal if chal else 0.002)
                rows.append(
                    {
                        "timestamp": round(float(t), 3),
                        "version": version,
                        "latency_ms": round(
                            float(rng.lognormal(4.0, 0.4) * (lat_scale if chal else 1.0)), 2
                        ),
                        "status": 500 if bad else 200,
                        "prediction": pred,
                        "request_id": f"req-{rid}",
                    }
                )
    return rows


def fraud_rollout_1s() -> ModelRollout:
    """ModelRollout ``ml/fraud``: 1 s intervals, 2 % weight steps up to 98 %, an error-rate
    check that always passes on its own (max 0.9): the replay tests' sequential judge."""
    return parse_rollout(
        {
            "metadata": {"name": "fraud", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": {
                    "interval": "1s",
                    "threshold": 1,
                    "stepWeights": list(range(2, 100, 2)),
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.9}}],
                },
            },
        }
    )
