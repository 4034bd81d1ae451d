"""Power helper: how long until the sequential judge catches a regression, and at what cost.

Given the champion's baseline (error rate, or latency tail), the traffic, a step plan and
an effect size, :func:`estimate_power` simulates the sequential champion comparison (and
the SLO test when ``slo_max`` is given) interval by interval along the plan - the same
tests and thresholds as :mod:`modelcanary.analysis._judges` - and reports the detection
probability, the median time to the decision and the median number of requests the
challenger *served* (mirrored copies excluded) before it. For notebooks: pick a plan whose
exposure you can live with before you run it.

Latency effects assume log-normal latencies with shape ``latency_sigma`` scaled by
``effect``: the chance a challenger request is slower than the champion's q-quantile is
``1 - Phi(z_q - ln(effect) / sigma)``. The interval's Flagger-style point check is not
simulated, so the estimate is conservative for large effects. The plan is the state
machine's own (:class:`modelcanary.spec._plan.StepPlan`): the simulated stages are the ones
that ship. An A/B stage is refused (the share of matching requests is unknown here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..spec._plan import StepPlan
from ._judges import DEFAULT_ALPHA
from ._restarts import restart_weight
from ._sequential import MixtureState, OddsMixture


@dataclass(frozen=True)
class PowerEstimate:
    """Simulated outcome of the sequential judge on one plan and effect size."""

    detection_probability: float
    """Share of simulated rollouts rolled back before promotion."""
    median_seconds_to_decision: float | None
    """Median seconds from start to rollback among detected runs (None: never detected)."""
    median_requests_exposed: float | None
    """Median challenger requests served to users before rollback among detected runs."""
    seconds_to_promote: float
    """Seconds the plan takes when nothing is detected."""
    runs: int
    """Simulated rollouts."""


def estimate_power(
    plan: StepPlan,
    rps: float,
    *,
    baseline: float,
    effect: float,
    metric: Literal["error-rate", "latency"] = "error-rate",
    quantile: float = 0.99,
    latency_sigma: float = 0.5,
    slo_max: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    runs: int = 200,
    seed: int = 0,
) -> PowerEstimate:
    """Simulate ``runs`` rollouts of a challenger ``effect`` times worse than the champion.

    ``baseline`` is the champion's error rate (``metric="error-rate"``; ``effect`` multiplies
    it) or is ignored for latency, where ``effect`` multiplies every latency and the tail
    beyond the champion's ``quantile`` is what the test counts. ``slo_max`` adds the SLO test
    (error rate only): H0 ``challenger error rate <= slo_max``.
    """
    import numpy as np
    from scipy.stats import norm

    if rps <= 0 or effect <= 0:
        raise ValueError("rps and effect must be positive")
    if not plan.stages:
        raise ValueError("the plan has no stages: give weights, iterations or steps")
    if any(s.match for s in plan.stages):
        raise ValueError(
            "an A/B stage routes only the requests matching its conditions and their share is "
            "unknown here: simulate it as StepPlan.canary([share], interval_s)"
        )
    if metric == "error-rate":
        p_champ, p_chal = baseline, min(1.0, baseline * effect)
        slo = slo_max if slo_max is not None and 0 < slo_max < 1 else None
    else:
        p_champ = 1.0 - quantile
        z_q = float(norm.ppf(quantile))
        p_chal = float(1.0 - norm.cdf(z_q - math.log(effect) / latency_sigma))
        slo = None
    tests = 2 if slo is not None else 1
    mixture = OddsMixture()
    rng = np.random.default_rng(seed)
    times: list[float] = []
    exposed: list[float] = []
    per_interval = rps * plan.interval_s
    for _ in range(runs):
        comp: MixtureState = mixture.start()
        own: MixtureState = mixture.start()
        served, elapsed = 0.0, 0.0
        for stage in plan.stages:
            for _ in range(stage.intervals):
                n_chal = per_interval * (stage.weight + stage.mirror_weight) / 100.0
                n_champ = per_interval * (100 - stage.weight) / 100.0
                n1, n0 = int(rng.poisson(n_chal)), int(rng.poisson(n_champ))
                e1, e0 = int(rng.binomial(n1, p_chal)), int(rng.binomial(n0, p_champ))
                elapsed += plan.interval_s
                served += n1 * stage.weight / max(1, stage.weight + stage.mirror_weight)
                if n1 and n0 and e0 + e1:
                    comp = mixture.update(comp, e1, e0 + e1, n1 / (n1 + n0))
                if slo is not None and n1:
                    own = mixture.update(own, e1, n1, slo)
                p = min(OddsMixture.p_value(comp), OddsMixture.p_value(own))
                if p * tests <= alpha * restart_weight(0):  # the first-look share
                    break
            else:
                continue
            times.append(elapsed)
            exposed.append(served)
            break
    promote = plan.interval_s * plan.passes_to_promote
    return PowerEstimate(
        detection_probability=len(times) / runs,
        median_seconds_to_decision=float(np.median(times)) if times else None,
        median_requests_exposed=float(np.median(exposed)) if exposed else None,
        seconds_to_promote=promote,
        runs=runs,
    )
