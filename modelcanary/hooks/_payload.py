"""Flagger's webhook wire format: the JSON body, event metadata, and safe URLs for messages.

The body reproduces what Flagger's controller sends (``pkg/controller/webhook.go``
``CallWebhook``/``CallEventWebhook`` marshalling ``v1beta1.CanaryWebhookPayload``, fluxcd/flagger):

    {"name": ..., "namespace": ..., "phase": ..., "checksum": ..., "metadata": {...}}

in that key order, compact, with ``metadata`` left out when empty (Go ``omitempty``), map keys
sorted and ``<``, ``>``, ``&`` escaped as Go's ``encoding/json`` does. There is no ``type`` key:
Flagger does not send the webhook type, so ``WebhookPayload.type`` stays on our side.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..ports import WebhookPayload
from ..spec import Webhook

# Go's json.Marshal escapes these for safe embedding in HTML; they only occur inside strings.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def merged_metadata(hook: Webhook, payload: WebhookPayload) -> dict[str, str]:
    """The metadata Flagger would send: the hook's, overridden by the payload's own keys.

    For ``event`` webhooks the payload carries ``eventMessage``/``eventType``/``timestamp`` and
    those win over the hook's metadata, as in Flagger's ``CallEventWebhook``; other webhooks
    send the hook's metadata unchanged (the payload normally has none).
    """
    merged = dict(hook.metadata or {})
    merged.update(payload.metadata)
    return merged


def payload_dict(hook: Webhook, payload: WebhookPayload) -> dict[str, object]:
    """The JSON object Flagger posts, as a dict in Flagger's key order."""
    body: dict[str, object] = {
        "name": payload.name,
        "namespace": payload.namespace,
        "phase": payload.phase,
        "checksum": payload.checksum,
    }
    metadata = merged_metadata(hook, payload)
    if metadata:  # Go: `json:"metadata,omitempty"`
        body["metadata"] = dict(sorted(metadata.items()))
    return body


def encode_payload(hook: Webhook, payload: WebhookPayload) -> bytes:
    """The exact request body: compact UTF-8 JSON, byte-compatible with Go's ``json.Marshal``."""
    text = json.dumps(payload_dict(hook, payload), separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def event_metadata(message: str, event_type: str, now_ms: int | None = None) -> dict[str, str]:
    """Metadata of an ``event`` webhook: ``eventMessage``, ``eventType``, ``timestamp`` (unix ms).

    ``event_type`` is Kubernetes' event type (``Normal`` or ``Warning``) in Flagger.
    """
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    return {"eventMessage": message, "eventType": event_type, "timestamp": str(stamp)}


def event_payload(
    name: str,
    namespace: str,
    phase: str,
    checksum: str,
    message: str,
    event_type: str = "Normal",
    now_ms: int | None = None,
) -> WebhookPayload:
    """A payload for an ``event`` webhook (the hook's own metadata is merged in when sent)."""
    return WebhookPayload(
        name=name,
        namespace=namespace,
        phase=phase,
        checksum=checksum,
        type="event",
        metadata=event_metadata(message, event_type, now_ms),
    )


def safe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no user:password, query or fragment.

    Webhook URLs may carry tokens; only this form goes into messages and logs.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def one_line(text: str, limit: int = 200) -> str:
    """Whitespace collapsed to single spaces, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def string_map(value: object) -> Mapping[str, str] | None:
    """``value`` if it is a JSON object of strings (Flagger's ``map[string]string``), else None."""
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return value
    return None
