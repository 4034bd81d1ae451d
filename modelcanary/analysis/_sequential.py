"""Anytime-valid sequential tests: check after every batch without inflating false alarms.

Two mixture-martingale tests, both with serialisable, resumable state:

* :class:`OddsMixture` - a mixture sequential probability ratio test (mSPRT; Robbins 1970)
  for Bernoulli "bad events" with a one-sided composite null ``p <= p0``, the prior a
  uniform mixture over alternatives whose odds are ``m`` times the null odds. Used for

  - the **SLO test** (one sample): is the challenger's error rate above ``max``, or its
    fraction of requests slower than ``max`` ms above ``1 - q`` (the q-quantile exceeds
    ``max``)? The quantile-as-proportion reduction is the one behind Howard & Ramdas'
    quantile confidence sequences ("Sequential estimation of quantiles with applications to
    A/B-testing and best-arm identification", Bernoulli 28(3), 2022).
  - the **champion comparison** (two samples): conditional on the number of bad events in
    a batch (errors, or requests slower than a reference latency), each came from the
    challenger with probability ``r n1 / (r n1 + n0)`` where ``r`` is the rate ratio; under
    H0 ``r <= r0``. This is the time-inhomogeneous Poisson-process test of Lindon, Sanden &
    Shirikian, "Rapid Regression Detection in Software Deployments through Sequential
    Testing" (KDD 2022), with a discrete mixture over ``r`` instead of a conjugate prior.

* :func:`gaussian_msprt` - the normal-mixture mSPRT of Johari, Koomen, Pekelis & Walsh,
  "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations Research 2022)
  for a difference of two proportions, used for ``comparison: difference`` error-rate checks.

Each likelihood ratio is a non-negative (super)martingale under the null, so by Ville's
inequality ``P(sup_t Lambda_t >= 1/alpha) <= alpha``: rejecting when the mixture reaches
``1/alpha`` keeps the false-rollback rate at most ``alpha`` however often it is checked.
The always-valid p-value is ``min(1, 1 / max_s Lambda_s)``.
"""

from __future__ import annotations

import math

from ..spec._base import Model

ODDS_MULTIPLIERS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
"""Alternatives of the mixture: odds (or rate ratios) this many times the null's."""
DEFAULT_TAU = 0.01
"""Prior scale of the Gaussian mSPRT: error-rate differences of about one point."""


class MixtureState(Model):
    """Sufficient statistics of an :class:`OddsMixture` (JSON-serialisable, resumable)."""

    log_lr: list[float]
    """Log likelihood ratio of each alternative in the mixture."""
    max_log_mixture: float = float("-inf")
    """Largest log mixture seen so far (gives the always-valid p-value)."""
    events: int = 0
    """Bad events seen by the test (challenger side for the two-sample test)."""
    trials: int = 0
    """Trials seen (requests, or bad events of both versions for the two-sample test)."""


class OddsMixture:
    """One-sided mixture SPRT over Bernoulli trials with a per-batch null probability."""

    def __init__(self, multipliers: tuple[float, ...] = ODDS_MULTIPLIERS) -> None:
        if not multipliers or min(multipliers) <= 1:
            raise ValueError("alternatives must have odds above the null's (multipliers > 1)")
        self.multipliers = multipliers
        self._log_weight = -math.log(len(multipliers))

    def start(self) -> MixtureState:
        """State before any data."""
        return MixtureState(log_lr=[0.0] * len(self.multipliers))

    def update(self, state: MixtureState, events: int, trials: int, p0: float) -> MixtureState:
        """Add a batch: ``events`` successes in ``trials`` Bernoulli trials, null prob ``p0``."""
        if not 0 <= events <= trials:
            raise ValueError(f"need 0 <= events <= trials (got {events}/{trials})")
        if trials == 0:
            return state
        if not 0 < p0 < 1:
            raise ValueError(f"null probability {p0} must be strictly between 0 and 1")
        odds0 = p0 / (1 - p0)
        log_lr = []
        for m, prev in zip(self.multipliers, state.log_lr, strict=True):
            p1 = m * odds0 / (1 + m * odds0)
            step = events * math.log(p1 / p0) + (trials - events) * math.log((1 - p1) / (1 - p0))
            log_lr.append(prev + step)
        mix = self.log_mixture(log_lr)
        return MixtureState(
            log_lr=log_lr,
            max_log_mixture=max(state.max_log_mixture, mix),
            events=state.events + events,
            trials=state.trials + trials,
        )

    def log_mixture(self, log_lr: list[float]) -> float:
        """log of the prior-weighted average likelihood ratio (log-sum-exp)."""
        top = max(log_lr)
        return top + self._log_weight + math.log(sum(math.exp(v - top) for v in log_lr))

    @staticmethod
    def p_value(state: MixtureState) -> float:
        """Always-valid p-value: 1 / the largest mixture likelihood ratio so far (capped at 1)."""
        return min(1.0, math.exp(-state.max_log_mixture)) if state.trials else 1.0

    @classmethod
    def rejects(cls, state: MixtureState, alpha: float) -> bool:
        """True once the mixture has reached 1/alpha (H0 rejected, anytime-valid)."""
        return cls.p_value(state) <= alpha


class GaussianState(Model):
    """Cumulative counts of a two-proportion Gaussian mSPRT (JSON-serialisable)."""

    n0: int = 0
    """Champion requests."""
    x0: int = 0
    """Champion errors."""
    n1: int = 0
    """Challenger requests."""
    x1: int = 0
    """Challenger errors."""
    min_p_value: float = 1.0
    """Running minimum of 1/Lambda: the always-valid p-value."""


def gaussian_msprt(
    state: GaussianState, delta: float = 0.0, tau: float = DEFAULT_TAU
) -> tuple[float, float]:
    """Johari et al.'s normal-mixture mSPRT for H0: p1 - p0 <= delta (one-sided).

    ``Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (d - delta)^2 / (2 V (V + tau^2)))`` with
    ``d`` the observed difference and ``V`` its variance (pooled under H0, with a half-count
    continuity floor so zero errors do not give zero variance). Only a challenger *worse*
    than the margin counts as evidence. Returns ``(Lambda, z)``.
    """
    if state.n0 == 0 or state.n1 == 0:
        return 0.0, 0.0
    p0 = state.x0 / state.n0
    p1 = state.x1 / state.n1
    diff = p1 - p0 - delta
    pooled = (state.x0 + state.x1 + 0.5) / (state.n0 + state.n1 + 1.0)
    variance = pooled * (1 - pooled) * (1 / state.n0 + 1 / state.n1)
    z = diff / math.sqrt(variance)
    if diff <= 0:
        return 0.0, z
    tau2 = tau * tau
    log_lam = 0.5 * math.log(variance / (variance + tau2)) + (
        tau2 * diff * diff / (2 * variance * (variance + tau2))
    )
    return math.exp(min(log_lam, 700.0)), z


def update_gaussian(
    state: GaussianState,
    champion: tuple[int, int],
    challenger: tuple[int, int],
    delta: float = 0.0,
    tau: float = DEFAULT_TAU,
) -> GaussianState:
    """Add a batch of ``(requests, errors)`` for each version and update the p-value."""
    new = GaussianState(
        n0=state.n0 + champion[0],
        x0=state.x0 + champion[1],
        n1=state.n1 + challenger[0],
        x1=state.x1 + challenger[1],
        min_p_value=state.min_p_value,
    )
    lam, _ = gaussian_msprt(new, delta, tau)
    p_now = 1.0 if lam <= 0 else min(1.0, 1.0 / lam)
    return new.model_copy(update={"min_p_value": min(state.min_p_value, p_now)})
