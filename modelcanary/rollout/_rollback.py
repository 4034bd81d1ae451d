"""Roll back to a named earlier version after a promotion: the versions a rollout knows, the one
a person names, and the fast, analysed rollout that takes traffic back to it.

What users of Argo Rollouts (``kubectl argo rollouts undo``) and Flagger (re-applying an old
revision, often with ``skipAnalysis``) do, without promoting blind: the named version becomes
the **challenger** of a new rollout against the current champion, with a short plan (one
analysis interval at the plan's largest challenger weight, then a direct switch; A/B and
blue/green plans keep their kind for one interval). The analysis stays on, so an old version
that no longer works (a schema change, a dead dependency) is rolled back, not promoted.

The versions live in the status: ``status.champions`` (each rollout's champion and each
promoted challenger, kept by the state machine), ``status.champion``/``challenger`` and the
spec's champion. The request travels as the ``modelcanary.io/rollback`` annotation of the
rolled-back spec (to, from, by, reason, at); when that rollout starts, the machine writes a
``rollback`` entry in ``status.history`` (:func:`rollback_entry`), once per request, so the
history says who asked for which version, in the cluster and locally alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import SpecError, SpecIssue
from ..spec._analysis import Analysis
from ..spec._phases import Phase
from ..spec._plan import stages
from ..spec._rollout import ModelRollout
from ..spec._status import CHAMPIONS_LIMIT, AnalysisRecord, RolloutStatus
from ..spec._validate import parse_rollout
from ..spec._versions import ModelVersion
from ._times import format_time, parse_time

ROLLBACK = "modelcanary.io/rollback"
"""Annotation of a rolled-back spec: the request as JSON (to, from, by, reason, at)."""
_CLEARED_PLAN: dict[str, Any] = {
    "step_weight": None,
    "step_weights": None,
    "max_weight": None,
    "steps": None,
    "shadow": None,
    "iterations": None,
    "match": None,
    "step_weight_promotion": None,
    "warmup": None,
}


@dataclass(frozen=True)
class RollbackRequest:
    """A person's request to roll back to ``to`` (a version's source) from ``from_version``."""

    to: str
    from_version: str
    by: str
    reason: str
    at: str
    """RFC 3339 time of the request (the history entry's time)."""

    def annotations(self) -> dict[str, str]:
        """The ``modelcanary.io/rollback`` annotation carrying this request."""
        doc = {"to": self.to, "from": self.from_version, "by": self.by, "at": self.at}
        if self.reason:
            doc["reason"] = self.reason
        return {ROLLBACK: json.dumps(doc, sort_keys=True)}

    @classmethod
    def of(cls, rollout: ModelRollout) -> RollbackRequest | None:
        """The request a rollout's annotation carries; None when absent or malformed (a
        hand-edited annotation never stops a rollout, it is just not recorded)."""
        text = (rollout.metadata.annotations or {}).get(ROLLBACK)
        try:
            doc = json.loads(text) if text else None
            if not isinstance(doc, dict):
                return None
            request = cls(
                to=str(doc["to"]),
                from_version=str(doc["from"]),
                by=str(doc["by"]),
                reason=str(doc.get("reason", "")),
                at=str(doc["at"]),
            )
            parse_time(request.at)
        except (ValueError, KeyError, TypeError):
            return None
        return request


def remember(champions: Sequence[str] | None, *versions: str | None) -> list[str]:
    """``champions`` with ``versions`` appended (a version already there moves to the end:
    the list is ordered by when each version last served), at most ``CHAMPIONS_LIMIT``."""
    out = list(champions or [])
    for version in versions:
        if version:
            out = [v for v in out if v != version] + [version]
    return out[-CHAMPIONS_LIMIT:]


def champions_after_promotion(rollout: ModelRollout, status: RolloutStatus) -> list[str] | None:
    """``status.champions`` once the challenger is promoted: its champion, then it (named
    versions only: a targetRef rollout's revisions are not versions a person names)."""
    if rollout.spec.challenger is None:
        return status.champions
    return remember(status.champions, status.champion, status.challenger)


def current_champion(rollout: ModelRollout) -> str | None:
    """The version serving as champion now: the promoted challenger after a promotion, else
    the champion of the last rollout (else the spec's)."""
    status = rollout.status
    if status is not None and status.outcome == "promoted" and status.challenger:
        return status.challenger
    if status is not None and status.champion:
        return status.champion
    return rollout.spec.champion.source if rollout.spec.champion else None


def known_versions(rollout: ModelRollout) -> list[str]:
    """Every version known to have served as champion, oldest first."""
    status = rollout.status
    spec_champion = rollout.spec.champion.source if rollout.spec.champion else None
    known = remember(None, spec_champion)
    if status is not None:
        known = remember(known, *(status.champions or []), status.champion)
    return remember(known, current_champion(rollout))


def labels(source: str) -> set[str]:
    """Short names a person may give for a version: ``4`` or ``v4`` for ``models:/fraud/4``,
    the alias of ``models:/fraud@champion``, an image's tag or digest, a run id, a local
    model directory's name. The full source always matches too."""
    if match := re.fullmatch(r"models:/([^/@]+)/(\d+|latest)", source):
        return {match[2], f"v{match[2]}", f"{match[1]}/{match[2]}"}
    if match := re.fullmatch(r"models:/([^/@]+)@(.+)", source):
        return {match[2], f"@{match[2]}"}
    if match := re.fullmatch(r"runs:/([^/]+)/.*", source):
        return {match[1]}
    if re.match(r"https?://", source):
        return set()
    if source.startswith(("/", "./", "../", "~/", "file://")):
        name = source.rstrip("/").rsplit("/", 1)[-1]
        return {name} if name else set()
    last = source.rsplit("/", 1)[-1]
    if "@" in last:
        return {last.split("@", 1)[1]}
    if ":" in last:
        return {last.split(":", 1)[1]}
    return {last}


def resolve(rollout: ModelRollout, wanted: str) -> str:
    """The known version ``wanted`` names (its full source, or a label of exactly one);
    SpecError naming ``--to`` and listing the known versions otherwise."""
    known = known_versions(rollout)
    where = f"{rollout.metadata.namespace or 'default'}/{rollout.name}"
    listed = ", ".join(known) if known else "none"
    if wanted in known:
        return wanted
    hits = [k for k in known if wanted in labels(k)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise SpecError(
            SpecIssue(
                "--to",
                f"{wanted!r} names several versions of {where}: {', '.join(hits)}",
                "give the full version, one of: " + ", ".join(hits),
            )
        )
    raise SpecError(
        SpecIssue(
            "--to",
            f"{wanted!r} was never the champion of {where}; known versions: {listed}",
            "name one of the known versions (the full source, or its version number, tag or alias)",
        )
    )


def rollback_plan(analysis: Analysis) -> Analysis:
    """The short plan of a rollback: one interval at the plan's largest challenger weight and
    a direct switch (A/B: one interval of its first conditions; blue/green: one interval).
    Metrics, webhooks, alerts, thresholds and session affinity are kept; shadow phases,
    warm-up and stepWeightPromotion are dropped, as they only slow a known version down."""
    plan = stages(analysis)
    weight = max((stage.weight for stage in plan), default=0)
    update = dict(_CLEARED_PLAN)
    if weight > 0:
        update |= {"step_weights": [weight], "mirror": False, "mirror_weight": None}
    elif first := next((stage for stage in plan if stage.match), None):
        update |= {"match": list(first.match), "iterations": 1, "mirror": False}
    else:
        update |= {"iterations": 1}
    return analysis.model_copy(update=update)


def version_model(rollout: ModelRollout, source: str) -> ModelVersion:
    """The spec of version ``source``: the champion's or challenger's when it is one of them,
    else the challenger's serving template (image, resources, env) with the source swapped."""
    spec = rollout.spec
    for version in (spec.champion, spec.challenger):
        if version is not None and version.source == source:
            return version
    template = spec.challenger or spec.champion
    assert template is not None  # checked by plan_rollback
    field = {"url": "url", "modelUri": "model_uri", "image": "image"}[template.kind]
    if re.match(r"https?://", source):
        field = "url"
    elif field == "url":
        field = "model_uri"
    data = template.model_dump(exclude_none=True, exclude={"url", "model_uri", "image", "name"})
    return ModelVersion.model_validate({**data, field: source})


def plan_rollback(
    rollout: ModelRollout, wanted: str, by: str, reason: str, now: datetime
) -> tuple[ModelRollout, RollbackRequest]:
    """The rollout that rolls ``rollout`` back to version ``wanted`` and the request it
    carries; SpecError (naming the field and the fix) when it cannot roll back."""
    where = f"{rollout.metadata.namespace or 'default'}/{rollout.name}"
    spec = rollout.spec
    if spec.target_ref is not None or spec.champion is None or spec.challenger is None:
        workload = spec.target_ref.name if spec.target_ref else rollout.name
        raise SpecError(
            SpecIssue(
                "spec.targetRef",
                f"{where} rolls out a workload's revisions (targetRef), not named versions",
                f"roll the workload back (`kubectl rollout undo deployment/{workload}`): the "
                "operator analyses that revision like any other",
            )
        )
    phase = rollout.status.phase if rollout.status is not None else Phase.INITIALIZING
    if not phase.traits.idle_target or phase.traits.active:  # only between rollouts
        raise SpecError(
            SpecIssue(
                "status.phase",
                f"{where} is {phase.value}: a rollout is under way",
                f"wait until it is decided (`modelcanary status {rollout.name}`), or abort it "
                f"first (`modelcanary abort {rollout.name}`)",
            )
        )
    target = resolve(rollout, wanted)
    current = current_champion(rollout)
    if target == current:
        others = [v for v in known_versions(rollout) if v != current]
        raise SpecError(
            SpecIssue(
                "--to",
                f"{target} is already the champion of {where}",
                "name an earlier version: " + (", ".join(others) if others else "none known"),
            )
        )
    assert current is not None  # target is known, so something served
    request = RollbackRequest(target, current, by, reason, format_time(now))
    doc = rollout.to_dict()
    doc.pop("status", None)
    doc["metadata"]["annotations"] = {
        **(rollout.metadata.annotations or {}),
        **request.annotations(),
    }
    doc["spec"] |= {
        "champion": version_model(rollout, current).to_dict(),
        "challenger": version_model(rollout, target).to_dict(),
        "analysis": rollback_plan(spec.analysis).to_dict(),
        "skipAnalysis": False,
        "suspend": False,
    }
    where_from = f"rollback of {where} to {target}"
    return parse_rollout(doc, source=where_from), request


def rollback_entry(
    rollout: ModelRollout, history: Iterable[AnalysisRecord]
) -> AnalysisRecord | None:
    """The history entry of the rollback this rollout carries, when it is starting one (its
    challenger is the requested version) not recorded yet; else None."""
    request = RollbackRequest.of(rollout)
    challenger = rollout.spec.challenger
    if request is None or challenger is None or challenger.source != request.to:
        return None
    if any(r.kind == "rollback" and r.time == request.at for r in history):
        return None
    why = f": {request.reason}" if request.reason else ""
    return AnalysisRecord(
        time=request.at,
        phase=Phase.PROGRESSING,
        verdict="skipped",
        kind="rollback",
        version=request.to,
        requested_by=request.by,
        message=f"rollback to {request.to} (from {request.from_version}) requested by "
        f"{request.by}{why}",
    )
