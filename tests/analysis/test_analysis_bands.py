"""The always-valid band: exact per-version beta-binomial confidence sequences combined, with
coverage under repeated looks, read from the typed sequential state the engine stores; and one home
for the band math (an AST scan catches a second copy)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import modelcanary as mc
from modelcanary.analysis import _bands as bands_module
from modelcanary.analysis._bands import (
    Band,
    band_level,
    difference_band,
    intersect,
    rate_band,
    sequential_states,
    state_counts,
)
from modelcanary.analysis._interval import shared_alpha
from modelcanary.analysis._judges import SequentialState, comparison_alpha, evaluate_sequential
from modelcanary.analysis._restarts import restart_weight
from modelcanary.analysis._sequential import GaussianState, OddsMixture


def _counts(n0: int, x0: int, n1: int, x1: int) -> GaussianState:
    """Cumulative counts: the band reads the judge's own counts type."""
    return GaussianState(n0=n0, x0=x0, n1=n1, x1=x1)


def _log_mixture(n: int, x: int, p: float) -> float:
    """log of one version's Jeffreys beta-binomial mixture likelihood ratio against rate p."""
    mixture = (
        math.lgamma(x + 0.5) + math.lgamma(n - x + 0.5) - math.lgamma(n + 1) - 2 * math.lgamma(0.5)
    )
    return mixture - x * math.log(p) - (n - x) * math.log1p(-p)


def test_band_ends_are_where_each_versions_mixture_reaches_two_over_alpha() -> None:
    """The band is [low1 - high0, high1 - low0] of the two exact per-version intervals, each
    at alpha / 2 (issue 15: the normal-mixture band undercovered at low error rates)."""
    counts = _counts(n0=2000, x0=20, n1=500, x1=15)
    band = difference_band(counts, 0.05)
    assert band is not None
    assert band.estimate == pytest.approx(15 / 500 - 20 / 2000)
    low0, high0 = rate_band(2000, 20, 0.025)
    low1, high1 = rate_band(500, 15, 0.025)
    assert (band.low, band.high) == pytest.approx((low1 - high0, high1 - low0))
    for n, x, end in ((2000, 20, low0), (2000, 20, high0), (500, 15, low1), (500, 15, high1)):
        assert _log_mixture(n, x, end) == pytest.approx(math.log(2 / 0.05), rel=1e-9)
    wider = difference_band(counts, 0.01)
    assert wider is not None and wider.low < band.low  # more confidence, wider band
    assert difference_band(_counts(0, 0, 10, 1), 0.05) is None
    tiny = difference_band(_counts(3, 0, 2, 2), 0.01)
    assert tiny is not None and tiny.high == 1.0 and tiny.low >= -1.0  # rates differ by <= 1
    with pytest.raises(ValueError, match="alpha"):
        difference_band(counts, 1.5)


def test_band_covers_the_true_difference_at_every_look() -> None:
    """Under repeated looks (40 batches) the running band misses the truth in <= alpha of
    the runs (Ville's inequality, for each version's exact mixture)."""
    rng = np.random.default_rng(7)
    runs, alpha, misses = 400, 0.05, 0
    for _ in range(runs):
        n0 = x0 = n1 = x1 = 0
        band: Band | None = None
        missed = False
        for _ in range(40):
            n0, n1 = n0 + 300, n1 + 100
            x0 += int(rng.binomial(300, 0.02))
            x1 += int(rng.binomial(100, 0.02))
            now = difference_band(_counts(n0, x0, n1, x1), alpha)
            assert now is not None
            band = intersect(band, now)
            missed = missed or not band.low <= 0.0 <= band.high
        misses += missed
    assert misses / runs <= alpha


def test_a_worse_challenger_gets_a_band_above_zero() -> None:
    band = difference_band(_counts(n0=4000, x0=40, n1=2000, x1=120), 0.025)
    assert band is not None and band.low > 0 and band.verdict == "worse"
    better = difference_band(_counts(n0=4000, x0=400, n1=4000, x1=40), 0.025)
    assert better is not None and better.verdict == "better"


def test_intersection_never_widens_and_never_vanishes() -> None:
    a, b = Band(0.0, -0.02, 0.03, 10), Band(0.01, -0.01, 0.05, 20)
    both = intersect(a, b)
    assert (both.low, both.high, both.estimate, both.requests) == (-0.01, 0.03, 0.01, 20)
    apart = Band(0.2, 0.1, 0.3, 30)
    assert intersect(a, apart) == apart
    assert intersect(None, a) == a


def test_counts_from_the_stored_state() -> None:
    gauss = GaussianState(n0=100, x0=2, n1=50, x1=3)
    stored = gauss.model_dump(mode="json")
    states = sequential_states(
        {"iterations": 3, "sequential": {"a": {"difference": stored}, "b": {"pairs": stored}}}
    )
    assert state_counts(states["a"]) == gauss
    assert state_counts(states["b"]) == gauss
    assert state_counts(SequentialState(slo=OddsMixture().start())) is None
    assert state_counts(None) is None
    assert sequential_states(None) == {} == sequential_states({})
    beside = {"pendingEffects": [{"tick": "t1"}], "sequential": {"a": {"pairs": stored}}}
    assert state_counts(sequential_states(beside)["a"]) == gauss  # other entries are not read


def test_band_level_is_the_judges_own_alpha_split() -> None:
    """An absolute error-rate SLO spends half its alpha on the SLO test, a relative one none:
    the band's level is what the judge's Bonferroni adjustment spends on the comparison."""
    spec = (
        mc.Rollout("bands")
        .champion("a.onnx")
        .challenger("b.onnx")
        .canary(steps=[50], interval="1s")
        .slo(mc.sli.error_rate() < "1%", mc.sli.error_rate().relative_to_champion() < 1.5)
        .build()
    )
    analysis = spec.spec.analysis
    absolute, _relative = analysis.metrics
    alpha = shared_alpha(analysis)
    first = restart_weight(0)  # the tests from the first look; restarts spend the rest
    assert band_level(analysis, "error-rate") == comparison_alpha(absolute, alpha)
    assert comparison_alpha(absolute, alpha) == pytest.approx(alpha / 2 * first)
    assert band_level(analysis, "error-rate@champion") == pytest.approx(alpha * first)
    # the judge rejects the comparison exactly when its p-value reaches that level
    level = comparison_alpha(absolute, alpha)
    state = SequentialState(difference=GaussianState(n0=10, n1=10, min_p_value=level))
    verdict = evaluate_sequential(absolute, state, alpha)
    assert verdict is not None and verdict[0] and verdict[2] == pytest.approx(alpha)


PACKAGE = Path(bands_module.__file__).resolve().parents[1]
BAND_NAMES = {
    "difference_band": "analysis/_bands.py",
    "intersect": "analysis/_bands.py",
    "state_counts": "analysis/_bands.py",
    "sequential_states": "analysis/_bands.py",
    "band_level": "analysis/_bands.py",
    "comparison_alpha": "analysis/_judges.py",
    "sequential_tests": "analysis/_judges.py",
    "chart_data": "analysis/_chartdata.py",
    "passing_band": "analysis/_chartdata.py",
}
"""The band math, the alpha split and the chart series: each defined in one module only."""


def test_the_band_math_is_defined_once() -> None:
    defined: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in BAND_NAMES:
                defined.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert defined == {name: [home] for name, home in BAND_NAMES.items()}


def test_nothing_reads_the_stored_sequential_state_by_string_key() -> None:
    """``analysis_state["sequential"]`` / ``.get("sequential")``: only typed, in analysis/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "analysis"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            key: ast.expr | None = None
            if isinstance(node, ast.Subscript):
                key = node.slice
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                key = node.args[0] if node.func.attr == "get" and node.args else None
            if isinstance(key, ast.Constant) and key.value == "sequential":
                found.append(f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}")
    assert found == [], "parse the state with modelcanary.analysis._bands.sequential_states"
