"""Run the operator: ``modelcanary operator run`` calls :func:`run_operator`.

Builds the API client (kubeconfig / context / in-cluster, through ``modelcanary.k8s``), the
runtime (:func:`~modelcanary.controller._runtime.build_runtime`), the kopf registry and settings,
serves the engine's self-metrics on ``/metrics`` when a port is given, and runs kopf until
SIGINT/SIGTERM (or ``stop_flag``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kopf

from ._handlers import connection_info, make_registry, settings
from ._runtime import OperatorRuntime, build_runtime

log = logging.getLogger("modelcanary.controller")


@dataclass
class OperatorOptions:
    """What ``modelcanary operator run`` was asked for."""

    namespaces: Sequence[str] = ()
    all_namespaces: bool = False
    peering: str | None = None
    """kopf peering name: one active operator among replicas (None: standalone)."""
    priority: int | None = None
    """Peering priority: the live operator with the highest one works, the others wait.
    None: a random one, so replicas never tie (kopf pauses every operator of a tie)."""
    liveness: str | None = None
    """kopf liveness endpoint, e.g. ``http://0.0.0.0:8080/healthz``."""
    tick_seconds: float = 2.0
    """kopf timer period; each rollout is still ticked at its own interval."""
    metrics_server: str | None = None
    """Prometheus address for rollouts without ``spec.metricsProvider``."""
    metrics_port: int | None = None
    """Serve the engine's self-metrics on ``0.0.0.0:PORT/metrics`` (None: not served)."""
    metrics_host: str = "0.0.0.0"
    kubeconfig: str | None = None
    context: str | None = None


class MetricsServer:
    """``GET /metrics``: the engine's self-metrics (Prometheus text), in a daemon thread."""

    def __init__(self, render: Callable[[], str], host: str = "0.0.0.0", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404, "only /metrics here")
                    return
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="modelcanary-metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


async def operator(
    runtime: OperatorRuntime,
    api: Any,
    options: OperatorOptions,
    *,
    stop_flag: Any = None,
    ready_flag: Any = None,
    base_settings: kopf.OperatorSettings | None = None,
) -> None:
    """Run kopf for ``runtime`` until ``stop_flag`` (a threading/asyncio Event or Future)."""
    registry = make_registry(runtime, tick_seconds=options.tick_seconds, login=connection_info(api))
    await kopf.operator(
        registry=registry,
        settings=settings(base_settings),
        clusterwide=options.all_namespaces,
        namespaces=list(options.namespaces) if not options.all_namespaces else (),
        standalone=options.peering is None,
        peering_name=options.peering,
        priority=_priority(options) if options.peering else None,
        liveness_endpoint=options.liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )


def _priority(options: OperatorOptions) -> int:
    if options.priority is not None:
        return options.priority
    return random.SystemRandom().randint(1, 1_000_000)


def run_operator(options: OperatorOptions, *, api: Any = None) -> None:
    """Blocking entry of ``modelcanary operator run`` (SpecError for missing cluster config)."""
    from ..k8s._client import load_api_client

    if api is None:
        # $KUBECONFIG as read now (the kubernetes client reads it once, at import)
        kubeconfig = options.kubeconfig or os.environ.get("KUBECONFIG") or None
        api = load_api_client(kubeconfig=kubeconfig, context=options.context)
    runtime = build_runtime(api, metrics_server=options.metrics_server)
    server = None
    if options.metrics_port is not None:
        server = MetricsServer(
            runtime.engine.self_metrics.render, options.metrics_host, options.metrics_port
        ).start()
        log.info("self-metrics on http://%s:%d/metrics", options.metrics_host, server.port)
    try:
        asyncio.run(operator(runtime, api, options))
    finally:
        if server is not None:
            server.stop()
