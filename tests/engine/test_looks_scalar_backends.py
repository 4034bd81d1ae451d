"""No looks between intervals for a rollout whose metrics backend answers custom queries only.

A look feeds the sequential tests with the built-in SLIs' per-request data. CloudWatch (as
Datadog, New Relic, Graphite, Kayenta, Keptn, External Metrics) has none to give: before, the
operator still woke such a rollout every 15 s for a look that read its status, asked the
backend and fed nothing, and each of those looks took a share of the operator's look budget.
An interval tick after looks also ran the custom CloudWatch query a second time, for the
traffic since the looks' watermark. Now the rollout is woken for its interval ticks only, while
a Prometheus rollout driven by the same operator still looks (its server gets queries between
the ticks).

Real servers on loopback: moto's CloudWatch behind a counting forwarder, and the steerable
Prometheus API server of the operator tests.
"""

from __future__ import annotations

import http.client
import importlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from engine_fakes import World, make_rollout
from moto.server import ThreadedMotoServer
from prom_api_fake import PromAPI
from test_batch_looks import START, _engine

from modelcanary.controller._runtime import OperatorRuntime
from modelcanary.engine import Engine, ManualClock, MemoryStatusStore
from modelcanary.engine._look import per_request_backend
from modelcanary.providers import MetricDispatch, provider_for
from modelcanary.rollout._looks import LOOK_KEY, can_look
from modelcanary.spec import (
    MetricProviderSpec,
    ModelRollout,
    Phase,
    RolloutStatus,
    SecretRef,
)
from modelcanary.spec._provider_caps import SCALAR_ONLY_PROVIDERS

KEYS = {"AWS_KEYS": "AKIAMODELCANARYTEST:looks-test-secret"}
QUERY = (
    '[{"Id": "e1", "MetricStat": {"Metric": {"Namespace": "ML/Serving", "MetricName": '
    '"Errors"}, "Period": 60, "Stat": "Sum"}}]'
)


class CountingForwarder:
    """Forwards every request to ``target`` and counts them: what the backend received."""

    def __init__(self, target: str) -> None:
        self.requests = 0
        upstream = urlsplit(target)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                conn.request("POST", self.path, body, dict(self.headers.items()))
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def cloudwatch() -> Iterator[CountingForwarder]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    forwarder = CountingForwarder(f"http://{host}:{port}")
    yield forwarder
    forwarder.close()
    moto.stop()


def _rollout(name: str, provider: dict[str, Any] | None, *custom: dict[str, Any]) -> ModelRollout:
    backend = {} if provider is None else {"metricsProvider": provider}
    rollout = make_rollout(
        interval="60s",
        stepWeights=[20, 50],
        noData="skip",
        inconclusiveLimit=20,  # the backends have no data: keep analysing
        metrics=[{"name": "error-rate", "thresholdRange": {"max": 0.05}}, *custom],
        spec=backend,
    )
    return rollout.model_copy(
        update={"metadata": rollout.metadata.model_copy(update={"name": name})}
    )


def _looking_engine(store: MemoryStatusStore, metrics: Any, save_looks: bool) -> Engine:
    return _engine(store, World(), ManualClock(START), metrics, 15.0, save_looks=save_looks)


def test_the_operator_looks_at_a_prometheus_rollout_but_never_at_a_cloudwatch_one(
    cloudwatch: CountingForwarder,
) -> None:
    prom = PromAPI()
    try:
        aws = {"type": "cloudwatch", "region": "eu-west-1", "address": cloudwatch.url}
        errors = {"name": "errors", "query": QUERY, "thresholdRange": {"max": 10}}
        store = MemoryStatusStore()
        store.put(_rollout("cw", {**aws, "secretRef": {"env": "AWS_KEYS"}}, errors))
        store.put(_rollout("prom", {"type": "prometheus", "address": prom.url}))
        engine = _looking_engine(store, MetricDispatch(env=KEYS), save_looks=False)
        runtime = OperatorRuntime(engine)
        received: dict[str, Callable[[], int]] = {
            "cw": lambda: cloudwatch.requests,
            "prom": lambda: len(prom.queries),
        }
        due = dict.fromkeys(received, 0.0)  # manual-clock seconds when each is next driven
        ticks, looks, between = dict.fromkeys(received, 0), dict.fromkeys(received, 0), {}
        for step in range(25):  # six minutes in 15 s steps: several 60 s intervals
            now = step * 15.0
            for name, count in received.items():
                if now + 0.5 < due[name]:
                    continue  # the operator would not wake this rollout now
                looking = ("ml", name) in runtime._looking
                before = count()
                runtime.drive(name, "ml")
                if looking:
                    looks[name] += 1
                    between[name] = between.get(name, 0) + count() - before
                else:
                    ticks[name] += 1
                due[name] = now + runtime.until_due(name, "ml")
            engine.clock.sleep(15.0)
        for name in received:
            stored = store.get(name, "ml")
            assert stored is not None and stored.rollout.status is not None
            assert stored.rollout.status.phase == Phase.PROGRESSING, stored.rollout.status.message
        assert ticks["cw"] >= 5 and cloudwatch.requests > 0  # its ticks do query CloudWatch
        assert looks["cw"] == 0 and between.get("cw", 0) == 0  # not one look, not one request
        # at most one request a tick: before, each tick after looks ran the custom query again
        # for the traffic since the looks' watermark (11 requests in 7 ticks, now 6)
        assert cloudwatch.requests <= ticks["cw"]
        assert looks["prom"] >= 10 and between["prom"] > 0  # the Prometheus one still looks
    finally:
        prom.close()


def _analysing() -> RolloutStatus:
    return RolloutStatus(
        phase=Phase.PROGRESSING,
        canary_weight=20,
        pre_rollout_done=True,
        last_analysis_time="2026-12-01T12:01:00Z",
    )


@pytest.mark.parametrize("kind", sorted(SCALAR_ONLY_PROVIDERS))
def test_no_rollout_on_a_scalar_only_backend_type_can_be_looked_at(kind: str) -> None:
    scalar = _rollout("r", {"type": kind, "address": "http://127.0.0.1:9"})
    assert not can_look(scalar, _analysing())
    for looking in ({"type": "prometheus", "address": "http://127.0.0.1:9"}, None):
        other = _rollout("r", looking)
        assert can_look(other, _analysing())


def test_each_scalar_only_type_names_its_provider_and_says_so() -> None:
    """The engine knows the backend it holds by its ``name``: each type's provider has it."""
    from modelcanary.providers import PROVIDERS

    for kind in SCALAR_ONLY_PROVIDERS:
        module = importlib.import_module(f"modelcanary.providers._{kind}")
        classes = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and c.__module__ == module.__name__
        ]
        named = [c for c in classes if getattr(c, "name", None) == kind]
        assert len(named) == 1 and callable(getattr(named[0], "collect", None)), kind
        assert kind in PROVIDERS, kind


def test_an_engine_holding_a_scalar_only_backend_itself_writes_no_look(
    cloudwatch: CountingForwarder,
) -> None:
    """The local runtime keeps every look's state (``save_looks``): before, each look on a
    CloudWatch-measured rollout wrote a status with a new watermark and had fed nothing."""
    spec = MetricProviderSpec(
        type="cloudwatch",
        region="eu-west-1",
        address=cloudwatch.url,
        secretRef=SecretRef(env="AWS_KEYS"),
    )
    backend = provider_for(spec, env=KEYS)
    assert not per_request_backend(backend) and per_request_backend(MetricDispatch())
    store = MemoryStatusStore()
    store.put(_rollout("cw", None))  # the engine's own backend
    engine = _looking_engine(store, backend, save_looks=True)
    runtime = OperatorRuntime(engine)
    for _ in range(5):  # initialise, then start the first stage
        runtime.drive("cw", "ml")
        stored = store.get("cw", "ml")
        assert stored is not None and stored.rollout.status is not None
        if stored.rollout.status.canary_weight:
            break
        engine.clock.sleep(60.0)
    assert stored.rollout.status.canary_weight == 20, stored.rollout.status.message
    before = cloudwatch.requests
    for _ in range(3):  # three looks' worth of time inside the interval
        engine.clock.sleep(15.0)
        engine.look("cw", "ml")
    after = store.get("cw", "ml")
    assert after is not None and after.rollout.status is not None
    assert after.version == stored.version  # nothing written
    assert LOOK_KEY not in (after.rollout.status.analysis_state or {})
    assert cloudwatch.requests == before
