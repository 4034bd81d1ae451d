"""ModelRollout metrics and alerts -> Flagger metrics/alerts, MetricTemplates and AlertProviders."""

from __future__ import annotations

import re
from typing import Any

from ..spec import BUILTIN_METRICS, Alert, Analysis, MetricSpec, ModelRollout, parse_duration
from ..spec import _catalogue as catalogue
from ._common import (
    ALERT_TYPES_OUT,
    DEFAULT_METRIC_INTERVAL,
    FLAGGER_API_VERSION,
    METRIC_PROVIDERS_OUT,
    Notes,
    alias,
    dump,
    flagger_duration,
    given,
    k8s_name,
)

BASE = "spec.analysis"
FLAGGER_BUILTINS = catalogue.FLAGGER_BUILTINS
EQUIVALENTS = catalogue.FLAGGER_EQUIVALENTS
"""modelcanary SLIs that Flagger computes under another name (and unit)."""
NOT_IN_FLAGGER = {
    "judge": "Flagger compares the value with thresholdRange (a plain threshold check)",
    "alpha": "Flagger has no statistical judge",
    "comparison": "Flagger checks absolute values only",
    "critical": "every failed Flagger check counts towards threshold",
    "weight": "Flagger has no weighted score",
    "group": "Flagger has no metric groups",
    "method": "Flagger has no prediction-drift SLI",
    "tolerance": "Flagger has no prediction-agreement SLI",
    "no_data": "Flagger always counts a metric without data as a failed check",
    "allowed_increase": "Flagger has no mann-whitney judge",
    "allowed_decrease": "Flagger has no mann-whitney judge",
}
_VARIABLE = re.compile(r"\{\{\s*variables\.(\w+)\s*\}\}")


def metrics_to_flagger(
    rollout: ModelRollout, notes: Notes
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flagger metrics, plus a MetricTemplate for each custom query that names its provider."""
    analysis = rollout.spec.analysis
    taken = {m.name for m in analysis.metrics if m.is_builtin and m.name in FLAGGER_BUILTINS}
    out: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    for i, metric in enumerate(analysis.metrics):
        item = _metric(metric, f"{BASE}.metrics[{i}]", rollout, taken, docs, notes)
        if item is not None:
            out.append(item)
    return out, docs


def _metric(
    m: MetricSpec,
    path: str,
    rollout: ModelRollout,
    taken: set[str],
    docs: list[dict[str, Any]],
    notes: Notes,
) -> dict[str, Any] | None:
    if m.relative_to is not None:
        notes.add(
            path,
            f"dropped: {m.name} compares the challenger with the champion "
            "(relativeTo); Flagger checks absolute values only",
        )
        return None
    rng = m.effective_range()
    if rng is None:
        notes.add(path, f"dropped: {m.name} has no absolute thresholdRange, which Flagger needs")
        return None
    item: dict[str, Any] = {"name": m.name}
    bounds: dict[str, float] = dump(rng)
    if m.is_builtin and m.name not in FLAGGER_BUILTINS:
        equivalent = EQUIVALENTS.get(m.name)
        if equivalent is None or equivalent in taken:
            notes.add(
                path,
                f"dropped: {m.name} ({BUILTIN_METRICS[m.name]}) is a modelcanary SLI "
                "Flagger does not compute; add a MetricTemplate with a query for it",
            )
            return None
        taken.add(equivalent)
        item["name"] = equivalent
        if m.name == "error-rate":  # fraction failed -> percent succeeded: bounds swap
            bounds = {
                ("max" if k == "min" else "min"): round(100 * (1 - v), 9) for k, v in bounds.items()
            }
        notes.add(
            path,
            f"{m.name} {_bounds(dump(rng))} approximated by Flagger's {equivalent} "
            f"{_bounds(bounds)}",
        )
    elif m.template_ref is not None:
        item["templateRef"] = dump(m.template_ref)
    elif m.query is not None and m.provider is None:
        item["query"] = _substitute(m, path, notes)
    elif m.query is not None:
        name = _template(m, path, rollout, docs, notes)
        if name is None:
            return None
        item["templateRef"] = {"name": name}
    if m.template_variables and "templateRef" in item:
        item["templateVariables"] = dict(m.template_variables)
    if m.interval is not None:
        item["interval"] = flagger_duration(m.interval, f"{path}.interval", notes)
    elif (value := default_interval(rollout.spec.analysis, f"{path}.interval", notes)) is not None:
        item["interval"] = value
    if m.threshold is not None and m.threshold_range is None and item["name"] == m.name:
        item["threshold"] = m.threshold  # Flagger reads the deprecated form the same way
    else:
        item["thresholdRange"] = bounds
    for field, why in NOT_IN_FLAGGER.items():
        if given(m, field) and not (field == "judge" and m.judge == "threshold"):
            notes.add(f"{path}.{alias(MetricSpec, field)}", f"dropped: {why}")
    return item


def default_interval(analysis: Analysis, path: str, notes: Notes) -> str | None:
    """The window for a metric without one: modelcanary's is the analysis interval."""
    if parse_duration(analysis.interval) == parse_duration(DEFAULT_METRIC_INTERVAL):
        return None
    value = flagger_duration(analysis.interval, path, Notes())  # rewrite noted on the analysis
    notes.add(
        path,
        f"not set; wrote the analysis interval {value} (Flagger's default window "
        f"is {DEFAULT_METRIC_INTERVAL})",
    )
    return value


def _bounds(bounds: dict[str, float]) -> str:
    return " ".join(f"{k} {v:g}" for k, v in bounds.items())


def _substitute(m: MetricSpec, path: str, notes: Notes) -> str:
    """An inline query with its templateVariables filled in (Flagger only fills templates)."""
    query = m.query or ""
    variables = m.template_variables or {}
    if variables:
        query = _VARIABLE.sub(lambda v: variables.get(v.group(1), v.group(0)), query)
        notes.add(f"{path}.templateVariables", "substituted into the inline query")
    return query


def _template(
    m: MetricSpec, path: str, rollout: ModelRollout, docs: list[dict[str, Any]], notes: Notes
) -> str | None:
    """Write a MetricTemplate for a query with its own provider; return its name."""
    provider = m.provider
    assert provider is not None and m.query is not None
    ptype = METRIC_PROVIDERS_OUT.get(provider.type)
    if ptype is None:
        notes.add(
            path, f"dropped: its provider {provider.type!r} has no Flagger MetricTemplate type"
        )
        return None
    if ptype != provider.type:
        notes.add(
            f"{path}.provider.type",
            f"{provider.type!r} written as {ptype!r} (Prometheus-compatible query API)",
        )
    spec = {"type": ptype, **{k: v for k, v in dump(provider).items() if k != "type"}}
    secret = provider.secret_ref
    if secret is not None and secret.env is not None:
        del spec["secretRef"]
        notes.add(
            f"{path}.provider.secretRef.env",
            "dropped: Flagger reads credentials from a Kubernetes Secret (secretRef.name)",
        )
    name = _unique(k8s_name(rollout.name, m.name), docs)
    docs.append(_document("MetricTemplate", name, rollout, {"provider": spec, "query": m.query}))
    notes.add(
        f"{path}.query",
        f"moved with its provider to MetricTemplate {name} (written "
        "alongside), referenced by templateRef",
    )
    return name


def alerts_to_flagger(
    rollout: ModelRollout, notes: Notes
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flagger alerts, plus an AlertProvider for each inline provider."""
    out: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    for i, alert in enumerate(rollout.spec.analysis.alerts):
        path = f"{BASE}.alerts[{i}]"
        item: dict[str, Any] = {"name": alert.name}
        if given(alert, "severity"):
            item["severity"] = alert.severity
        if alert.provider_ref is not None:
            ref = alert.provider_ref
            item["providerRef"] = {k: ref[k] for k in ("name", "namespace") if k in ref}
            notes.leftover(ref, f"{path}.providerRef", ("name", "namespace"))
        else:
            name = _alert_provider(alert, path, rollout, docs, notes)
            if name is None:
                continue
            item["providerRef"] = {"name": name}
        out.append(item)
    return out, docs


def _alert_provider(
    alert: Alert, path: str, rollout: ModelRollout, docs: list[dict[str, Any]], notes: Notes
) -> str | None:
    provider = alert.provider
    assert provider is not None
    kind = ALERT_TYPES_OUT.get(provider.type)
    if kind is None:
        notes.add(path, f"dropped: Flagger AlertProviders have no {provider.type!r} type")
        return None
    spec: dict[str, Any] = {"type": kind}
    spec.update({k: v for k in ("channel", "username", "proxy") if (v := getattr(provider, k))})
    secret = provider.secret_ref
    if secret is not None and secret.env is not None:
        notes.add(f"{path}.provider.secretRef.env", "dropped: Flagger reads a Kubernetes Secret")
    if secret is not None and secret.name is not None:
        spec["secretRef"] = {"name": secret.name}
        if provider.address:
            notes.add(
                f"{path}.provider.address",
                "dropped: Flagger takes the address from the secret (its CRD allows one of them)",
            )
    elif provider.address:
        spec["address"] = provider.address
    else:
        notes.add(path, "dropped: a Flagger AlertProvider needs an address or a Secret")
        return None
    name = _unique(k8s_name(rollout.name, alert.name), docs)
    docs.append(_document("AlertProvider", name, rollout, spec))
    notes.add(
        f"{path}.provider",
        f"written as AlertProvider {name} (alongside), referenced by providerRef",
    )
    return name


def _unique(name: str, docs: list[dict[str, Any]]) -> str:
    used = {d["metadata"]["name"] for d in docs}
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _document(kind: str, name: str, rollout: ModelRollout, spec: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if rollout.metadata.namespace:
        metadata["namespace"] = rollout.metadata.namespace
    return {"apiVersion": FLAGGER_API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}
