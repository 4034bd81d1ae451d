"""Helpers for choosing SLOs before a rollout: power, backtest on a DataFrame, prediction diff.

Thin wrappers over :mod:`modelcanary.analysis` that take and return pandas objects and show
themselves as HTML in a notebook. The numbers are exactly the analysis functions' numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..analysis import (
    BacktestResult,
    PairedPredictions,
    Predictions,
    agreement,
    drift,
    estimate_power,
)
from ..analysis import backtest as _backtest
from ..analysis._drift import DriftMethod
from ..analysis._measurements import NoData
from ..spec._analysis import Analysis
from ..spec._plan import StepPlan

DRIFT_METHODS: tuple[DriftMethod, ...] = ("psi", "ks", "js", "wasserstein")


def _spec(rollout: Any) -> Any:
    """A builder is built; a ModelRollout, its spec or an Analysis pass through."""
    return rollout.build() if hasattr(rollout, "build") else rollout


def _plan(plan: Any) -> StepPlan:
    if isinstance(plan, StepPlan):
        return plan
    spec = _spec(plan)
    if isinstance(spec, Analysis):
        return StepPlan.from_analysis(spec)
    inner = getattr(spec, "spec", spec)
    return StepPlan.from_analysis(inner.analysis)


def power(
    plan: Any,
    rps: float,
    *,
    baseline: float,
    effect: float | Sequence[float],
    **kwargs: Any,
) -> Any:
    """Expected time to a decision and requests exposed, per effect size, as a DataFrame.

    ``plan`` is a StepPlan, a rollout (builder or ModelRollout) or an Analysis; ``effect`` one
    or several multipliers (2.0 = the challenger is twice as bad). Other keyword arguments go
    to :func:`modelcanary.analysis.estimate_power` (``metric``, ``slo_max``, ``runs``, ...).
    """
    import pandas as pd

    step_plan = _plan(plan)
    effects = [float(effect)] if isinstance(effect, int | float) else [float(e) for e in effect]
    rows = []
    for e in effects:
        est = estimate_power(step_plan, rps, baseline=baseline, effect=e, **kwargs)
        rows.append(
            {
                "effect": e,
                "detection_probability": est.detection_probability,
                "median_seconds_to_decision": est.median_seconds_to_decision,
                "median_requests_exposed": est.median_requests_exposed,
                "seconds_to_promote": est.seconds_to_promote,
                "runs": est.runs,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class BacktestView:
    """A backtest result with DataFrame views and an HTML summary."""

    result: BacktestResult

    @property
    def verdict(self) -> str:
        """promoted, rolled_back or inconclusive."""
        return self.result.verdict

    @property
    def reason(self) -> str:
        """Why the replay ended where it did."""
        return self.result.reason

    def intervals(self) -> Any:
        """One row per replayed interval and check."""
        import pandas as pd

        rows = []
        for i in self.result.intervals:
            base = {
                "interval": i.index,
                "start": i.window.start,
                "weight": i.weight,
                "mirror": i.mirror_weight,
                "interval_verdict": i.verdict,
                "action": i.action,
                "challenger_requests": i.challenger_requests,
            }
            for c in i.checks or []:
                d = c.to_dict()
                rows.append(
                    base
                    | {
                        "metric": d.get("metric"),
                        "value": d.get("value"),
                        "champion_value": d.get("champion_value"),
                        "p_value": d.get("p_value"),
                        "verdict": d.get("verdict"),
                        "reason": d.get("reason"),
                    }
                )
            if not i.checks:
                rows.append(base)
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a dict (one row of :func:`compare_slos`)."""
        r = self.result
        return {
            "verdict": r.verdict,
            "decided_after_s": r.decided_after_s,
            "intervals": len(r.intervals),
            "challenger_requests": r.challenger_requests_before_decision,
            "challenger_served": r.challenger_served_before_decision,
            "reason": r.reason,
        }

    def _repr_html_(self) -> str:
        s = self.summary()
        after = "-" if s["decided_after_s"] is None else f"{s['decided_after_s']:.0f} s"
        return (
            f"<div><b>Backtest: {escape(s['verdict'])}</b> after {after}, "
            f"{s['intervals']} interval(s), {s['challenger_served']} challenger request(s) "
            f"served<br>{escape(s['reason'])}</div>"
        )


def backtest(rollout: Any, log: Any) -> BacktestView:
    """Replay a request log (DataFrame, records or columns) through a rollout's analysis."""
    return BacktestView(_backtest(_spec(rollout), log))


def compare_slos(variants: Mapping[str, Any], log: Any) -> Any:
    """Backtest several rollouts (name -> rollout) on one log: one summary row per variant."""
    import pandas as pd

    rows = [{"variant": name} | backtest(r, log).summary() for name, r in variants.items()]
    return pd.DataFrame(rows).set_index("variant")


@dataclass(frozen=True)
class PredictionComparison:
    """Agreement, class flips and drift between paired champion/challenger predictions."""

    pairs: int
    agreement: float | None
    """Share of pairs that agree (labels equal; numbers within ``tolerance``)."""
    flips: Any
    """Labels: DataFrame champion label (rows) x challenger label (columns), indexed by the
    labels themselves (``flips.loc[0, 1]`` for integer classes); empty for scores."""
    drift: dict[str, float] = field(default_factory=dict)
    """psi, ks, js, wasserstein (champion = reference)."""
    tolerance: float | None = None

    def summary(self) -> Any:
        """One-row DataFrame: pairs, agreement and every drift measure."""
        import pandas as pd

        return pd.DataFrame([{"pairs": self.pairs, "agreement": self.agreement} | self.drift])

    def _repr_html_(self) -> str:
        flips = self.flips.to_html() if len(self.flips) else ""
        measures = ", ".join(f"{k} {v:.4g}" for k, v in self.drift.items())
        rate = "-" if self.agreement is None else f"{self.agreement:.2%}"
        return (
            f"<div><b>Agreement {rate}</b> on {self.pairs} paired prediction(s); "
            f"drift: {escape(measures)}{flips}</div>"
        )


def compare_predictions(
    champion_preds: Iterable[Any],
    challenger_preds: Iterable[Any],
    tolerance: float | None = None,
    *,
    labels: bool | None = None,
) -> PredictionComparison:
    """Compare the two models' answers to the same requests (aligned by position).

    ``labels``: treat the predictions as class labels (a flip matrix) or as scores (agreement
    within ``tolerance``). By default integers, booleans and strings are labels (scikit-learn
    classifiers predict ``int64`` classes) and floats are scores; a ``tolerance`` makes
    integers scores too.
    """
    import pandas as pd

    champ_values, chal_values = _values(champion_preds), _values(challenger_preds)
    as_labels = (
        labels
        if labels is not None
        else tolerance is None and _discrete(champ_values) and _discrete(chal_values)
    )
    paired = PairedPredictions(champ_values, chal_values)
    originals: dict[str, Any] = {}
    if as_labels:  # the analysis compares strings as labels: keep each label's own value
        keyed = tuple(_label(v, originals) for v in champ_values)
        paired_labels = PairedPredictions(keyed, tuple(_label(v, originals) for v in chal_values))
        agreed = agreement(paired_labels, None)
    else:
        agreed = agreement(paired, tolerance)
    rate = None if isinstance(agreed, NoData) else agreed.rate
    flips = pd.DataFrame()
    if not isinstance(agreed, NoData) and agreed.flips:
        counts = {
            (originals.get(a, a), originals.get(b, b)): n for (a, b), n in agreed.flips.items()
        }
        flips = _sorted(
            pd.Series(counts)
            .rename_axis(["champion", "challenger"])
            .unstack(fill_value=0)
            .astype(int)
        )
    measures: dict[str, float] = {}
    if len(paired):
        champ = Predictions(paired.champion, "champion")
        chal = Predictions(paired.challenger, "challenger")
        measures = {m: drift(champ, chal, m) for m in DRIFT_METHODS}
    return PredictionComparison(len(paired), rate, flips, measures, tolerance)


def _discrete(values: Any) -> bool:
    """True for class labels: integer, boolean or non-numeric values (not floats)."""
    import numpy as np

    if isinstance(values, np.ndarray):
        return str(values.dtype.kind) not in "fc"
    return all(not isinstance(v, float | np.floating) for v in values)


def _sorted(frame: Any) -> Any:
    """Rows and columns in label order (as given when labels of mixed types do not sort)."""
    try:
        return frame.sort_index().sort_index(axis=1)
    except TypeError:
        return frame


def _label(value: Any, originals: dict[str, Any]) -> str:
    """``value`` as the analysis' string label, remembering the value it stands for."""
    item = value.item() if hasattr(value, "item") else value
    key = str(item)
    originals.setdefault(key, item)
    return key


def _values(preds: Iterable[Any]) -> Any:
    """A Series/array/list as a flat list (numpy arrays are kept for speed)."""
    import numpy as np

    if isinstance(preds, np.ndarray):
        return preds.ravel()
    values = getattr(preds, "to_numpy", None)
    if values is not None:
        return np.asarray(values()).ravel()
    return list(preds)
