"""Fixtures: one real Prometheus per session scraping a synthetic exporter and a router port.

Both targets are configured before Prometheus starts: a target added later is first scraped
~5 s later (Prometheus batches discovery updates), once per new target.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ports import reserved_port
from prom_fixtures import Exporter, Prometheus, running_prometheus

ROUTER_METRICS_PATH = "/_modelcanary/metrics"


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    yield server
    server.close()


@pytest.fixture(scope="session")
def router_port() -> int:
    """A port reserved for the LocalRouter of the agreement test: in Prometheus's config from
    its start, bound by the router later; held meanwhile so no other socket is handed it."""
    return reserved_port()


@pytest.fixture(scope="session")
def prometheus(exporter: Exporter, router_port: int) -> Iterator[Prometheus]:
    jobs = {
        "synthetic": ([exporter.target], "/metrics"),
        "router": ([f"127.0.0.1:{router_port}"], ROUTER_METRICS_PATH),
    }
    with running_prometheus(jobs) as server:
        yield server
