"""Shared pieces of the Flagger conversion: the result type, the note collector, provider names.

Conversion is lossy in places; nothing is dropped silently: every field dropped, approximated
or defaulted becomes a note ``"<path>: <what happened and why>"``. Problems that make the
conversion impossible are collected as :class:`~modelcanary.errors.SpecIssue` and raised
together as one :class:`~modelcanary.errors.ConversionError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import ConversionError, SpecIssue
from ..spec import parse_duration

FLAGGER_GROUP = "flagger.app"
FLAGGER_API_VERSION = f"{FLAGGER_GROUP}/v1beta1"

FLAGGER_TO_ROUTER: dict[str, str] = {
    "istio": "istio",
    "gatewayapi:v1": "gatewayapi",
    "gatewayapi:v1beta1": "gatewayapi",
    "nginx": "nginx",
    "linkerd": "linkerd",
    "smi:v1alpha1": "smi",
    "smi:v1alpha2": "smi",
    "smi:v1alpha3": "smi",
    "osm": "smi",
    "kuma": "kuma",
    "appmesh": "appmesh",
    "appmesh:v1beta2": "appmesh",
    "apisix": "apisix",
    "gloo": "gloo",
    "contour": "contour",
    "skipper": "skipper",
    "traefik": "traefik",
    "kubernetes": "kubernetes",
    "knative": "knative",
}
"""Flagger ``spec.provider`` values and the modelcanary router that drives the same mesh."""

ROUTER_TO_FLAGGER: dict[str, str] = {
    "istio": "istio",
    "gatewayapi": "gatewayapi:v1",
    "nginx": "nginx",
    "linkerd": "linkerd",
    "smi": "smi:v1alpha3",
    "kuma": "kuma",
    "appmesh": "appmesh:v1beta2",
    "apisix": "apisix",
    "gloo": "gloo",
    "contour": "contour",
    "skipper": "skipper",
    "traefik": "traefik",
    "kubernetes": "kubernetes",
    "knative": "knative",
}
"""modelcanary router providers and the Flagger provider written for them."""

UNREPRESENTABLE_FLAGGER_PROVIDERS: dict[str, str] = {}

ALERT_TYPES_IN: dict[str, str] = {
    "slack": "slack",
    "msteams": "msteams",
    "discord": "discord",
    "gchat": "googlechat",
    "rocket": "rocket",
}
"""Flagger AlertProvider types and their modelcanary inline provider type."""
ALERT_TYPES_OUT: dict[str, str] = {v: k for k, v in ALERT_TYPES_IN.items()}

METRIC_PROVIDERS_OUT: dict[str, str] = {
    "prometheus": "prometheus",
    "victoriametrics": "prometheus",
    "datadog": "datadog",
    "cloudwatch": "cloudwatch",
    "stackdriver": "stackdriver",
    "newrelic": "newrelic",
    "graphite": "graphite",
    "influxdb": "influxdb",
    "keptn": "keptn",
    "externalmetrics": "externalmetrics",
}
"""modelcanary metric backends and the Flagger MetricTemplate provider type running the query."""

FLAGGER_DURATION = re.compile(r"^[0-9]+(m|s)")
"""The pattern Flagger's CRD puts on intervals and timeouts."""
DEFAULT_METRIC_INTERVAL = "1m"
"""Flagger's window for a metric without ``interval`` (modelcanary's is the analysis interval)."""


@dataclass(frozen=True)
class Conversion:
    """The result of a conversion: the YAML documents and what changed on the way."""

    documents: list[dict[str, Any]]
    """ModelRollout; or Canary followed by the MetricTemplates and AlertProviders it refers to."""
    notes: list[str]
    """Human notes, ``path: text``: every field dropped, approximated or defaulted."""


class Notes:
    """Collects notes and blocking issues while a document is converted."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.issues: list[SpecIssue] = []

    def add(self, path: str, text: str) -> None:
        """Record a change: ``path`` is where it happened, ``text`` what and why."""
        self.notes.append(f"{path}: {text}")

    def issue(self, path: str, message: str, hint: str) -> None:
        """Record a problem that makes the conversion impossible."""
        self.issues.append(SpecIssue(path, message, hint))

    def leftover(
        self,
        obj: Mapping[str, Any],
        path: str,
        used: Collection[str],
        why: Mapping[str, str] | None = None,
    ) -> None:
        """Note every key of ``obj`` not in ``used`` as dropped (with ``why[key]`` if known)."""
        for key in obj:
            if key not in used:
                reason = (why or {}).get(key, "unknown field, not converted")
                self.add(f"{path}.{key}" if path else str(key), f"dropped: {reason}")

    def section(self, value: Any, path: str) -> Mapping[str, Any]:
        """``value`` as a mapping; anything else but null is an issue naming ``path`` (never
        silently turned into ``{}``, which would drop what the author wrote)."""
        if isinstance(value, Mapping):
            return value
        if value is not None:
            name = path.rsplit(".", 1)[-1]
            self.issue(
                path,
                f"is {describe(value)}, not a mapping (a YAML object)",
                f"write {name} as indented 'key: value' lines (see Flagger's Canary reference)",
            )
        return {}

    def raise_issues(self, source: str) -> None:
        """Raise every issue collected so far as one ConversionError."""
        if self.issues:
            raise ConversionError(self.issues, source=source)


def describe(value: Any) -> str:
    """``a str ('abc')``: the kind of a YAML value, for messages (cut short)."""
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:35] + "..." + shown[-2:]
    return f"a {type(value).__name__} ({shown})"


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (shape errors surface in validation)."""
    return value if isinstance(value, Mapping) else {}


def dump(model: BaseModel) -> dict[str, Any]:
    """Plain data with YAML names: only the fields the author set, without None."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


def given(model: BaseModel, name: str) -> bool:
    """True when field ``name`` was written by the author or differs from its default."""
    if name in model.model_fields_set:
        return True
    field = type(model).model_fields[name]
    return bool(getattr(model, name) != field.get_default(call_default_factory=True))


def alias(model: type[BaseModel], name: str) -> str:
    """The YAML name of a spec field (e.g. ``step_weights`` -> ``stepWeights``)."""
    return model.model_fields[name].alias or name


def flagger_duration(value: str, path: str, notes: Notes) -> str:
    """``value`` in a form Flagger's CRD accepts (``^[0-9]+(m|s)``), noting any rewrite."""
    if FLAGGER_DURATION.match(value):
        return value
    seconds = parse_duration(value)
    whole = max(1, math.ceil(seconds))
    text = f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"
    rounded = " (rounded up to whole seconds)" if whole != seconds else ""
    notes.add(path, f"{value!r} written as {text!r}{rounded}: Flagger takes seconds or minutes")
    return text


def k8s_name(*parts: str) -> str:
    """A Kubernetes object name built from ``parts`` (lowercase, ``-`` separated)."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return text[:253].rstrip("-") or "generated"


def tidy(value: Any) -> Any:
    """Write whole floats as integers (``99.0`` -> ``99``) so YAML reads as a person wrote it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy(v) for v in value]
    return value
