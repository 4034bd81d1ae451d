"""Cross-field rules of the ``knative`` router: it rolls out the revisions of one Knative Service.

Knative runs both versions as Revisions of the Service the ``targetRef`` names, so provider
``knative`` needs that targetRef (``serving.knative.dev/v1``, kind ``Service``; Flagger
requires the same), and a Knative Service targetRef needs provider ``knative``: no other
router can split traffic between Knative revisions. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecIssue

if TYPE_CHECKING:
    from ._rollout import ModelRollout

KNATIVE_GROUP = "serving.knative.dev"
_TARGET = "targetRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: my-model}"


def check_knative(rollout: ModelRollout) -> list[SpecIssue]:
    """Issues of a knative rollout, or of a Knative Service targetRef on another router."""
    spec = rollout.spec
    ref = spec.target_ref
    knative_ref = (
        ref is not None and ref.kind == "Service" and ref.api_version.split("/")[0] == KNATIVE_GROUP
    )
    if spec.router.provider != "knative":
        if knative_ref:
            return [
                SpecIssue(
                    "spec.router.provider",
                    f"{spec.router.provider} cannot split traffic between the revisions of "
                    "the Knative Service spec.targetRef names",
                    "set router.provider: knative",
                )
            ]
        return []
    if ref is None:
        return [
            SpecIssue(
                "spec.targetRef",
                "is required with provider knative: it rolls out the revisions of a Knative "
                "Service, not model versions",
                f"add {_TARGET} (and remove spec.champion/spec.challenger)",
            )
        ]
    if not knative_ref:
        return [
            SpecIssue(
                "spec.targetRef",
                f"{ref.api_version} {ref.kind} is not a Knative Service, which provider "
                "knative needs",
                f"use {_TARGET}",
            )
        ]
    return []
