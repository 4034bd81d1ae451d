"""The shared provider contract against the session's real Prometheus."""

from __future__ import annotations

import time

import pytest
from prom_fixtures import Prometheus, wait_until
from provider_contract import ContractCase, ProviderContract

from modelcanary.analysis._measurements import Window
from modelcanary.providers import PrometheusProvider
from modelcanary.spec import MetricSpec

SECRET = "ci-user:contract-s3cret"  # Prometheus ignores it; the contract checks it stays hidden


class TestPrometheusContract(ProviderContract):
    @pytest.fixture
    def case(self, prometheus: Prometheus) -> ContractCase:
        # the synthetic exporter is one target: once scraped, count(up{job=...}) is exactly 1
        wait_until(lambda: prometheus.query('up{job="synthetic"}'), what="first scrape")
        now = time.time()
        return ContractCase(
            provider=PrometheusProvider(prometheus.url, secret=SECRET),
            known=MetricSpec(name="targets", query='count(up{job="synthetic"})'),
            window=Window(now - 30, now),
            expected=1.0,
            make=lambda address: PrometheusProvider(address, timeout=1.0, secret=SECRET),
            empty=MetricSpec(name="none", query='up{job="no-such-job-{{ name }}"}'),
            invalid=MetricSpec(name="broken", query="sum(up"),
            secret=SECRET,
        )
