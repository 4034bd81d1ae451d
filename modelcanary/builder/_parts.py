"""Spec fragments from builder keyword arguments: versions, service, webhooks, alerts, providers.

Each function turns friendly Python arguments into the YAML-shaped data of one fragment
(camelCase keys), leaving validation to the spec models so paths and messages match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelcanary.spec import ModelVersion, Pricing
from modelcanary.spec._versions import version_from

from ._util import as_list, drop_none, fail, validated

SERVICE_OPTIONS = (
    "name",
    "port",
    "target_port",
    "port_name",
    "hosts",
    "gateways",
    "gateway_refs",
    "ingress_ref",
    "timeout",
    "retries",
    "headers",
)
"""Keyword arguments of ``Rollout.service`` (also accepted by ``Rollout.router``)."""


def version(
    side: str,
    source: str | ModelVersion | None,
    image: str | None,
    url: str | None = None,
    **opts: Any,
) -> Any:
    """A champion/challenger: a ``http(s)://`` source is a url, any other string a modelUri;
    ``url=`` names the url explicitly (not with a positional source)."""
    if url is not None:
        if source is not None:
            fail(
                f"spec.{side}.url",
                "cannot be combined with a positional source",
                f"write {side}(url='http://...') or {side}('http://...'), not both",
            )
        return {"url": url} | drop_none(image=image, **opts)
    if isinstance(source, ModelVersion):
        if image is not None:
            fail(
                f"spec.{side}.image",
                "cannot be combined with a ModelVersion source",
                "set the image on the ModelVersion, or pass image= alone",
            )
        return source.to_dict() | drop_none(**opts)
    if source is not None and not isinstance(source, str):
        fail(
            f"spec.{side}",
            f"expected a model URI or URL string, got {type(source).__name__}",
            "e.g. 'models:/fraud@champion', 'http://127.0.0.1:5001' or image='repo/img:tag'",
        )
    data: dict[str, Any] = dict(version_from(source)) if source is not None else {}
    return data | drop_none(image=image, **opts)


def llm_options(side: str, protocol: str | None, pricing: Any) -> dict[str, Any]:
    """``protocol`` and ``pricing`` of a version (YAML names), validated at ``spec.<side>``."""
    out: dict[str, Any] = drop_none(protocol=protocol)
    if isinstance(pricing, Mapping):  # python names (input_per_1k) -> YAML names in errors
        aliases = {n: f.alias or n for n, f in Pricing.model_fields.items()}
        pricing = {aliases.get(k, k): v for k, v in pricing.items()}
    if pricing is not None:
        out["pricing"] = validated(Pricing, pricing, ("spec", side, "pricing")).to_dict()
    return out


def _gateway_ref(ref: Any) -> Any:
    """``"ns/name"`` or ``"name"`` -> a GatewayRef mapping (other values go to validation)."""
    if isinstance(ref, str):
        namespace, _, name = ref.rpartition("/")
        return drop_none(name=name, namespace=namespace or None)
    return ref


def service(current: Mapping[str, Any], **opts: Any) -> dict[str, Any]:
    """The service fields: ``current`` overlaid with the given options (None = unchanged)."""
    unknown = sorted(set(opts) - set(SERVICE_OPTIONS))
    if unknown:
        fail(
            "spec.service",
            f"unknown option(s) {', '.join(unknown)}",
            f"use {', '.join(SERVICE_OPTIONS)}",
        )
    hosts, gateways, refs = opts.get("hosts"), opts.get("gateways"), opts.get("gateway_refs")
    ingress, retries = opts.get("ingress_ref"), opts.get("retries")
    if isinstance(ingress, str):
        ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": ingress}
    if isinstance(retries, int) and not isinstance(retries, bool):
        retries = {"attempts": retries}
    updates = drop_none(
        name=opts.get("name"),
        port=opts.get("port"),
        targetPort=opts.get("target_port"),
        portName=opts.get("port_name"),
        hosts=[hosts] if isinstance(hosts, str) else hosts,
        gateways=[gateways] if isinstance(gateways, str) else gateways,
        gatewayRefs=None
        if refs is None
        else [
            _gateway_ref(r)
            for r in (
                [refs]
                if isinstance(refs, str)
                else as_list(refs, "spec.service.gatewayRefs", "['gw-ns/gw']")
            )
        ],
        ingressRef=ingress,
        timeout=opts.get("timeout"),
        retries=retries,
        headers=opts.get("headers"),
    )
    return dict(current) | updates


def secret(env: str | None, name: str | None) -> dict[str, str] | None:
    """A SecretRef mapping from an environment variable or Kubernetes Secret name, if any."""
    return drop_none(env=env, name=name) or None


def alert(
    name: str,
    provider: str | None,
    *,
    severity: str,
    ref: str | None,
    namespace: str | None,
    **inline: Any,
) -> dict[str, Any]:
    """An alert with an inline ``provider`` (``"slack"``...) or a Flagger AlertProvider ``ref``."""
    given = drop_none(**inline)
    if provider is None and given:
        fail(
            "spec.analysis.alerts",
            f"{', '.join(sorted(given))} need provider=",
            "e.g. alert('on-call', 'slack', channel='#ml', secret_env='SLACK_URL')",
        )
    return drop_none(
        name=name,
        severity=severity,
        providerRef=None if ref is None else drop_none(name=ref, namespace=namespace),
        provider=None if provider is None else {"type": provider, **given},
    )


def webhook(name: str, url: str, kind: str, **opts: Any) -> dict[str, Any]:
    """A Flagger webhook mapping (timeout, retries, metadata and flags only when given)."""
    metadata = opts.pop("metadata", None)
    if metadata is not None and not isinstance(metadata, Mapping):
        fail(
            "spec.analysis.webhooks",
            "metadata must be a mapping of strings",
            "e.g. metadata={'cmd': 'hey -z 1m http://fraud-canary/'}",
        )
    return drop_none(
        name=name,
        url=url,
        type=kind,
        metadata=None if metadata is None else dict(metadata),
        **opts,
    )
