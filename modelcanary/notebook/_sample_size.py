"""``sample_plan``: the challenger requests each stage of a rollout needs, as a DataFrame.

A thin wrapper over :func:`modelcanary.analysis.sample_plan`: takes a rollout (builder,
ModelRollout, Analysis or StepPlan), the expected traffic and either a baseline error rate or
the champion's pre-period request log (baseline, the unit design effect and the CUPED
correlation are read from it). ``frame.attrs["basis"]`` says how the need was sized
(``unit design effect 2, with CUPED (rho = 0.57)``).
"""

from __future__ import annotations

from typing import Any

from ..analysis import pre_period as _pre_period
from ..analysis import sample_plan as _sample_plan
from ..analysis._sample_plan import describe_variance as _describe_variance
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
    requests carry a user or session key; the plan then counts the unit design effect and the
    CUPED reduction the judge applies). Other keyword arguments go to
    :func:`modelcanary.analysis.samples_to_detect` (``power``, ``metric``, ``alpha``...).
    """
    import pandas as pd

    if (baseline is None) == (pre_period is None):
        raise ValueError(
            "give baseline (the champion's error rate, e.g. 0.01) or pre_period (the "
            "champion's request log), not both and not neither"
        )
    design, rho = 1.0, 0.0
    if pre_period is not None:
        pre = _pre_period(pre_period, unit=unit)
        baseline, design, rho = pre.baseline, pre.design_effect, pre.rho
    kwargs.setdefault("design_effect", design)
    kwargs.setdefault("cuped_rho", rho)
    assert baseline is not None
    rows = _sample_plan(_plan(rollout), rps, baseline=baseline, effect=effect, **kwargs)
    cuped = kwargs["cuped_rho"] if kwargs.get("metric", "error-rate") == "error-rate" else 0.0
    frame = pd.DataFrame(
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
    frame.attrs["basis"] = _describe_variance(kwargs["design_effect"], cuped)
    return frame
