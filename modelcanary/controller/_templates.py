"""Flagger MetricTemplates referenced by ``metrics[].templateRef``, resolved in the cluster.

A migrated Flagger Canary keeps ``templateRef`` when its MetricTemplate was not converted
alongside (``modelcanary convert --from flagger``). The operator reads the template
(``flagger.app/v1beta1``) from the rollout's namespace, or the one the reference names, at
every query, so an edited template applies from the next interval, and turns it into the
metric's ``query`` + ``provider`` exactly as the converter inlines it. A missing or
unrepresentable template is a ``SpecError`` naming the reference and the fix: the rollout
gets the ``SpecValid=False`` condition and never promotes on a query it cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..convert._from_flagger_analysis import inline_template
from ..errors import SpecError, SpecIssue
from ..spec import MetricSpec, ModelRollout

TEMPLATE_API = "flagger.app/v1beta1"
TEMPLATE_KIND = "MetricTemplate"

Fetch = Callable[[str, str], dict[str, Any] | None]
"""(namespace, name) -> the MetricTemplate object, or None when it does not exist."""


def resolve_template(metric: MetricSpec, rollout: ModelRollout, fetch: Fetch) -> MetricSpec:
    """``metric`` with its ``templateRef`` replaced by the template's query and provider."""
    ref = metric.template_ref
    if ref is None:
        return metric
    namespace = ref.namespace or rollout.metadata.namespace or "default"
    path = f"spec.analysis.metrics[{metric.name}].templateRef"
    template = fetch(namespace, ref.name)
    if template is None:
        raise SpecError(
            SpecIssue(
                path,
                f"MetricTemplate {namespace}/{ref.name} does not exist",
                f"kubectl apply the MetricTemplate in namespace {namespace}, or inline it: "
                "modelcanary convert --from flagger canary.yaml metrictemplate.yaml",
            )
        )
    inline = inline_template(template)
    if isinstance(inline, str):
        raise SpecError(
            SpecIssue(
                path,
                f"MetricTemplate {namespace}/{ref.name} cannot be used: {inline}",
                "give the metric a query and provider modelcanary can run (docs/providers.md)",
            )
        )
    fields = metric.model_dump(by_alias=True, exclude_none=True, exclude={"template_ref"})
    return MetricSpec.model_validate({**fields, **inline})
