"""RolloutMetrics: each rollout (and custom metric) is measured by the backend it names."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from controller_fixtures import PromAPI, rollout_doc
from ports import closed_url

from modelcanary.analysis._measurements import NoData, Scalar, Window
from modelcanary.controller._metric_backends import RolloutMetrics
from modelcanary.errors import SpecError
from modelcanary.spec import MetricProviderSpec, ModelRollout
from modelcanary.spec._validate import parse_rollout


@pytest.fixture(scope="module")
def proms() -> Iterator[tuple[PromAPI, PromAPI]]:
    first, second = PromAPI(), PromAPI()
    yield first, second
    first.close()
    second.close()


def _rollout(
    address: str | None, name: str = "podinfo", namespace: str = "default"
) -> ModelRollout:
    doc = rollout_doc(name, prometheus=address or "http://127.0.0.1:9")
    doc["metadata"]["namespace"] = namespace
    if address is None:
        del doc["spec"]["metricsProvider"]
    return parse_rollout(doc)


def _window() -> Window:
    now = time.time()
    return Window(now - 30, now)


def test_each_rollout_queries_its_own_backend(proms: tuple[PromAPI, PromAPI]) -> None:
    a, b = proms
    a.values["errors_query"], b.values["errors_query"] = 0.5, 0.01
    metrics = RolloutMetrics()
    one, two = _rollout(a.url, "one"), _rollout(b.url, "two")
    assert metrics.query(one.spec.analysis.metrics[0], one, _window()) == Scalar(0.5)
    assert metrics.query(two.spec.analysis.metrics[0], two, _window()) == Scalar(0.01)
    assert any("rollout='one'" in q for q in a.queries)
    assert not any("rollout='one'" in q for q in b.queries)
    # built-in SLIs: no router series in this backend -> no data, not an error
    assert isinstance(metrics.collect(one, _window()).challenger.counts, NoData)


def test_default_backend_for_rollouts_naming_none(proms: tuple[PromAPI, PromAPI]) -> None:
    a, _ = proms
    a.values["errors_query"] = 0.25
    metrics = RolloutMetrics(default=MetricProviderSpec(type="prometheus", address=a.url))
    rollout = _rollout(None)
    metric = rollout.spec.analysis.metrics[0]
    assert metrics.query(metric, rollout, _window()) == Scalar(0.25)


def test_no_backend_is_a_spec_error_naming_the_field() -> None:
    rollout = _rollout(None)
    with pytest.raises(SpecError) as caught:
        RolloutMetrics().collect(rollout, _window())
    assert "spec.metricsProvider" in str(caught.value.issues[0].path)


def test_embedded_provider_is_refused_in_a_cluster() -> None:
    doc = rollout_doc(prometheus="http://127.0.0.1:9")
    doc["spec"]["metricsProvider"] = {"type": "embedded"}
    with pytest.raises(SpecError) as caught:
        RolloutMetrics().collect(parse_rollout(doc), _window())
    assert "spec.metricsProvider.type" in caught.value.issues[0].path


def test_secret_reference_is_read_from_the_rollout_namespace(
    proms: tuple[PromAPI, PromAPI],
) -> None:
    a, _ = proms
    a.values["errors_query"] = 0.125
    asked: list[tuple[str, str, str]] = []

    def reader(name: str, key: str, namespace: str) -> str | None:
        asked.append((name, key, namespace))
        return "s3cr3t" if key == "token" else None

    doc = rollout_doc(prometheus=a.url)
    doc["metadata"]["namespace"] = "team-a"
    doc["spec"]["metricsProvider"]["secretRef"] = {"name": "prom-auth"}
    rollout = parse_rollout(doc)
    metrics = RolloutMetrics(secret_reader=reader)
    assert metrics.query(rollout.spec.analysis.metrics[0], rollout, _window()) == Scalar(0.125)
    assert ("prom-auth", "token", "team-a") in asked
    assert "Bearer s3cr3t" in a.authorizations


def test_the_engine_can_ask_which_backends_a_rollout_uses(proms: tuple[PromAPI, PromAPI]) -> None:
    from modelcanary.ports import MetricProvider

    a, _ = proms
    metrics = RolloutMetrics()
    assert isinstance(metrics, MetricProvider)  # the engine's one port, nothing more
    [up] = metrics.backends(_rollout(a.url))  # checked with is_online() at initialisation
    assert up.is_online() and up.last_error == ""
    [down] = metrics.backends(_rollout(closed_url(), "down"))
    assert not down.is_online() and down.last_error
