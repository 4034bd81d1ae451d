"""``sample_plan``: the challenger requests each stage of a rollout needs, as a DataFrame.

A thin wrapper over :func:`modelcanary.analysis.sample_plan`: takes a rollout (builder,
ModelRollout, Analysis or StepPlan), the expected traffic and either a baseline error rate or
the champion's pre-period request log (baseline and the unit design effect are read from it).
"""

from __future__ import annotations

from typing import Any

from ..analysis import pre_period as _pre_period
from ..analysis import sample_plan as _sample_plan
from ._helpers import _plan


def sample_plan(
    rollout: Any,
    rps: float,
    *,
    effect: float = 2.0,
    baseline: float | None = None,
    pre_period: Any = None,
    unit: str = "unit",
    **kwargs: Any,
) -> Any:
    """One row per stage: expected challenger requests, their running total, what an
    ``effect`` times worse challenger needs to be caught with ``power`` (default 0.8), and
    whether the plan has reached it by the end of the stage.

    Give ``baseline`` (the champion's error rate) or ``pre_period`` (a request log of the
    champion before the rollout: DataFrame, CSV path or rows, with a ``unit`` column when
    requests carry a user or session key). Other keyword arguments go to
    :func:`modelcanary.analysis.samples_to_detect` (``power``, ``metric``, ``alpha``...).
    """
    import pandas as pd

    if (baseline is None) == (pre_period is None):
        raise ValueError(
            "give baseline (the champion's error rate, e.g. 0.01) or pre_period (the "
            "champion's request log), not both and not neither"
        )
    design = 1.0
    if pre_period is not None:
        pre = _pre_period(pre_period, unit=unit)
        baseline, design = pre.baseline, pre.design_effect
    kwargs.setdefault("design_effect", design)
    assert baseline is not None
    rows = _sample_plan(_plan(rollout), rps, baseline=baseline, effect=effect, **kwargs)
    return pd.DataFrame(
        [
            {
                "stage": r.stage,
                "intervals": r.intervals,
                "challenger_requests": r.challenger_requests,
                "cumulative": r.cumulative,
                "needed": r.needed,
                "enough": r.enough,
            }
            for r in rows
        ]
    )
