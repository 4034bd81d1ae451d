"""``ClusterRun.metrics(sli)``: the SLI series from a real Prometheus (/usr/bin/prometheus)
scraping two real model servers (``ModelServer`` on loopback, the challenger with injected
errors and latency), labelled as the operator's pods in namespace ``ml``; read with
prometheus-api-client through the engine's own queries for the ``modelcanary-model`` scheme.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pandas as pd
import pytest
from cluster_fixtures import PodPrometheus, model_servers, pod_prometheus
from kube_fixtures import KubeApi
from notebook_fixtures import TinyModels, save_models
from ports import closed_url

import modelcanary as mc
from modelcanary.errors import ModelCanaryError, SpecError
from modelcanary.notebook import ClusterRun
from modelcanary.serving import Faults

ERROR_RATE, ADDED_MS = 0.25, 30.0


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodPrometheus]:
    """Prometheus scraping the champion and the challenger (failing, slower) under load."""
    models: TinyModels = save_models(tmp_path_factory.mktemp("cluster-models"))
    faults = Faults(error_rate=ERROR_RATE, latency_ms=ADDED_MS, seed=7)
    with (
        model_servers(models.champion, models.challenger, models.payloads[0], faults) as servers,
        pod_prometheus(*servers) as server,
    ):
        yield server


@pytest.fixture
def run(ml_kube: KubeApi, kubeconfig: str, prometheus: PodPrometheus) -> ClusterRun:
    rollout = (
        mc.Rollout("fraud")
        .champion("models:/fraud@champion")
        .challenger("models:/fraud/4")
        .router("istio", port=8080)
        .metrics_provider("prometheus", prometheus.url)
        .canary(steps=[50], interval="30s")
        .slo(
            mc.sli.error_rate() < "1%",
            mc.sli.latency(p=99) < "500ms",
            mc.sli.custom(
                "challenger-5xx",
                'sum(rate(modelcanary_model_requests_total{namespace="{{ namespace }}",'
                'pod=~"{{ name }}-canary-.*",status="500"}[{{ interval }}]))',
            )
            < 1,
        )
    )
    return mc.cluster(kubeconfig=kubeconfig).submit(rollout)


def _finite(series: pd.Series) -> list[float]:
    return [float(v) for v in series if not math.isnan(v)]


def test_error_rate_series_of_both_versions(run: ClusterRun) -> None:
    frame = run.metrics("error-rate", window="1m", step="2s")
    assert list(frame.columns) == ["champion", "challenger"]
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"
    champion, challenger = _finite(frame["champion"]), _finite(frame["challenger"])
    assert len(champion) >= 5 and len(challenger) >= 5
    assert set(champion) == {0.0}  # the champion never failed
    mean = sum(challenger) / len(challenger)
    assert 0.1 < mean < 0.45, mean  # ~25 % injected 500s
    query = frame.attrs["queries"]["requests"]  # the engine's PromQL for the pods scheme
    assert "modelcanary_model_requests_total" in query and "fraud-canary" in query
    assert "increase(" in query and "[2s]" in query


def test_latency_series_and_builder_slis(run: ClusterRun) -> None:
    frame = run.metrics(mc.sli.latency(p=99), window="1m", step="3s")
    champion, challenger = _finite(frame["champion"]), _finite(frame["challenger"])
    assert champion and challenger
    assert min(challenger) >= ADDED_MS * 0.8  # the injected 30 ms, in milliseconds
    assert sorted(champion)[len(champion) // 2] < sorted(challenger)[len(challenger) // 2]
    throughput = run.metrics("throughput", window="1m", step="3s")
    assert min(_finite(throughput["champion"])) > 1  # requests per second


def test_custom_query_and_raw_series(run: ClusterRun) -> None:
    custom = run.metrics("challenger-5xx", window="1m", step="2s")
    assert list(custom.columns) == ["value"]
    assert max(custom["value"]) > 0
    assert "[2s]" in custom.attrs["queries"]["challenger-5xx"]  # {{ interval }} = the step
    assert 'pod=~"fraud-canary-.*"' in custom.attrs["queries"]["challenger-5xx"]

    raw = run.metrics("error-rate", window="1m", step="2s", raw=True)
    assert {"version", "status", "value"} <= set(raw.columns)
    assert set(raw["version"]) == {"champion", "challenger"}
    assert set(raw[raw["version"] == "challenger"]["status"]) >= {"200", "500"}


def test_what_cannot_be_charted_is_a_clear_error(run: ClusterRun) -> None:
    with pytest.raises(SpecError) as drift:
        run.metrics("prediction-drift")
    assert "has no time series" in str(drift.value) and "error-rate" in str(drift.value)
    with pytest.raises(SpecError) as unknown:
        run.metrics("latency-p42")
    assert "no SLI named 'latency-p42'" in str(unknown.value)
    assert "challenger-5xx" in str(unknown.value)  # the rollout's own metrics are listed
    with pytest.raises(SpecError) as window:
        run.metrics("error-rate", window="soon")
    assert "window" in str(window.value)
    with pytest.raises(ModelCanaryError) as down:
        run.metrics("error-rate", window="1m", prometheus=(closed := closed_url()))
    assert f"cannot reach Prometheus at {closed}" in str(down.value)
    assert "port-forward" in str(down.value)
