"""Kayenta provider against a local server reproducing Kayenta's ``/canary`` API.

Shapes: Kayenta's CanaryController (``POST /canary/{canaryConfigId}?application&
parentPipelineExecutionId&metricsAccountName&configurationAccountName&storageAccountName`` with a
CanaryExecutionRequest ``{"scopes": {name: {"controlScope", "experimentScope"}},
"thresholds": {"pass", "marginal"}}``, ``POST /canary`` with ``{"canaryConfig",
"executionRequest"}``, ``GET /canary/{canaryExecutionId}`` -> CanaryExecutionStatusResponse with
``complete``, ``status`` and ``result.judgeResult.score.{score,classification}``), as
documented in https://github.com/spinnaker/kayenta/blob/master/docs/kayenta-standalone.md and
read by Orca's KayentaService / MonitorKayentaCanaryTask.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract, closed_address
from vendor_fixtures import FakeKayenta, KayentaConfig

from modelcanary.analysis._measurements import NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, SpecError, TransientProviderError
from modelcanary.providers import provider_for
from modelcanary.providers._kayenta import KayentaProvider, execution_request
from modelcanary.spec import MetricProviderSpec, MetricSpec, SecretRef

WINDOW = Window(1700000000.0, 1700000060.0)
TOKEN = "kayenta-gateway-token-42"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeKayenta]:
    server = FakeKayenta()
    yield server
    server.close()


@pytest.fixture
def kayenta(fake: FakeKayenta) -> Iterator[KayentaProvider]:
    fake.reset()
    fake.configs.clear()
    sleeps: list[float] = []
    provider = KayentaProvider(
        fake.url, secret=TOKEN, timeout=10.0, wait=5.0, poll_interval=0.01, sleep=sleeps.append
    )
    yield provider
    provider.close()


def metric(query: str, **variables: str) -> MetricSpec:
    return MetricSpec.model_validate(
        {
            "name": "canary-score",
            "query": query,
            "thresholdRange": {"min": 95},
            "templateVariables": variables or None,
        }
    )


def test_submits_polls_and_returns_the_judge_score(
    fake: FakeKayenta, kayenta: KayentaProvider
) -> None:
    fake.configs["fraud-canary"] = KayentaConfig(score=87.5, classification="Marginal")
    got = kayenta.query(
        metric(
            "{{ name }}-canary",
            metricsAccountName="prom-account",
            storageAccountName="gcs-account",
            passThreshold="95",
            marginalThreshold="75",
        ),
        CONTRACT_ROLLOUT,
        WINDOW,
    )
    assert got == Scalar(87.5)
    start, running, done = fake.requests
    assert (start.method, start.path) == ("POST", "/canary/fraud-canary")
    assert start.headers["authorization"] == f"Bearer {TOKEN}"
    assert start.query == {
        "metricsAccountName": ["prom-account"],
        "storageAccountName": ["gcs-account"],
        "application": ["modelcanary"],
        "parentPipelineExecutionId": ["fraud-1700000060"],
    }
    scope = {
        "location": "ml",
        "start": "2023-11-14T22:13:20Z",
        "end": "2023-11-14T22:14:20Z",
        "step": 60,
        "extendedScopeParams": {},
    }
    assert start.body == {
        "scopes": {
            "default": {
                "controlScope": {"scope": "champion", **scope},
                "experimentScope": {"scope": "challenger", **scope},
            }
        },
        "siteLocal": {},
        "thresholds": {"pass": 95.0, "marginal": 75.0},
    }
    assert (running.method, running.path) == ("GET", "/canary/01HEXEC0001")
    assert running.query == {"storageAccountName": ["gcs-account"]}
    assert done.path == "/canary/01HEXEC0001"
    assert kayenta.pending == {}


def test_scope_variables_map_to_the_execution_request() -> None:
    request = execution_request(
        {
            "controlScope": "fraud-v1",
            "experimentScope": "fraud-v2",
            "controlLocation": "us-east-1",
            "location": "eu-west-1",
            "step": "30s",
            "scopeName": "requests",
            "extendedScopeParams.resourceType": "k8s_container",
        },
        CONTRACT_ROLLOUT,
        Window(1700000000.7, 1700000059.2),
    )
    scopes = request["scopes"]["requests"]
    assert scopes["controlScope"]["scope"] == "fraud-v1"
    assert scopes["controlScope"]["location"] == "us-east-1"
    assert scopes["experimentScope"] == {
        "scope": "fraud-v2",
        "location": "eu-west-1",
        "start": "2023-11-14T22:13:20Z",
        "end": "2023-11-14T22:14:20Z",
        "step": 30,
        "extendedScopeParams": {"resourceType": "k8s_container"},
    }
    assert "thresholds" not in request  # Kayenta then uses the canary config's


def test_inline_canary_config_uses_the_ad_hoc_endpoint(
    fake: FakeKayenta, kayenta: KayentaProvider
) -> None:
    config = {"name": "inline", "metrics": [], "classifier": {}, "score": 99.0}
    got = kayenta.query(
        metric(json.dumps(config), configurationAccountName="ignored-for-ad-hoc"),
        CONTRACT_ROLLOUT,
        WINDOW,
    )
    assert got == Scalar(99.0)
    start = fake.requests[0]
    assert (start.method, start.path, start.query) == ("POST", "/canary", {})
    assert start.body["canaryConfig"] == config
    assert set(start.body["executionRequest"]["scopes"]["default"]) == {
        "controlScope",
        "experimentScope",
    }


def test_still_running_is_no_data_and_polled_again_next_time(
    fake: FakeKayenta, kayenta: KayentaProvider
) -> None:
    fake.configs["slow"] = KayentaConfig(score=100.0, polls_running=3)
    first = kayenta.query(metric("slow", wait="0s"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(first, NoData) and "still running" in first.reason
    assert [e.window for e in kayenta.pending.values()] == [WINDOW]
    later = Window(WINDOW.end, WINDOW.end + 60)
    second = kayenta.query(metric("slow", wait="0s"), CONTRACT_ROLLOUT, later)
    assert isinstance(second, NoData)
    third = kayenta.query(metric("slow"), CONTRACT_ROLLOUT, later)
    assert third == Scalar(100.0)
    starts = [r for r in fake.requests if r.method == "POST"]
    assert len(starts) == 1  # one execution, polled across calls


def test_failed_and_nodata_executions_are_no_data(
    fake: FakeKayenta, kayenta: KayentaProvider
) -> None:
    fake.configs["broken"] = KayentaConfig(outcome="terminal")
    failed = kayenta.query(metric("broken"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(failed, NoData)
    assert "ended terminal" in failed.reason and "no such scope" in failed.reason
    fake.configs["empty"] = KayentaConfig(outcome="nodata", score=0.0)
    empty = kayenta.query(metric("empty"), CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(empty, NoData) and "no data for any metric" in empty.reason
    assert kayenta.pending == {}


def test_unknown_config_and_bad_json_are_permanent(kayenta: KayentaProvider) -> None:
    with pytest.raises(PermanentProviderError) as info:
        kayenta.query(metric("no-such-config"), CONTRACT_ROLLOUT, WINDOW)
    text = str(info.value)
    assert "HTTP 404" in text and "No canary config with id no-such-config" in text
    assert "check the canary config id" in text and TOKEN not in text
    with pytest.raises(PermanentProviderError, match="not JSON"):
        kayenta.query(metric('{"name": '), CONTRACT_ROLLOUT, WINDOW)


def test_lost_execution_is_dropped(fake: FakeKayenta, kayenta: KayentaProvider) -> None:
    fake.configs["slow"] = KayentaConfig(polls_running=5)
    kayenta.query(metric("slow", wait="0s"), CONTRACT_ROLLOUT, WINDOW)
    fake.runs.clear()  # Kayenta lost it (e.g. its Redis was flushed)
    with pytest.raises(PermanentProviderError, match="Unable to locate execution"):
        kayenta.query(metric("slow"), CONTRACT_ROLLOUT, WINDOW)
    assert kayenta.pending == {}


def test_health_and_collect(fake: FakeKayenta, kayenta: KayentaProvider) -> None:
    assert kayenta.is_online() is True
    assert fake.last().path == "/health"
    with pytest.raises(PermanentProviderError, match="built-in SLIs are not supported"):
        kayenta.collect(CONTRACT_ROLLOUT, WINDOW)


def test_registry(fake: FakeKayenta) -> None:
    spec = MetricProviderSpec(type="kayenta", address=fake.url, secret_ref=SecretRef(env="K"))
    provider = provider_for(spec, env={"K": "user:pass"})
    assert isinstance(provider, KayentaProvider) and provider.is_online() is True
    assert fake.last().headers["authorization"] == "Basic dXNlcjpwYXNz"
    with pytest.raises(SpecError, match="needs the address"):
        provider_for(MetricProviderSpec(type="kayenta"))


def test_unreachable_submission_is_transient() -> None:
    down = KayentaProvider(f"http://{closed_address()}", timeout=1.0)
    with pytest.raises(TransientProviderError, match="unreachable"):
        down.query(metric("any"), CONTRACT_ROLLOUT, WINDOW)
    assert down.pending == {}


class TestKayentaContract(ProviderContract):
    @pytest.fixture
    def case(self, fake: FakeKayenta) -> ContractCase:
        fake.reset()
        fake.configs["fraud-canary"] = KayentaConfig(score=96.0, polls_running=1)
        fake.configs["fraud-nodata"] = KayentaConfig(outcome="nodata", score=0.0)

        def make(address: str) -> KayentaProvider:
            return KayentaProvider(address, secret=TOKEN, timeout=1.0, poll_interval=0.01)

        return ContractCase(
            provider=KayentaProvider(fake.url, secret=TOKEN, poll_interval=0.01),
            known=metric("{{ name }}-canary"),
            window=WINDOW,
            expected=96.0,
            make=make,
            empty=metric("{{ name }}-nodata"),
            invalid=metric("no-such-config"),
            secret=TOKEN,
        )
