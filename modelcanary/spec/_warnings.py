"""Everything a valid rollout may still get wrong, in one list: the warnings of ``validate``,
the builder's ``build()`` and the local runtime's findings.

- the local load cannot feed a stage (:func:`modelcanary.spec._load_reach.load_warnings`);
- a latency SLO's ``max`` is not a histogram bucket bound while the SLIs come from Prometheus
  (:func:`modelcanary.spec._bucket_bounds.bucket_bound_warnings`);
- the analysis has webhooks but no metrics: nothing but the gates judges the challenger
  (allowed, as Flagger allows it, e.g. a load test plus an acceptance test);
- the analysis has neither: only the challenger's readiness is checked on the way (allowed,
  as Flagger walks such a Canary's steps; e.g. Flagger's Istio delegation example).
"""

from __future__ import annotations

from ..errors import SpecIssue
from ._bucket_bounds import bucket_bound_warnings
from ._load_reach import load_warnings
from ._rollout import ModelRollout


class SpecWarning(UserWarning):
    """A valid rollout that may not do what its author expects (the builder warns)."""


WEBHOOKS_ONLY = (
    "is empty: only the webhooks judge the challenger (no SLI is checked, a failing model "
    "is promoted unless a gate or rollback webhook refuses it)"
)


NOTHING_CHECKED = (
    "is empty and there are no webhooks: nothing judges the challenger but its readiness (it "
    "walks the traffic plan and is promoted unless its pods fail)"
)


def spec_warnings(rollout: ModelRollout) -> list[SpecIssue]:
    """Every warning about a valid ``rollout``, each with the field and the fix."""
    return load_warnings(rollout) + other_warnings(rollout)


def other_warnings(rollout: ModelRollout) -> list[SpecIssue]:
    """The warnings that are not about the local load (:class:`SpecWarning` in the builder)."""
    out = bucket_bound_warnings(rollout)
    analysis = rollout.spec.analysis
    if not analysis.metrics and analysis.webhooks and not rollout.spec.skip_analysis:
        out.append(
            SpecIssue(
                "spec.analysis.metrics",
                WEBHOOKS_ONLY,
                "add a metric, e.g. {name: error-rate, thresholdRange: {max: 0.01}}, or keep "
                "it so if the webhooks are your checks",
            )
        )
    if not analysis.metrics and not analysis.webhooks and not rollout.spec.skip_analysis:
        out.append(
            SpecIssue(
                "spec.analysis.metrics",
                NOTHING_CHECKED,
                "add a metric, e.g. {name: error-rate, thresholdRange: {max: 0.01}}, or a "
                "webhook gate; or set spec.skipAnalysis: true to promote without the steps",
            )
        )
    return out
