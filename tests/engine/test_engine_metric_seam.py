"""One metrics seam: the engine talks to one ``MetricProvider``, a backend or a dispatcher.

The dispatcher (``providers.dispatch.MetricDispatch``, used by the local runtime and the
operator) sends the built-in SLIs to the rollout's backend and a custom metric to its own;
the engine asks it for the rollout's ``backends`` at initialisation and reads each one's
``last_error`` through the port. The custom metric's backend here is a real Prometheus-API
server on loopback that the test takes down and brings back.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from engine_fakes import Metrics, World, make_engine, make_rollout

from modelcanary.engine import Engine, ManualClock, MemoryStatusStore, run_until_done
from modelcanary.ports import MetricProvider
from modelcanary.providers._dispatch import MetricDispatch
from modelcanary.providers._prometheus import PrometheusProvider
from modelcanary.spec import RolloutStatus

NS = "ml"


class PromStub:
    """``/api/v1/query``: ``vector(1)`` -> 1, ``agreement`` -> 0.9; HTTP 503 while ``down``."""

    def __init__(self) -> None:
        self.down = True
        self.queries: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                stub.queries.append(query.get("query", ""))
                if stub.down:
                    self.send_error(503, "warming up")
                    return
                value = "1" if query.get("query") == "vector(1)" else "0.9"
                result = [{"metric": {}, "value": [float(query.get("time") or 0), value]}]
                body = json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": result}}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prom() -> Iterator[PromStub]:
    stub = PromStub()
    yield stub
    stub.close()


def _rollout(address: str) -> Any:
    return make_rollout(
        metrics=[
            {"name": "error-rate", "thresholdRange": {"max": 0.05}},
            {
                "name": "agreement",
                "query": "avg(agreement)",
                "provider": {"type": "prometheus", "address": address},
                "thresholdRange": {"min": 0.5},
            },
        ]
    )


def _engine(store: MemoryStatusStore, world: World, metrics: MetricProvider) -> Engine:
    return make_engine(store, world, ManualClock(), metrics=metrics)


def _status(store: MemoryStatusStore) -> RolloutStatus:
    stored = store.get("fraud", NS)
    assert stored is not None and stored.rollout.status is not None
    return stored.rollout.status


def test_a_custom_metrics_backend_is_checked_then_queried_through_the_one_port(
    prom: PromStub,
) -> None:
    world, store = World(), MemoryStatusStore()
    store.put(_rollout(prom.url))
    engine = _engine(store, world, MetricDispatch(default=Metrics(world)))
    engine.tick("fraud", NS)
    held = _status(store)
    assert held.phase == "Initializing" and world.routes.challenger_weight == 0
    # the down backend is named with its own last_error, read through the port
    assert "prometheus is offline (" in held.message and "503" in held.message
    assert "fake is offline" not in held.message  # the built-in SLIs' backend answers
    prom.down = False
    result = run_until_done(engine, "fraud", NS)
    assert result.phase == "Succeeded" and world.promotions == 1
    assert "avg(agreement)" in prom.queries  # the custom query went to its own backend
    checks = {c.metric: c for c in _status(store).history[-1].checks}
    assert checks["agreement"].value == pytest.approx(0.9)
    assert checks["error-rate"].verdict == "pass"


def test_a_rollout_naming_one_backend_twice_is_checked_once(prom: PromStub) -> None:
    prom.down = False
    rollout = _rollout(prom.url)
    spec = rollout.spec.model_copy(
        update={"metrics_provider": rollout.spec.analysis.metrics[1].provider}
    )
    rollout = rollout.model_copy(update={"spec": spec})
    dispatch = MetricDispatch()
    [backend] = dispatch.backends(rollout)
    assert isinstance(backend, PrometheusProvider) and backend.is_online()
    assert backend.backends(rollout) == [backend]  # a single backend is its own
    assert dispatch.backends(rollout)[0] is backend  # built once, then cached


def test_a_single_backend_needs_nothing_but_the_port() -> None:
    world, store = World(), MemoryStatusStore()
    store.put(make_rollout())
    metrics = Metrics(world)
    assert isinstance(metrics, MetricProvider)
    assert run_until_done(_engine(store, world, metrics), "fraud", NS).phase == "Succeeded"


def test_the_engine_asks_no_port_what_it_is() -> None:
    """No ``isinstance`` against a port and no ``getattr``/``hasattr`` probing an adapter in
    the engine (the old seam: ``isinstance(metrics, ProviderDispatch)`` and
    ``getattr(p, "last_error")``); the store's optional ``stamp`` is the one probe left."""
    import ast
    import inspect
    from pathlib import Path

    import modelcanary.ports as ports

    protocols = {
        name
        for name, value in vars(ports).items()
        if inspect.isclass(value)
        and value.__module__ == ports.__name__
        and getattr(value, "_is_protocol", False)
    }
    assert {"MetricProvider", "TrafficRouter", "Workloads"} <= protocols
    found = []
    for path in sorted((Path(ports.__file__).parent / "engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "isinstance":
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if named & protocols:
                    found.append((path.name, node.lineno, ast.unparse(node)))
            if node.func.id in ("getattr", "hasattr") and ast.unparse(node.args[0]) != "store":
                found.append((path.name, node.lineno, ast.unparse(node)))
    assert found == []


def test_the_local_runtime_default_serves_an_embedded_custom_metric(prom: PromStub) -> None:
    """The local runtime's lookup was handed the rollout's backend as its default, so a custom
    metric naming ``type: embedded`` under a Prometheus rollout was refused ("this runtime does
    not have" the recorder it has); the one dispatcher hands it the router's recorder."""
    from modelcanary.local._recorder import Recorder
    from modelcanary.providers._embedded import EmbeddedProvider

    prom.down = False
    rollout = _rollout(prom.url)
    analysis = rollout.spec.analysis
    embedded_metric = analysis.metrics[1].model_copy(
        update={"provider": analysis.metrics[1].provider.model_copy(update={"type": "embedded"})}
    )
    spec = rollout.spec.model_copy(
        update={
            "metrics_provider": analysis.metrics[1].provider,
            "analysis": analysis.model_copy(
                update={"metrics": [analysis.metrics[0], embedded_metric]}
            ),
        }
    )
    rollout = rollout.model_copy(update={"spec": spec})
    recorder = EmbeddedProvider(Recorder())
    backend, embedded = MetricDispatch(default=recorder).backends(rollout)
    assert isinstance(backend, PrometheusProvider) and embedded is recorder
