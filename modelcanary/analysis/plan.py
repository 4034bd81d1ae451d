"""The traffic plan as analysis intervals: which weight each passing interval leads to.

A minimal, pure view of the rollout plan for the backtest, the power helper and the
detection benchmark (the rollout state machine owns the real thing). Flagger semantics: a
mirror phase (``shadow.iterations`` intervals, or Flagger's single mirror iteration), then
one interval per canary weight; after the last weight passes, the challenger is promoted.
A/B and blue/green run ``iterations`` intervals; custom steps hold each weight for
``duration`` (pauses count as one interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec.analysis import Analysis
from ..spec.base import parse_duration


@dataclass(frozen=True)
class Stage:
    """A weight held until ``intervals`` analysis intervals have passed."""

    weight: int
    """Percent of user traffic the challenger serves."""
    mirror_weight: int = 0
    """Percent of traffic mirrored to the challenger (responses discarded)."""
    intervals: int = 1
    """Passing intervals needed to leave the stage."""


@dataclass(frozen=True)
class StepPlan:
    """Stages in order, and the analysis interval in seconds."""

    stages: tuple[Stage, ...]
    interval_s: float

    @classmethod
    def from_analysis(cls, analysis: Analysis) -> StepPlan:
        """The plan an :class:`~modelcanary.spec.analysis.Analysis` describes."""
        interval = parse_duration(analysis.interval)
        mirror = analysis.mirror_weight if analysis.mirror_weight is not None else 100
        stages: list[Stage] = []
        if analysis.steps:
            for step in analysis.steps:
                held = parse_duration(step.duration) if step.duration else interval
                stages.append(
                    Stage(step.weight, step.mirror_weight or 0, max(1, math.ceil(held / interval)))
                )
            return cls(tuple(stages), interval)
        if analysis.mirror:
            shadow = analysis.shadow.iterations if analysis.shadow else 1
            stages.append(Stage(0, mirror, shadow))
        if analysis.strategy in ("ab", "bluegreen"):
            weight = 100 if analysis.strategy == "ab" else 0
            stages.append(Stage(weight, 0, analysis.iterations or 1))
        else:
            stages += [Stage(w) for w in analysis.weights() or [100]]
        return cls(tuple(stages), interval)

    @classmethod
    def canary(
        cls, weights: list[int], interval_s: float, mirror_intervals: int = 0, mirror: int = 100
    ) -> StepPlan:
        """A canary plan: optional mirror intervals, then one interval per weight."""
        stages = [Stage(0, mirror, mirror_intervals)] if mirror_intervals else []
        return cls(tuple(stages + [Stage(w) for w in weights]), interval_s)

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
