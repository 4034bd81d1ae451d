"""Run the operator: ``modelcanary operator run`` calls :func:`run_operator`.

Builds the API client (kubeconfig / context / in-cluster, through ``modelcanary.k8s``), the
runtime (:func:`~modelcanary.controller._runtime.build_runtime`), the kopf registry and settings,
serves the engine's self-metrics on ``/metrics`` when a port is given, and runs kopf until
SIGINT/SIGTERM (or ``stop_flag``). With ``sharding`` every replica holds a Lease and ticks
only its rendezvous share of the rollouts (``controller._sharding``); the environment
(``MODELCANARY_SHARDING=true``, ``POD_NAME``, ``POD_NAMESPACE``...) turns it on in a pod
(:func:`options_from_env`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kopf

from ._handlers import connection_info, make_registry, settings
from ._runtime import OperatorRuntime, build_runtime
from ._sharding import Shards

log = logging.getLogger("modelcanary.controller")
POOL_HEADROOM = 4
"""API connections kept beyond the tick workers (Lease renewals, reverts on deletion)."""


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
    workers: int = 16
    """Threads ticking rollouts at once (a tick mostly waits for the API server)."""
    sharding: bool = False
    """Share the rollouts among the replicas holding a Lease of ``shard_group`` (kopf
    peering, which keeps one replica active, is then not used)."""
    shard_group: str = "modelcanary-operator"
    """Name shared by the replicas of one install (the Leases' ``modelcanary.io/shard-group``)."""
    shard_identity: str | None = None
    """This replica's identity (None: ``$POD_NAME``, else the host name)."""
    lease_namespace: str | None = None
    """Namespace of the Leases (None: ``$POD_NAMESPACE``, else the first watched one)."""
    lease_seconds: float = 15.0
    """Lease duration: a replica that stops renewing loses its rollouts after this long."""


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
    """Run kopf for ``runtime`` until ``stop_flag`` (a threading/asyncio Event or Future).

    ``api``'s connection pool is sized to the tick workers and a few more threads (Lease
    renewals, reverts on deletion): a tick never opens a connection only to drop it.

    Every object alive when the operator starts (modules, classes, pydantic schemas, the
    kubernetes client: hundreds of thousands) moves to the garbage collector's permanent
    generation (``gc.freeze()``), so a full collection walks only what was made since. A
    full collection stops every thread: with 1,000 rollouts they took up to 2.9 s
    (benchmarks/operator_scale.py), and every tick due meanwhile was that late."""
    from ..k8s._client import fit_pool

    fit_pool(api, max(1, options.workers) + POOL_HEADROOM)
    gc.collect()  # garbage first: what is frozen is never collected
    gc.freeze()
    executor = concurrent.futures.ThreadPoolExecutor(
        max(1, options.workers), thread_name_prefix="modelcanary-tick"
    )
    registry = make_registry(
        runtime, tick_seconds=options.tick_seconds, login=connection_info(api), executor=executor
    )
    peering = options.peering
    if options.sharding:
        if peering:
            log.warning("sharding on: kopf peering %r is not used (every replica works)", peering)
            peering = None
        if runtime.shards is None:
            runtime.shards = shards_for(api, options)
        await asyncio.to_thread(runtime.shards.start)
    try:
        await kopf.operator(
            registry=registry,
            settings=settings(base_settings),
            clusterwide=options.all_namespaces,
            namespaces=list(options.namespaces) if not options.all_namespaces else (),
            standalone=peering is None,
            peering_name=peering,
            priority=_priority(options) if peering else None,
            liveness_endpoint=options.liveness,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if options.sharding and runtime.shards is not None:
            await asyncio.to_thread(runtime.shards.stop)
        # queued ticks are dropped; one in flight finishes (its status write is its record)
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


def shards_for(api: Any, options: OperatorOptions) -> Shards:
    """This replica's :class:`Shards` (identity and Lease namespace from the options, else the
    pod's environment, else the host name and the first watched namespace)."""
    from ..k8s._client import KubeClient

    identity = options.shard_identity or os.environ.get("POD_NAME") or socket.gethostname()
    namespace = (
        options.lease_namespace
        or os.environ.get("POD_NAMESPACE")
        or (options.namespaces[0] if options.namespaces else "default")
    )
    return Shards(
        KubeClient(api),
        namespace=namespace,
        identity=identity,
        group=options.shard_group,
        lease_seconds=options.lease_seconds,
    )


TRUE = ("1", "true", "yes", "on")


def options_from_env(
    options: OperatorOptions, env: Mapping[str, str] | None = None
) -> OperatorOptions:
    """``options`` with what the pod's environment sets (the Helm chart sets these):
    ``MODELCANARY_SHARDING`` (true/false), ``MODELCANARY_SHARD_GROUP``,
    ``MODELCANARY_LEASE_SECONDS``, ``MODELCANARY_TICK_WORKERS``, ``POD_NAME``,
    ``POD_NAMESPACE``. SpecError naming the variable for a value that is not a number."""
    from ..errors import SpecError, SpecIssue

    env = os.environ if env is None else env
    changes: dict[str, Any] = {}
    if "MODELCANARY_SHARDING" in env:
        changes["sharding"] = env["MODELCANARY_SHARDING"].strip().lower() in TRUE
    if env.get("MODELCANARY_SHARD_GROUP"):
        changes["shard_group"] = env["MODELCANARY_SHARD_GROUP"]
    for var, key, kind in (
        ("MODELCANARY_LEASE_SECONDS", "lease_seconds", float),
        ("MODELCANARY_TICK_WORKERS", "workers", int),
    ):
        if env.get(var):
            try:
                value = kind(env[var])
            except ValueError:
                value = 0
            if value <= 0:
                raise SpecError(SpecIssue(var, f"{env[var]!r} is not a positive number", "e.g. 15"))
            changes[key] = value
    return dataclasses.replace(options, **changes) if changes else options


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
    options = options_from_env(options)
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
