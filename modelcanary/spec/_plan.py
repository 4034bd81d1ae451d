"""The traffic plan, one definition for every layer: the stages a rollout walks through.

The state machine (``rollout/``) walks these stages and routes each one; the backtest and the
power helper (``analysis/``) replay the same stages interval by interval, so what they predict
is what ships. Derived from ``spec.analysis`` only; pure, no I/O.

- shadow (``mirror`` + ``shadow.iterations``, or one interval when ``mirror`` is set on a
  canary or A/B, as Flagger mirrors for one iteration): no live traffic, copies only;
- canary: one stage per weight (``stepWeights``, or ``stepWeight`` up to ``maxWeight``);
- A/B: one stage of ``iterations`` intervals routing matching requests to the challenger;
- blue/green: one stage of ``iterations`` intervals with no live traffic, mirrored when
  ``mirror`` is set (a shadow stage before it only when ``shadow`` is given);
- custom steps (Argo Rollouts' steps, or a builder chain such as shadow -> canary -> A/B):
  one stage per step, held for its ``iterations``, its duration or until approved; its kind
  says what it does: ``shadow`` (weight 0, mirrored), ``canary`` (a weight), ``ab`` (match
  conditions) or ``step`` (no live challenger traffic, e.g. a pause).

A canary without weights has no stages: such a spec is refused by the rules
("has no traffic plan"), and :meth:`StepPlan.from_analysis` refuses it the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError, SpecIssue
from ._analysis import Analysis, MatchCondition, SessionAffinity
from ._base import parse_duration
from ._traffic import Routes

NO_PLAN_FIX = (
    "set stepWeight (e.g. 10), stepWeights (e.g. [5, 10, 25, 50]), iterations (A/B or "
    "blue/green) or steps"
)
"""The fix hint when an analysis has no traffic plan (shared with the spec rules' wording)."""


@dataclass(frozen=True)
class Stage:
    """One stage of the plan: what traffic the challenger gets and when the stage is done."""

    kind: str
    """shadow, canary, ab, bluegreen or step (custom steps take shadow, canary, ab or step)."""
    weight: int = 0
    """Challenger traffic percent."""
    mirror_weight: int = 0
    """Percent of champion traffic mirrored to the challenger (answers discarded)."""
    match: tuple[MatchCondition, ...] = ()
    """A/B conditions routing matching requests to the challenger."""
    intervals: int = 1
    """Passing analysis intervals needed to leave the stage."""
    duration: float = 0.0
    """Seconds the stage must last at least (custom steps)."""
    pause: bool = False
    """Wait for a manual approval before leaving the stage."""

    def routes(self, affinity: SessionAffinity | None = None) -> Routes:
        """The routes that realise this stage."""
        return Routes(
            champion_weight=100 - self.weight,
            challenger_weight=self.weight,
            mirror_weight=self.mirror_weight,
            match=self.match,
            session_affinity=affinity if self.kind == "canary" else None,
        )

    def describe(self) -> str:
        """Short text: ``canary 25%``, ``shadow (mirror 100%)``, ``A/B (matching requests)``."""
        mirror = f" (mirror {self.mirror_weight}%)" if self.mirror_weight else ""
        held = " + pause" if self.pause else ""
        if self.kind == "shadow":
            return f"shadow (mirror {self.mirror_weight}%){held}"
        if self.kind == "ab":
            return f"A/B (matching requests){mirror}{held}"
        if self.kind == "bluegreen":
            return f"blue/green{mirror}"
        if self.kind == "step":
            return f"hold 0%{held}"
        return f"{self.kind} {self.weight}%{mirror}{held}"


def mirror_percent(analysis: Analysis) -> int:
    """Mirror percent when mirroring is on (Flagger's default is all requests)."""
    if not analysis.mirror:
        return 0
    return 100 if analysis.mirror_weight is None else analysis.mirror_weight


def stages(analysis: Analysis) -> list[Stage]:
    """The stages of ``analysis`` in order (empty only for a canary without weights)."""
    plan: list[Stage] = []
    mirror = mirror_percent(analysis)
    strategy = analysis.strategy
    shadow_intervals = analysis.shadow.iterations if analysis.shadow else 1
    # blue/green mirrors during its own stage; a shadow phase before it only when asked for
    if mirror and (strategy in ("canary", "ab") or (strategy == "bluegreen" and analysis.shadow)):
        plan.append(Stage("shadow", mirror_weight=mirror, intervals=shadow_intervals))
    if strategy == "canary":
        plan += [Stage("canary", weight=w) for w in analysis.weights()]
    elif strategy == "ab":
        match = tuple(analysis.match or ())
        plan.append(Stage("ab", match=match, intervals=analysis.iterations or 1))
    elif strategy == "bluegreen":
        plan.append(Stage("bluegreen", mirror_weight=mirror, intervals=analysis.iterations or 1))
    else:
        interval = parse_duration(analysis.interval)
        for step in analysis.steps or []:
            seconds = parse_duration(step.duration) if step.duration else 0.0
            held = max(1, math.ceil(seconds / interval)) if seconds else 1
            plan.append(
                Stage(
                    step.kind,
                    weight=0 if step.match else step.weight,
                    mirror_weight=step.mirror_weight or 0,
                    match=tuple(step.match or ()),
                    intervals=step.iterations or held,
                    duration=seconds,
                    pause=step.pause,
                )
            )
    return plan


def serves_challenger(analysis: Analysis) -> bool:
    """Whether some stage of ``analysis`` sends the challenger client requests (a weight, or an
    A/B match) before the decision; a mirror-only plan (shadow, blue/green) never does."""
    return any(stage.weight > 0 or stage.match for stage in stages(analysis))


def promotion_weights(analysis: Analysis, current: int) -> list[int]:
    """Challenger weights while traffic moves back to the (promoted) champion.

    Without ``stepWeightPromotion`` all traffic moves at once: ``[0]``. With it, the
    challenger's share falls by that step each interval, as Flagger does after promotion.
    """
    step = analysis.step_weight_promotion
    if not step or current <= 0:
        return [0]
    return [*range(current - step, 0, -step), 0]


@dataclass(frozen=True)
class StepPlan:
    """The stages as analysis intervals (for replay and simulation), and the interval in seconds.

    A pause counts as one interval (the replay approves at once); a step's duration is held as
    ``ceil(duration / interval)`` intervals, as the state machine holds it.
    """

    stages: tuple[Stage, ...]
    interval_s: float

    @classmethod
    def from_analysis(cls, analysis: Analysis) -> StepPlan:
        """The plan the state machine walks for ``analysis``; SpecError if it has none."""
        plan = stages(analysis)
        # a lone shadow stage is a canary without weights; custom steps may all mirror
        if not plan or (analysis.strategy != "steps" and all(s.kind == "shadow" for s in plan)):
            raise SpecError(SpecIssue("spec.analysis", "has no traffic plan", NO_PLAN_FIX))
        return cls(tuple(plan), parse_duration(analysis.interval))

    @classmethod
    def canary(
        cls, weights: list[int], interval_s: float, mirror_intervals: int = 0, mirror: int = 100
    ) -> StepPlan:
        """A canary plan: optional mirror intervals, then one interval per weight."""
        shadow = [Stage("shadow", mirror_weight=mirror, intervals=mirror_intervals)]
        canary = [Stage("canary", weight=w) for w in weights]
        return cls(tuple((shadow if mirror_intervals else []) + canary), interval_s)

    @property
    def passes_to_promote(self) -> int:
        """Passing intervals from start to promotion."""
        return sum(s.intervals for s in self.stages)

    def stage_after(self, passes: int) -> Stage | None:
        """The stage in force after ``passes`` passing intervals (None: promoted)."""
        for stage in self.stages:
            if passes < stage.intervals:
                return stage
            passes -= stage.intervals
        return None
