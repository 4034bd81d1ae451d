"""Webhooks: the ``WebhookRunner`` adapter (httpx) and the built-in gate/load-test service.

- ``HttpWebhookRunner`` / ``run_all`` (``runner.py``): call Flagger-compatible webhooks.
- ``GateServer`` (``gate.py``, ``tasks.py``): Flagger-loadtester-compatible gates and tasks.
- ``encode_payload`` / ``event_payload`` (``payload.py``): Flagger's wire format.

Names load lazily so importing this package (or the CLI) does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._gate import GateServer, GateStore
    from ._payload import encode_payload, event_metadata, event_payload, payload_dict
    from ._runner import HttpWebhookRunner, flagger_stop_rule, run_all
    from ._tasks import TaskResult, TaskRunner

_LAZY: dict[str, str] = {
    "HttpWebhookRunner": "._runner",
    "run_all": "._runner",
    "flagger_stop_rule": "._runner",
    "GateServer": "._gate",
    "GateStore": "._gate",
    "TaskRunner": "._tasks",
    "TaskResult": "._tasks",
    "encode_payload": "._payload",
    "event_metadata": "._payload",
    "event_payload": "._payload",
    "payload_dict": "._payload",
}

__all__ = [
    "GateServer",
    "GateStore",
    "HttpWebhookRunner",
    "TaskResult",
    "TaskRunner",
    "encode_payload",
    "event_metadata",
    "event_payload",
    "flagger_stop_rule",
    "payload_dict",
    "run_all",
]


if not TYPE_CHECKING:  # type checkers use the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
