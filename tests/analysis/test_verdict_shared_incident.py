"""Issue 15, item 1: a breach the champion shares in the same window is an environment
incident (the step holds and says so), not a challenger fault; a challenger breaching alone is
still caught. Deterministic per-request data: 100 rps, 30 s intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelcanary.analysis import (
    AnalysisState,
    Counts,
    IntervalData,
    Samples,
    VersionData,
    Window,
    analyse_interval,
    check_batch,
)
from modelcanary.spec import Analysis

RPS, INTERVAL = 100, 30.0


def spec(**kw: Any) -> Analysis:
    """The issue's SLOs with the defaults (no judge set: sequential), threshold 1."""
    return Analysis.model_validate(
        {
            "interval": "30s",
            "threshold": 1,
            "step_weights": [50],
            "metrics": [
                {"name": "error-rate", "threshold_range": {"max": 0.01}},
                {"name": "latency-p99", "threshold_range": {"max": 250}},
            ],
            **kw,
        }
    )


def side(name: str, n: int, errors: int, seed: int) -> VersionData:
    rng = np.random.default_rng(seed)
    lat = rng.lognormal(np.log(50.0), 0.5, n)
    return VersionData(name, Counts(n, errors, name), Samples(lat, name))  # type: ignore[arg-type]


def window(
    lo: float, hi: float, share: float, chal_err: float, champ_err: float, seed: int
) -> IntervalData:
    """Requests of [lo, hi): ``share`` to the challenger, error rates as given (expected
    counts, rounded: no sampling noise in the error counts)."""
    n = int(RPS * (hi - lo))
    n1, n0 = round(n * share), n - round(n * share)
    return IntervalData(
        Window(lo, hi),
        side("challenger", n1, round(n1 * chal_err), seed),
        side("champion", n0, round(n0 * champ_err), seed + 1),
    )


def rates(t: float, both_incident: bool, chal_incident: bool) -> tuple[float, float]:
    """(challenger, champion) error rate of a 5 s batch starting at ``t``: 0.2 % baseline,
    25 % during the 10 s incident at t = 40-50 s."""
    hit = 40 <= t < 50
    chal = 0.25 if hit and (both_incident or chal_incident) else 0.002
    champ = 0.25 if hit and both_incident else 0.002
    return chal, champ


def run(
    analysis: Analysis, share: float, *, both: bool, alone: bool, batches: bool
) -> tuple[str, list[str]]:
    """Six intervals (3 minutes); returns the final action and every interval message."""
    state, messages = AnalysisState(), []
    for k in range(6):
        start = k * INTERVAL
        parts = [
            window(t, t + 5, share, *rates(t, both, alone), seed=int(t))
            for t in np.arange(start, start + INTERVAL, 5.0)
        ]
        if batches:
            for part in parts:
                quick = check_batch(analysis, part, state)
                state = quick.state
                if quick.action == "rollback":
                    return "rollback", [*messages, quick.message]
        whole = IntervalData(
            Window(start, start + INTERVAL),
            _merge([p.challenger for p in parts], "challenger"),
            _merge([p.champion for p in parts], "champion"),
        )
        result = analyse_interval(analysis, whole, state, batches_checked=batches)
        state = result.state
        messages.append(result.message)
        if result.action in ("rollback", "inconclusive"):
            return result.action, messages
    return "running", messages


def _merge(sides: list[VersionData], name: str) -> VersionData:
    counts = [s.counts for s in sides]
    lat = [s.latencies for s in sides]
    total = sum(c.total for c in counts)  # type: ignore[union-attr]
    errors = sum(c.errors for c in counts)  # type: ignore[union-attr]
    values = np.concatenate([x.values for x in lat])  # type: ignore[union-attr]
    return VersionData(name, Counts(total, errors, name), Samples(values, name))  # type: ignore[arg-type]


def test_shared_10s_incident_at_half_share_holds_instead_of_rolling_back() -> None:
    # the case: both versions at 25 % errors for 10 s, 50 % share; HEAD rolled back
    for batches in (False, True):
        action, messages = run(spec(), 0.5, both=True, alone=False, batches=batches)
        assert action == "running", (batches, messages)
        held = [m for m in messages if m.startswith("holding")]
        assert held and "environment incident" in held[0] and "champion" in held[0], messages
        assert messages[-1].startswith("all 2 checks passed")


def test_shared_incident_at_small_share_holds_too() -> None:
    action, messages = run(spec(step_weights=[5]), 0.05, both=True, alone=False, batches=True)
    assert action == "running", messages


def test_challenger_alone_at_25_percent_errors_is_still_caught() -> None:
    for batches in (False, True):
        for share in (0.5, 0.05):
            action, messages = run(spec(), share, both=False, alone=True, batches=batches)
            assert action == "rollback", (batches, share, messages)
            assert "sequential test rejects" in messages[-1]
            assert "environment incident" not in messages[-1]


def test_shared_incident_never_promotes_past_the_hold_deadline() -> None:
    # an incident the champion shares for good: the step holds, then fails as inconclusive
    # at the hold deadline (progressDeadlineSeconds), never passes
    analysis, state = spec(), AnalysisState()
    actions = []
    for k in range(12):
        data = window(k * INTERVAL, (k + 1) * INTERVAL, 0.5, 0.05, 0.05, seed=k)
        result = analyse_interval(analysis, data, state, hold_deadline_s=300)
        state = result.state
        actions.append(result.action)
        if result.action != "hold":
            break
    assert actions == ["hold"] * 9 + ["inconclusive"]
    assert "hold deadline" in result.message and "environment incident" in result.message
