"""The provider registry: names, defaults, credentials; unknown names list the known ones."""

from __future__ import annotations

import pytest

from modelcanary.errors import SpecError, TransientProviderError
from modelcanary.local._recorder import Recorder
from modelcanary.ports import MetricProvider
from modelcanary.providers import (
    PROVIDERS,
    EmbeddedProvider,
    PrometheusProvider,
    provider_for,
)
from modelcanary.providers._credentials import authorization, resolve_secret
from modelcanary.providers._dispatch import MetricDispatch
from modelcanary.spec import MetricProviderSpec, MetricSpec, ModelRollout, SecretRef
from modelcanary.spec._metric_spec import PROVIDER_TYPES


def spec(**fields: object) -> MetricProviderSpec:
    return MetricProviderSpec.model_validate(fields)


def test_registry_names() -> None:
    assert set(PROVIDERS) == set(PROVIDER_TYPES)  # every type the spec accepts has a provider


def test_no_spec_means_the_default() -> None:
    default = EmbeddedProvider(Recorder())
    assert provider_for(None, default=default) is default
    assert isinstance(provider_for(None, recorder=Recorder()), EmbeddedProvider)
    with pytest.raises(SpecError, match="no metrics provider"):
        provider_for(None)


def test_embedded() -> None:
    default = EmbeddedProvider(Recorder())
    assert provider_for(spec(type="embedded"), default=default) is default
    rec = Recorder()
    made = provider_for(spec(type="embedded"), recorder=rec)
    assert isinstance(made, EmbeddedProvider) and made.recorder is rec
    with pytest.raises(SpecError, match="recorder") as info:
        provider_for(spec(type="embedded"), path="spec.metricsProvider")
    assert info.value.path == "spec.metricsProvider.type"


@pytest.mark.parametrize("name", ["prometheus", "victoriametrics"])
def test_prometheus_api_providers(name: str) -> None:
    made = provider_for(
        spec(type=name, address="http://prom:9090", headers={"X-Scope-OrgID": ["t1"]}),
        timeout=2.0,
        rollout_label="app",
    )
    assert isinstance(made, PrometheusProvider) and isinstance(made, MetricProvider)
    assert made.name == name and made.rollout_label == "app" and made.api.timeout == 2.0


def test_aliases_without_a_spec_type_build_too() -> None:
    from modelcanary.providers import ProviderContext

    for name in ("thanos", "mimir"):
        made = PROVIDERS[name](MetricProviderSpec(address="http://q:9090"), ProviderContext())
        assert made.name == name


def test_unknown_type_lists_known_names() -> None:
    with pytest.raises(SpecError) as info:
        # the spec rejects unknown types first; a runtime registry may still lack one
        provider_for(MetricProviderSpec.model_construct(type="wavefront", address="http://w"))
    text = str(info.value)
    assert "'wavefront'" in text
    assert ", ".join(sorted(PROVIDERS)) in text


def test_address_is_required() -> None:
    with pytest.raises(SpecError, match="needs an address"):
        provider_for(spec(type="prometheus"))


def test_secret_from_environment() -> None:
    ref = {"env": "PROM_TOKEN"}
    made = provider_for(
        spec(type="prometheus", address="http://p:9090", secretRef=ref), env={"PROM_TOKEN": "tok"}
    )
    assert isinstance(made, PrometheusProvider)
    assert ("Authorization", "Bearer tok") in made.api._headers
    with pytest.raises(SpecError, match="PROM_TOKEN is not set") as info:
        provider_for(spec(type="prometheus", address="http://p:9090", secretRef=ref), env={})
    assert info.value.path == "provider.secretRef.env"


def test_secret_from_kubernetes() -> None:
    values = {("prom", "username"): "alice", ("prom", "password"): "pw"}

    def reader(name: str, key: str, namespace: str) -> str | None:
        assert namespace == "ml"
        return values.get((name, key))

    secret = resolve_secret(SecretRef(name="prom"), secret_reader=reader, namespace="ml")
    assert authorization(secret) == "Basic YWxpY2U6cHc="
    values[("prom", "token")] = "t"
    assert (
        resolve_secret(SecretRef(name="prom"), secret_reader=reader, namespace="ml") == "Bearer t"
    )
    with pytest.raises(SpecError, match="no Kubernetes secret reader"):
        resolve_secret(SecretRef(name="prom"))
    with pytest.raises(SpecError, match="has no 'token'"):
        resolve_secret(SecretRef(name="other"), secret_reader=reader, namespace="ml")

    def broken(name: str, key: str, namespace: str) -> str | None:
        raise RuntimeError("forbidden: secret value s3cr3t")

    with pytest.raises(TransientProviderError) as info:
        resolve_secret(SecretRef(name="prom"), secret_reader=broken)
    assert "s3cr3t" not in str(info.value)


def test_dispatch_builds_each_provider_once() -> None:
    default = EmbeddedProvider(Recorder())
    dispatch = MetricDispatch(default=default)
    rollout = ModelRollout.model_validate(
        {
            "metadata": {"name": "r", "namespace": "ml"},
            "spec": {
                "champion": {"url": "http://127.0.0.1:1"},
                "challenger": {"url": "http://127.0.0.1:2"},
                "analysis": {
                    "interval": "1m",
                    "stepWeights": [50],
                    "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                },
            },
        }
    )
    builtin = MetricSpec(name="error-rate")
    assert dispatch.for_metric(builtin, rollout) is default
    provider = {"type": "prometheus", "address": "http://p:9090"}
    a = MetricSpec.model_validate({"name": "a", "query": "sum(up)", "provider": provider})
    b = MetricSpec.model_validate({"name": "b", "query": "sum(up)", "provider": provider})
    first = dispatch.for_metric(a, rollout)
    assert isinstance(first, PrometheusProvider) and dispatch.for_metric(b, rollout) is first
