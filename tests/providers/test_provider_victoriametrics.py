"""VictoriaMetrics through the Prometheus-API provider (``type: victoriametrics``), for real.

Router metrics are imported with timestamps (``/api/v1/import/prometheus``, one sample per
15 s tick ``k`` at ``T0 + 15 k``, 20 minutes in the past), then the built-in SLIs
(``collect``) and custom MetricsQL/PromQL queries are read through the provider and compared
with counts computed from the same samples. VictoriaMetrics' ``increase()`` does not
extrapolate (it subtracts the last sample before the window), so the counts are exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from provider_contract import CONTRACT_ROLLOUT, ContractCase, ProviderContract
from tsdb_fixtures import VictoriaMetrics
from tsdb_fixtures import victoriametrics as victoriametrics  # session fixture

from modelcanary.analysis._measurements import (
    Counts,
    LatencyHistogram,
    NoData,
    PredictionHistogram,
    Scalar,
    Window,
)
from modelcanary.errors import PermanentProviderError
from modelcanary.providers import PrometheusProvider, provider_for
from modelcanary.spec import MetricProviderSpec, MetricSpec

R = CONTRACT_ROLLOUT.name  # "fraud"
STEP = 15
T0 = (int(time.time()) // 60) * 60 - 1200
TICKS = range(13)  # k = 0..12
WINDOW = Window(T0 + 4 * STEP, T0 + 10 * STEP)
"""90 s: VictoriaMetrics counts the samples of ticks 5..10 against tick 4."""
SECRET = "vm-user:vm-s3cret"  # VictoriaMetrics ignores it; it must stay hidden
P = "modelcanary_router"
Series = tuple[str, dict[str, str], Callable[[int], float | None]]


def _reset(k: int) -> float:
    """A counter that restarts after tick 7 (router restart): 3 per tick, from 0 again."""
    return float(3 * k if k <= 7 else 3 * (k - 7))


def _series() -> list[Series]:
    def req(version: str, status: str, mirrored: str = "false") -> dict[str, str]:
        return {"rollout": R, "version": version, "status": status, "mirrored": mirrored}

    def side(version: str, **extra: str) -> dict[str, str]:
        return {"rollout": R, "version": version, "mirrored": "false", **extra}

    out: list[Series] = [
        (f"{P}_requests_total", req("champion", "200"), lambda k: 10.0 * k),
        (f"{P}_requests_total", req("champion", "503"), lambda k: float(k)),
        (f"{P}_requests_total", req("challenger", "200"), lambda k: 4.0 * k),
        # born at tick 6 (its first error): counted from 0
        (f"{P}_requests_total", req("challenger", "500"), lambda k: k - 5.0 if k >= 6 else None),
        (f"{P}_requests_total", req("challenger", "200", "true"), _reset),
        (
            f"{P}_requests_total",
            {**req("challenger", "500"), "rollout": "other"},
            lambda k: 9.0 * k,
        ),
    ]
    for le, chall, champ in (("0.01", 2, 5), ("0.1", 3, 9), ("+Inf", 4, 10)):
        bucket = f"{P}_request_duration_seconds_bucket"
        out.append((bucket, side("challenger", le=le), lambda k, c=chall: float(c * k)))
        out.append((bucket, side("champion", le=le), lambda k, c=champ: float(c * k)))
    for version, fraud, ok in (("challenger", 1, 3), ("champion", 2, 4)):
        pred = f"{P}_predictions_total"
        out.append((pred, side(version, label="fraud"), lambda k, n=fraud: float(n * k)))
        out.append((pred, side(version, label="ok"), lambda k, n=ok: float(n * k)))
    return out


def _text() -> str:
    lines = []
    for name, labels, value in _series():
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for k in TICKS:
            v = value(k)
            if v is not None:
                lines.append(f"{name}{{{text}}} {v:g} {(T0 + STEP * k) * 1000}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def vm(victoriametrics: VictoriaMetrics) -> VictoriaMetrics:
    victoriametrics.import_prometheus(_text())
    return victoriametrics


@pytest.fixture
def provider(vm: VictoriaMetrics) -> Iterator[PrometheusProvider]:
    spec = MetricProviderSpec(type="victoriametrics", address=vm.url)
    p = provider_for(spec, series_points=0)
    assert isinstance(p, PrometheusProvider) and p.name == "victoriametrics"
    yield p
    p.close()


def test_built_in_counts_are_exact(provider: PrometheusProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, WINDOW)
    # ticks 4 -> 10: champion 200 +60, 503 +6
    assert data.champion.counts == Counts(66, 6, "champion")
    # challenger 200 +24; 500 born at tick 6 (1) -> 5; mirrored, restarted after tick 7: 9+9
    assert data.challenger.counts == Counts(24 + 5 + 18, 5, "challenger")
    assert data.mirrored is True
    inf = float("inf")
    assert data.challenger.latencies == LatencyHistogram((10.0, 100.0, inf), (12, 18, 24))
    assert data.champion.latencies == LatencyHistogram((10.0, 100.0, inf), (30, 54, 60), "champion")
    assert data.challenger.predictions == PredictionHistogram((6, 18), labels=("fraud", "ok"))
    assert data.champion.predictions == PredictionHistogram(
        (12, 24), labels=("fraud", "ok"), side="champion"
    )


def test_per_step_series_for_mann_whitney(vm: VictoriaMetrics) -> None:
    p = PrometheusProvider(vm.url, name="victoriametrics", series_points=3, min_series_step=30)
    series = p.collect(CONTRACT_ROLLOUT, WINDOW).challenger.series
    # steps of 30 s ending at ticks 6, 8, 10: (8 + 1 born + 6) then (8 + 2 + 6) twice
    np.testing.assert_allclose(series["error-rate"].values, [1 / 15, 2 / 16, 2 / 16])
    np.testing.assert_allclose(series["throughput"].values, [15 / 30, 16 / 30, 16 / 30])


def test_custom_queries(provider: PrometheusProvider) -> None:
    q = MetricSpec(
        name="champion-requests",
        query=f'sum(increase({P}_requests_total{{rollout="{{{{ name }}}}",'
        'version="{{ variables.v }}"}[{{ interval }}]))',
        template_variables={"v": "champion"},
    )
    assert provider.query(q, CONTRACT_ROLLOUT, WINDOW) == Scalar(66.0)
    ratio = MetricSpec(
        name="champion-error-ratio",
        query=f'sum(increase({P}_requests_total{{rollout="{{{{ name }}}}",version="champion",'
        f'status=~"5.."}}[{{{{ interval }}}}])) / sum(increase({P}_requests_total'
        '{rollout="{{ name }}",version="champion"}[{{ interval }}]))',
    )
    got = provider.query(ratio, CONTRACT_ROLLOUT, WINDOW)
    assert isinstance(got, Scalar) and got.value == pytest.approx(6 / 66)
    none = MetricSpec(name="none", query=f'sum({P}_requests_total{{rollout="nobody"}})')
    assert isinstance(provider.query(none, CONTRACT_ROLLOUT, WINDOW), NoData)
    several = MetricSpec(name="several", query=f'{P}_requests_total{{rollout="{{{{ name }}}}"}}')
    with pytest.raises(PermanentProviderError, match="series"):
        provider.query(several, CONTRACT_ROLLOUT, WINDOW)


def test_window_before_the_data_is_no_data(provider: PrometheusProvider) -> None:
    data = provider.collect(CONTRACT_ROLLOUT, Window(T0 - 3600, T0 - 1800))
    assert isinstance(data.challenger.counts, NoData)
    assert isinstance(data.champion.latencies, NoData)


class TestVictoriaMetricsContract(ProviderContract):
    @pytest.fixture
    def case(self, vm: VictoriaMetrics) -> ContractCase:
        def make(address: str) -> PrometheusProvider:
            return PrometheusProvider(address, name="victoriametrics", timeout=1.0, secret=SECRET)

        return ContractCase(
            provider=make(vm.url),
            known=MetricSpec(
                name="known",
                query=f'sum(increase({P}_requests_total{{rollout="{{{{ name }}}}",'
                'version="champion"}[{{ interval }}]))',
            ),
            window=WINDOW,
            expected=66.0,
            make=make,
            empty=MetricSpec(
                name="none", query=f'{P}_requests_total{{rollout="no-{{{{ name }}}}"}}'
            ),
            invalid=MetricSpec(name="broken", query="sum(up"),
            secret=SECRET,
        )
