"""Flagger ``spec.analysis`` -> ModelRollout ``spec.analysis``: plan, matches, metrics, alerts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..spec import PROVIDER_TYPES, parse_duration
from ..spec._catalogue import threshold_bound
from ._common import ALERT_TYPES_IN, DEFAULT_METRIC_INTERVAL, Notes, mapping

# fmt: off
COPIED = (
    "interval", "threshold", "maxWeight", "stepWeight", "stepWeights", "stepWeightPromotion",
    "iterations", "mirror", "mirrorWeight", "primaryReadyThreshold", "canaryReadyThreshold",
    "sessionAffinity",
)
# fmt: on
MATCH_FIELDS = ("headers", "queryParams", "sourceLabels")
METRIC_FIELDS = ("name", "interval", "thresholdRange", "query", "templateVariables")
PROVIDER_FIELDS = ("type", "address", "secretRef", "region", "insecureSkipVerify", "headers")
MATCH_WHY = "modelcanary A/B matches use headers, cookies, query parameters and source labels"
# fmt: off
AFFINITY_FIELDS = (
    "cookieName", "primaryCookieName", "maxAge", "domain", "path", "httpOnly", "secure",
    "sameSite", "partitioned",
)
WEBHOOK_FIELDS = (
    "name", "type", "url", "timeout", "retries", "muteAlert", "disableTLS", "metadata",
)
# fmt: on
ALERT_PROVIDER_COPIED = ("address", "channel", "username", "proxy")
ALERT_PROVIDER_FIELDS = ("type", *ALERT_PROVIDER_COPIED, "secretRef")
QUERY_VARIABLES = frozenset({"namespace", "target", "interval", "variables"})
"""Variables modelcanary documents for query templates (Flagger also has name/service/ingress)."""
_VARIABLE = re.compile(r"\{\{\s*\.?([A-Za-z_]\w*)")
_COOKIE_NOTE = (
    "kept as a header regex: a regex over the raw Cookie header is not exactly a cookie match "
    "(it sees the separators, the spaces browsers put after ';', every duplicate), so it is not "
    "turned into match[].cookies"
)


@dataclass(frozen=True)
class Context:
    """What converting the analysis needs besides the analysis itself."""

    namespace: str | None
    templates: Mapping[tuple[str | None, str], Mapping[str, Any]]
    alert_providers: Mapping[tuple[str | None, str], Any]
    notes: Notes

    def find(self, docs: Mapping[tuple[str | None, str], Any], namespace: Any, name: str) -> Any:
        """The document ``namespace/name``; one without a namespace is in the Canary's."""
        found = docs.get((namespace, name))
        if found is None and namespace == self.namespace:
            found = docs.get((None, name))
        return found


def analysis_from_flagger(raw: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The ModelRollout analysis for a Flagger analysis (notes in ``ctx.notes``)."""
    notes, base = ctx.notes, "spec.analysis"
    out: dict[str, Any] = {k: raw[k] for k in COPIED if k in raw}
    for key, default in (("interval", "1m"), ("threshold", "1")):
        if key not in raw:
            notes.add(f"{base}.{key}", f"not set; {default} (Flagger's and modelcanary's default)")
    if "mirrorWeight" in out and not raw.get("mirror"):
        del out["mirrorWeight"]
        notes.add(f"{base}.mirrorWeight", "dropped: mirror is off, so Flagger ignores it")
    weighted = bool(raw.get("stepWeight") or raw.get("stepWeights"))
    if raw.get("mirror") and weighted and not raw.get("iterations"):
        out["shadow"] = {"iterations": 1}
        notes.add(
            f"{base}.shadow",
            "set to {iterations: 1}: with mirror, a Flagger canary mirrors "
            "traffic for one interval before shifting weight",
        )
    if "sessionAffinity" in raw:
        affinity = notes.section(raw["sessionAffinity"], f"{base}.sessionAffinity")
        out["sessionAffinity"] = {k: affinity[k] for k in AFFINITY_FIELDS if k in affinity}
        notes.leftover(affinity, f"{base}.sessionAffinity", AFFINITY_FIELDS)
    if "match" in raw:
        out["match"] = _matches(_items(raw, "match", notes), notes)
    interval = str(raw.get("interval", "1m"))
    if "metrics" in raw:
        out["metrics"] = [_metric(m, i, interval, ctx) for i, m in _items(raw, "metrics", notes)]
    if "webhooks" in raw:
        out["webhooks"] = [_webhook(w, i, notes) for i, w in _items(raw, "webhooks", notes)]
    if "alerts" in raw:
        out["alerts"] = [_alert(a, i, ctx) for i, a in _items(raw, "alerts", notes)]
    notes.leftover(raw, base, (*COPIED, "match", "metrics", "webhooks", "alerts"))
    return out


def _items(raw: Mapping[str, Any], key: str, notes: Notes) -> list[tuple[int, Any]]:
    """The numbered items of the list ``raw[key]`` (an issue if it is not a list)."""
    value = raw[key]
    if value is None:
        return []
    if not isinstance(value, list):
        notes.issue(
            f"spec.analysis.{key}",
            f"is a {type(value).__name__}, not a list",
            f"write {key} as a YAML list (items starting with '-')",
        )
        return []
    return list(enumerate(value))


def _seconds(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None  # reported by the ModelRollout validation


def _matches(items: list[tuple[int, Any]], notes: Notes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, cond in items:
        path = f"spec.analysis.match[{i}]"
        cond = notes.section(cond, path)
        converted = {k: cond[k] for k in MATCH_FIELDS if cond.get(k)}
        for name, match in notes.section(cond.get("headers"), f"{path}.headers").items():
            if str(name).lower() == "cookie" and "regex" in mapping(match):
                notes.add(f"{path}.headers.{name}", _COOKIE_NOTE)
        notes.leftover(cond, path, MATCH_FIELDS, {k: MATCH_WHY for k in cond})
        if converted:
            out.append(converted)
        else:
            notes.add(path, "dropped: nothing representable left in this condition")
    return out


def _metric(raw: Any, i: int, interval: str, ctx: Context) -> dict[str, Any]:
    notes, path = ctx.notes, f"spec.analysis.metrics[{i}]"
    metric = notes.section(raw, path)
    out = {k: metric[k] for k in METRIC_FIELDS if k in metric}
    name = str(metric.get("name", ""))
    if "threshold" in metric:
        if "thresholdRange" in metric:
            notes.add(f"{path}.threshold", "dropped: Flagger ignores it when thresholdRange is set")
        else:
            bound = threshold_bound(name)
            out["thresholdRange"] = {bound: metric["threshold"]}
            notes.add(
                f"{path}.threshold",
                f"deprecated form {metric['threshold']} became "
                f"{path}.thresholdRange.{bound} (as Flagger's scheduler reads it)",
            )
    if "templateRef" in metric:
        out.update(
            _template(notes.section(metric["templateRef"], f"{path}.templateRef"), path, ctx)
        )
    if "interval" not in metric and _seconds(interval) not in (60, None):
        out["interval"] = DEFAULT_METRIC_INTERVAL
        notes.add(
            f"{path}.interval",
            f"set to {DEFAULT_METRIC_INTERVAL}, Flagger's default "
            "metric window (modelcanary's default is the analysis interval)",
        )
    if "query" in out:
        _check_variables(str(out["query"]), f"{path}.query", notes)
    notes.leftover(metric, path, (*METRIC_FIELDS, "threshold", "templateRef"))
    return out


def _template(ref: Mapping[str, Any], path: str, ctx: Context) -> dict[str, Any]:
    """Inline the referenced MetricTemplate as query + provider, else keep the templateRef."""
    kept = {k: ref[k] for k in ("name", "namespace") if k in ref}
    namespace = ref.get("namespace") or ctx.namespace
    name = str(ref.get("name", ""))
    template = ctx.find(ctx.templates, namespace, name)
    ctx.notes.leftover(ref, f"{path}.templateRef", ("name", "namespace"))
    if template is None:
        return {"templateRef": kept}
    where = f"{path}.templateRef"
    inline = inline_template(template)
    if isinstance(inline, str):
        ctx.notes.add(where, f"MetricTemplate {name} kept as a reference, not inlined: {inline}")
        return {"templateRef": kept}
    ctx.notes.add(where, f"MetricTemplate {namespace or ''}/{name} inlined as query and provider")
    ctx.notes.leftover(
        mapping(template.get("spec")), f"MetricTemplate {name}.spec", ("provider", "query")
    )
    return inline


def inline_template(template: Mapping[str, Any]) -> dict[str, Any] | str:
    """A Flagger MetricTemplate as a metric's ``{query, provider}`` (camelCase), or why not.

    Used by the converter and by the operator, which resolves ``templateRef`` in the cluster.
    """
    spec = mapping(template.get("spec"))
    provider = mapping(spec.get("provider"))
    reason = _not_inlinable(provider, spec.get("query"))
    if reason:
        return reason
    inline = {k: provider[k] for k in PROVIDER_FIELDS if k in provider and k != "secretRef"}
    if "secretRef" in provider:
        inline["secretRef"] = {"name": mapping(provider["secretRef"]).get("name")}
    return {"query": spec["query"], "provider": inline}


def _not_inlinable(provider: Mapping[str, Any], query: Any) -> str:
    """Why a MetricTemplate cannot become an inline query + provider ("" when it can)."""
    extra = sorted(set(provider) - set(PROVIDER_FIELDS))
    extra += sorted(f"secretRef.{k}" for k in set(mapping(provider.get("secretRef"))) - {"name"})
    if provider.get("type") not in PROVIDER_TYPES:
        return f"provider type {provider.get('type')!r} has no modelcanary equivalent"
    if extra:
        return f"provider field(s) {', '.join(extra)} have no modelcanary field"
    return "" if isinstance(query, str) else "the template has no query"


def _check_variables(query: str, path: str, notes: Notes) -> None:
    unknown = sorted({v for v in _VARIABLE.findall(query)} - QUERY_VARIABLES)
    if unknown:
        notes.add(
            path,
            f"uses {', '.join(unknown)}: Flagger template variable(s) that "
            "modelcanary does not document ({{ namespace }}, {{ target }}, "
            "{{ interval }}, {{ variables.X }}); check the query",
        )


def _webhook(raw: Any, i: int, notes: Notes) -> dict[str, Any]:
    path = f"spec.analysis.webhooks[{i}]"
    hook = notes.section(raw, path)
    out = {k: hook[k] for k in WEBHOOK_FIELDS if k in hook}
    if out.get("type") == "":
        del out["type"]
        notes.add(f"{path}.type", "empty: read as rollout (as Flagger does)")
    notes.leftover(hook, path, WEBHOOK_FIELDS)
    return out


def _alert(raw: Any, i: int, ctx: Context) -> dict[str, Any]:
    notes, path = ctx.notes, f"spec.analysis.alerts[{i}]"
    alert = notes.section(raw, path)
    out = {k: alert[k] for k in ("name", "severity") if k in alert}
    if out.get("severity") == "":
        del out["severity"]
        notes.add(f"{path}.severity", "empty: read as info (as Flagger does)")
    ref = notes.section(alert.get("providerRef"), f"{path}.providerRef")
    out["providerRef"] = {k: ref[k] for k in ("name", "namespace") if k in ref}
    notes.leftover(ref, f"{path}.providerRef", ("name", "namespace"))
    notes.leftover(alert, path, ("name", "severity", "providerRef"))
    name = str(ref.get("name", ""))
    namespace = ref.get("namespace") or ctx.namespace
    doc = ctx.find(ctx.alert_providers, namespace, name)
    if doc is None:
        return out
    spec = mapping(mapping(doc).get("spec"))
    kind = ALERT_TYPES_IN.get(str(spec.get("type")))
    extra = sorted(set(spec) - set(ALERT_PROVIDER_FIELDS))
    extra += sorted(f"secretRef.{k}" for k in set(mapping(spec.get("secretRef"))) - {"name"})
    if kind is None or extra:
        reason = (
            f"type {spec.get('type')!r} has no modelcanary equivalent"
            if kind is None
            else f"field(s) {', '.join(extra)} have no modelcanary field"
        )
        notes.add(f"{path}.providerRef", f"AlertProvider {name} kept as a reference: {reason}")
        return out
    provider = {k: spec[k] for k in ALERT_PROVIDER_COPIED if k in spec}
    if "secretRef" in spec:
        provider["secretRef"] = {"name": mapping(spec["secretRef"]).get("name")}
    del out["providerRef"]
    out["provider"] = {"type": kind, **provider}
    notes.add(f"{path}.providerRef", f"AlertProvider {namespace or ''}/{name} inlined as provider")
    return out
