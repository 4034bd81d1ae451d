"""Anytime-valid tests: exact likelihood ratios, resumable state, and false alarms <= alpha.

The null simulations check the guarantee Ville's inequality gives: the chance of *ever*
rejecting, while looking after every batch, is at most alpha. With 400 runs the standard
error of a rate near 0.02 is about 0.007, so asserting <= alpha (0.05) leaves > 4 standard
errors of margin; the runs are seeded, so the test is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelcanary.analysis import GaussianState, MixtureState, OddsMixture, gaussian_msprt
from modelcanary.analysis._sequential import update_gaussian

ALPHA = 0.05
RUNS = 400


def test_single_batch_likelihood_ratio_by_hand() -> None:
    test = OddsMixture((2.0,))
    state = test.update(test.start(), events=3, trials=10, p0=0.1)
    p1 = 2 / 11  # odds 2 * (1/9)
    hand = 3 * math.log(p1 / 0.1) + 7 * math.log((1 - p1) / 0.9)
    assert state.log_lr == [pytest.approx(hand)]
    assert OddsMixture.p_value(state) == pytest.approx(min(1.0, math.exp(-hand)))
    assert (state.events, state.trials) == (3, 10)


def test_batches_add_up_and_state_resumes_from_json() -> None:
    test = OddsMixture()
    whole = test.update(test.start(), 7, 100, 0.02)
    first = test.update(test.start(), 3, 40, 0.02)
    resumed = MixtureState.model_validate_json(first.model_dump_json())
    split = test.update(resumed, 4, 60, 0.02)
    assert split.log_lr == pytest.approx(whole.log_lr)
    assert split.trials == whole.trials == 100


def test_p_value_is_monotone_and_rejects_a_clear_regression() -> None:
    test = OddsMixture()
    state, previous = test.start(), 1.0
    for _ in range(10):
        state = test.update(state, 5, 100, 0.01)  # 5 % observed against H0 <= 1 %
        assert OddsMixture.p_value(state) <= previous
        previous = OddsMixture.p_value(state)
    assert OddsMixture.rejects(state, ALPHA)


def test_invalid_inputs() -> None:
    test = OddsMixture()
    with pytest.raises(ValueError):
        test.update(test.start(), 5, 3, 0.1)
    with pytest.raises(ValueError):
        test.update(test.start(), 1, 3, 0.0)
    with pytest.raises(ValueError):
        OddsMixture((0.5,))
    assert test.update(test.start(), 0, 0, 0.1) == test.start()


def test_one_sample_false_alarms_at_the_null_boundary() -> None:
    """Error rate exactly at the SLO (p = p0), checked after each of 40 batches."""
    rng = np.random.default_rng(11)
    test, p0, rejected = OddsMixture(), 0.01, 0
    for _ in range(RUNS):
        state = test.start()
        for events in rng.binomial(300, p0, size=40):
            state = test.update(state, int(events), 300, p0)
            if OddsMixture.rejects(state, ALPHA):
                rejected += 1
                break
    assert rejected / RUNS <= ALPHA


def test_two_sample_false_alarms_with_changing_weights() -> None:
    """Equal error rates, challenger weight stepping 5/10/25/50 %, checked every interval."""
    rng = np.random.default_rng(12)
    test, p, rejected = OddsMixture(), 0.01, 0
    weights = [0.05, 0.10, 0.25, 0.50] * 3
    for _ in range(RUNS):
        state = test.start()
        for w in weights:
            n1, n0 = int(3000 * w), int(3000 * (1 - w))
            e1, e0 = int(rng.binomial(n1, p)), int(rng.binomial(n0, p))
            if e0 + e1:
                state = test.update(state, e1, e0 + e1, n1 / (n1 + n0))
            if OddsMixture.rejects(state, ALPHA):
                rejected += 1
                break
    assert rejected / RUNS <= ALPHA


def test_two_sample_detects_a_tripled_error_rate() -> None:
    rng = np.random.default_rng(13)
    test, detected = OddsMixture(), 0
    for _ in range(100):
        state = test.start()
        for w in (0.05, 0.10, 0.25, 0.50):
            n1, n0 = int(3000 * w), int(3000 * (1 - w))
            e1, e0 = int(rng.binomial(n1, 0.03)), int(rng.binomial(n0, 0.01))
            state = test.update(state, e1, e0 + e1, n1 / (n1 + n0))
        detected += OddsMixture.rejects(state, ALPHA)
    assert detected >= 90


def test_gaussian_msprt_by_formula_and_null_rate() -> None:
    state = GaussianState(n0=1000, x0=10, n1=1000, x1=30)
    lam, z = gaussian_msprt(state, tau=0.01)
    d, pooled = 0.02, 40.5 / 2001
    v = pooled * (1 - pooled) * 2 / 1000
    hand = math.sqrt(v / (v + 1e-4)) * math.exp(1e-4 * d * d / (2 * v * (v + 1e-4)))
    assert lam == pytest.approx(hand)
    assert z == pytest.approx(d / math.sqrt(v))
    assert (
        gaussian_msprt(GaussianState(n0=100, x0=5, n1=100, x1=1))[0] == 0.0
    )  # better: no evidence

    rng = np.random.default_rng(14)
    rejected = 0
    for _ in range(RUNS):
        g = GaussianState()
        for _ in range(20):
            g = update_gaussian(
                g, (500, int(rng.binomial(500, 0.02))), (500, int(rng.binomial(500, 0.02)))
            )
            if g.min_p_value <= ALPHA:
                rejected += 1
                break
    assert rejected / RUNS <= ALPHA
