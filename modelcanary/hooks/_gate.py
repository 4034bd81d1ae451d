"""``GateServer``: a built-in gate and load-test service, API-compatible with Flagger's loadtester.

Endpoints (fluxcd/flagger ``pkg/loadtester/server.go``; GET or POST, the body is the webhook
payload ``{"name": ..., "namespace": ..., ...}``):

========================  ===============================================================
``/healthz``              200 ``OK``
``/gate/approve``         200 always (a confirm-* hook pointing here passes)
``/gate/halt``            403 always (a confirm-* hook pointing here waits)
``/gate/check``           200 when the gate of ``name.namespace`` is open, else 403
``/gate/open|close``      open / close that gate: 202 (mutating: token)
``/rollback/check``       200 when the rollback gate of ``name.namespace`` is open, else 403
``/rollback/open|close``  open / close that rollback gate: 202 (mutating: token)
``/``                     run a task from ``metadata`` (see ``tasks.py``), only with
                          ``allow_commands``: ``type: cmd`` (default) starts it in the
                          background, 202; ``type: bash`` runs it and answers 200 or 500
========================  ===============================================================

Gates start closed. All state (gates, running tasks) lives in this process's memory, like
Flagger's ``in-memory`` gate storage: a restart closes every gate, and replicas do not share
state, so run one replica.

Web pages must not drive it (CSRF, DNS rebinding; see ``modelcanary._httpd``): a foreign
``Host`` or any cross-site ``Origin`` is 403, a body must be ``application/json`` (415), and
with a ``token`` the mutating endpoints and ``/`` need ``Authorization: Bearer <token>``
(401). Command execution is off unless ``allow_commands``; beyond loopback a token is
mandatory. The read-only check endpoints stay open, as Flagger's controller calls them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import cast
from urllib.parse import urlsplit

from .._httpd import (
    BackgroundServer,
    Handler,
    HostPolicy,
    HTTPProblem,
    Limits,
    Service,
    clip,
    http_url,
    is_loopback,
    loads_json,
)
from ..errors import SpecError, SpecIssue
from ._payload import string_map
from ._tasks import DEFAULT_TASK_TIMEOUT, TaskRunner

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
LIMITS = Limits(max_body=MAX_BODY, read_timeout=15.0, request_timeout=30.0, max_connections=32)
"""Body, time and connection bounds (15 s idle: Flagger's ``IdleTimeout``)."""
TOKEN_ENV = "MODELCANARY_GATE_TOKEN"
"""Environment variable holding the bearer token (``gate serve`` without ``--token-file``)."""
MIN_TOKEN = 16
COMMANDS_OFF = "command execution is off: start the service with --allow-commands"
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}  # Go's strconv.ParseBool (errors count as false)
_READ_ONLY = {"/healthz", "/gate/approve", "/gate/halt", "/gate/check", "/rollback/check"}
_MUTATING = {"/gate/open", "/gate/close", "/rollback/open", "/rollback/close"}


def check_token(value: str, field: str = "token") -> str:
    """A usable bearer token (stripped): visible ASCII, at least 16 characters; else SpecError."""
    token = value.strip()
    if len(token) < MIN_TOKEN or not all("!" <= c <= "~" for c in token):
        raise SpecError(
            SpecIssue(
                field,
                f"the gate token must be at least {MIN_TOKEN} visible ASCII characters "
                f"(got {len(token)} characters)",
                "generate one with: openssl rand -hex 32",
            )
        )
    return token


class GateStore:
    """Open/closed gates, keyed like Flagger's: ``name.namespace``, ``rollback.name.namespace``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, bool] = {}

    def is_open(self, key: str) -> bool:
        """True when the gate was opened (and not closed since); unknown gates are closed."""
        with self._lock:
            return self._open.get(key, False)

    def set(self, key: str, is_open: bool) -> None:
        """Open or close a gate."""
        with self._lock:
            self._open[key] = is_open


class _Handler(Handler):
    server_version = "modelcanary-gate"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        gate = cast(GateServer, self.server.app)
        path = urlsplit(self.path).path
        self.check_origin(gate.hosts)
        if path not in _READ_ONLY and path not in _MUTATING and path != "/":
            raise HTTPProblem(404, f"no endpoint {clip(path)}")
        if path not in _READ_ONLY:
            self.require_bearer(gate.token_bytes, "modelcanary-gate")
        if path == "/" and not gate.allow_commands:
            raise HTTPProblem(403, COMMANDS_OFF)
        if path not in _READ_ONLY or self.content_length() > 0:
            self.require_json()
        status, text = gate.handle(path, self.read_body())
        self.reply(status, text.encode("utf-8"))


class GateServer(Service):
    """Flagger-loadtester-compatible gate/task HTTP service on a background thread.

    ``token``: bearer token of the mutating endpoints and ``/`` (required unless ``host`` is a
    loopback address). ``allow_commands``: run ``cmd``/``bash`` tasks (off by default).
    ``allow_hosts``: ``Host`` names served besides loopback names, IP literals and ``host``
    (e.g. the in-cluster Service name; ``*.suffix`` patterns, or ``*`` for any).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8090,
        *,
        task_timeout: float = DEFAULT_TASK_TIMEOUT,
        namespace_regexp: str | None = None,
        token: str | None = None,
        allow_commands: bool = False,
        allow_hosts: Iterable[str] = (),
        limits: Limits = LIMITS,
    ) -> None:
        if token is None and not is_loopback(host):
            raise SpecError(
                SpecIssue(
                    "token",
                    f"the gate service listens on {host}, beyond loopback, without a token",
                    f"give --token-file FILE (or ${TOKEN_ENV}), or listen on 127.0.0.1",
                )
            )
        self.host = host
        self.port = port
        self.token_bytes = check_token(token).encode("ascii") if token is not None else None
        self.allow_commands = allow_commands
        self.hosts = HostPolicy.build(host, allow_hosts)
        self.limits = limits
        self.gates = GateStore()
        self.tasks = TaskRunner(timeout=task_timeout)
        self.namespace_regexp = re.compile(namespace_regexp) if namespace_regexp else None
        self._http: BackgroundServer | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8090`` (the real port once started with port 0)."""
        return http_url(self.host, self.port)

    def start(self) -> None:
        """Bind and serve in a daemon thread; raises ``OSError`` when the address is unusable."""
        if self._http is not None:
            return
        self._http = BackgroundServer(
            self.host,
            self.port,
            _Handler,
            app=self,
            limits=self.limits,
            logger=log,
            name="modelcanary-gate",
        )
        self.port = self._http.port
        self._http.start()
        if self.allow_commands and self.token_bytes is None:
            log.warning(
                "command execution is on without a token: any local process can run commands "
                "as this user through %s (set a token on a shared machine)",
                self.url,
            )
        log.info("gate service listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving, kill running tasks and release the port."""
        http, self._http = self._http, None
        if http is None:
            return
        http.shutdown()  # no new connections
        self.tasks.stop()  # kill tasks: blocked bash requests answer 500
        http.close()  # idle keep-alive connections too
        log.info("gate service stopped")

    # --- request handling (plain method, so it is testable without sockets) ---

    def handle(self, path: str, body: bytes) -> tuple[int, str]:
        """Answer one request: ``(status, text)``."""
        if path == "/healthz":
            return 200, "OK"
        if path == "/gate/approve":
            return 200, "OK"
        if path == "/gate/halt":
            return 403, "Forbidden"
        prefix, _, action = path.strip("/").partition("/")
        known = prefix in ("gate", "rollback") and action in ("check", "open", "close")
        if path != "/" and not known:
            return 404, f"no endpoint {path}"
        if path == "/" and not self.allow_commands:
            return 403, COMMANDS_OFF
        payload = _parse(body)
        if isinstance(payload, str):
            return 400, payload
        name, namespace, metadata = payload
        if self.namespace_regexp is not None and not self.namespace_regexp.search(namespace):
            return 403, "Forbidden"
        if path == "/":
            return self._task(f"{name}.{namespace}", metadata)
        key = f"{name}.{namespace}" if prefix == "gate" else f"rollback.{name}.{namespace}"
        if action == "check":
            approved = self.gates.is_open(key)
            log.info("%s check: approved %s", key, approved)
            return (200, "Approved") if approved else (403, "Forbidden")
        self.gates.set(key, action == "open")
        what = f"{'gate' if prefix == 'gate' else 'rollback gate'} of {name}.{namespace}"
        verb = "opened" if action == "open" else "closed"
        log.info("%s %s", what, verb)
        return 202, f"{what} {verb}"

    def _task(self, rollout: str, metadata: dict[str, str]) -> tuple[int, str]:
        if not metadata:
            return 400, "metadata not found in payload"
        kind = metadata.get("type", "cmd")
        if kind not in ("cmd", "bash"):
            return 400, f"unknown task type {kind} (this service runs cmd and bash tasks)"
        command = metadata.get("cmd", "")
        if not command:
            return 400, "cmd not found in metadata"
        if kind == "bash":
            result = self.tasks.run(rollout, command, shell="bash")
            if not result.ok:
                return 500, result.failure()
            return 200, result.output if metadata.get("returnCmdOutput") in _TRUE else ""
        started = self.tasks.submit(
            rollout, command, log_output=metadata.get("logCmdOutput") in _TRUE
        )
        if not started and self.tasks.stopped:
            return 503, "the service is stopping"
        return 202, "task started" if started else "task already running"


def _parse(body: bytes) -> tuple[str, str, dict[str, str]] | str:
    """``(name, namespace, metadata)`` of a webhook payload, or why it cannot be read."""
    try:
        data = loads_json(body or b"null")
    except ValueError as exc:
        return f"decoding the request body failed: {exc}"
    if not isinstance(data, dict):
        return 'decoding the request body failed: expected a JSON object {"name", "namespace"}'
    name, namespace = data.get("name"), data.get("namespace")
    if not (isinstance(name, str) and name and isinstance(namespace, str) and namespace):
        return "name and namespace (non-empty strings) are required in the payload"
    metadata = string_map(data.get("metadata") or {})
    if metadata is None:
        return "metadata must be a map of strings"
    return name, namespace, dict(metadata)


__all__ = ["LIMITS", "MAX_BODY", "TOKEN_ENV", "GateServer", "GateStore", "check_token"]
