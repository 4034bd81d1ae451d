"""Webhooks: the ``WebhookRunner`` adapter (httpx) and the built-in gate/load-test service.

- ``HttpWebhookRunner`` / ``run_all`` (``runner.py``): call Flagger-compatible webhooks.
- ``GateServer`` (``gate.py``, ``tasks.py``): Flagger-loadtester-compatible gates and tasks.
- ``encode_payload`` / ``event_payload`` (``payload.py``): Flagger's wire format.

Names load lazily so importing this package (or the CLI) does not import httpx.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "HttpWebhookRunner": "runner",
    "run_all": "runner",
    "flagger_stop_rule": "runner",
    "GateServer": "gate",
    "GateStore": "gate",
    "TaskRunner": "tasks",
    "TaskResult": "tasks",
    "encode_payload": "payload",
    "event_metadata": "payload",
    "event_payload": "payload",
    "payload_dict": "payload",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import public names on first use (PEP 562)."""
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
