"""Knative Serving's queue-proxy series: where the built-in SLIs of a ``knative`` rollout come from.

Every Knative revision's pods run a queue-proxy in front of the model server; it exports, per
revision (Knative's "Service metrics" page; ``pkg/queue/request_metric.go`` up to Knative
1.18):

- ``revision_app_request_count``: requests the user container answered (counter), labels
  ``namespace_name``, ``service_name``, ``configuration_name``, ``revision_name``,
  ``pod_name``, ``container_name``, ``response_code``, ``response_code_class``;
- ``revision_app_request_latencies``: their latency histogram in **milliseconds**
  (``..._bucket{le}``), the same labels.

The champion and the challenger are two revisions of one Service, told apart by
``revision_name`` (and ``namespace_name``). The Knative workloads make a rollout's revision
the revision's name (``status.latestCreatedRevisionName``), so the status names both: the
challenger is ``lastAppliedSpec``, the champion ``lastPromotedSpec`` (the challenger once
``promoted``). A status without them (before initialisation) matches nothing: the analysis
gets NoData, never a number from the wrong series.

Knative 1.19+ exports OpenTelemetry instead (``kn_serving_invocation_duration_seconds``, the
revision as a resource attribute): use custom queries there (docs/routers.md, Knative).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analysis._measurements import Side
from ..spec import ModelRollout
from ..spec._naming import Names

if TYPE_CHECKING:
    from ._schemes import Matchers

KNATIVE_REQUESTS = "revision_app_request_count"
KNATIVE_LATENCY = "revision_app_request_latencies_bucket"
KNATIVE_STATUS_LABEL = "response_code"
KNATIVE_LATENCY_MS = 1.0
"""The latency buckets' ``le`` is in milliseconds."""
KNATIVE_NOTE = "Knative queue-proxy metrics (revision_app_*) by namespace_name and revision_name"
NO_REVISION = "<no revision recorded yet>"
"""``revision_name`` matched before the status names a revision: no series carries it."""


def revisions(rollout: ModelRollout) -> dict[Side, str]:
    """The champion's and the challenger's revision names, from the rollout's status."""
    status = rollout.status
    if status is None:
        return {"champion": NO_REVISION, "challenger": NO_REVISION}
    challenger = status.last_applied_spec or NO_REVISION
    champion = challenger if status.promoted else status.last_promoted_spec or NO_REVISION
    return {"champion": champion, "challenger": challenger}


def knative_sides(n: Names, rollout: ModelRollout) -> dict[Side, Matchers]:
    """Each version's matchers (``_schemes.SideMatchers``): its namespace and revision."""
    from ._schemes import Matcher  # _schemes imports this module: resolved at call time

    return {
        side: (Matcher("namespace_name", n.namespace), Matcher("revision_name", revision))
        for side, revision in revisions(rollout).items()
    }
