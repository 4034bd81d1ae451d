"""A seeded scenario on the session's real Prometheus, shared by the scheme tests: series are
written as zeros, then as their values, each batch stamped by a marker counter, so the window
read back spans exactly one step of every series; and histogram_quantile written out by hand."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prom_fixtures import Exporter, Prometheus, wait_until

from modelcanary.analysis import Window


@dataclass(frozen=True)
class Scenario:
    prometheus: Prometheus
    window: Window


def marker_stamps(
    prometheus: Prometheus, marker: str, suite: str, value: float | None
) -> list[float]:
    """When Prometheus scraped ``marker{suite=...}`` at ``value`` (any value: None) in the
    last minute."""
    rows = prometheus.query(f'{marker}{{suite="{suite}"}}[1m]')
    return [
        float(t)
        for t, v in (rows[0]["values"] if rows else [])
        if value is None or float(v) == value
    ]


def seeded_scenario(
    prometheus: Prometheus,
    exporter: Exporter,
    seed: Callable[[Exporter, int], None],
    marker: str,
    suite: str,
) -> Scenario:
    """``seed(exporter, 0)`` until scraped twice, then ``seed(exporter, 1)`` until scraped:
    the window from before the zeros to the first scrape of the values."""
    start = time.time() - 1.0
    with exporter.batch():
        seed(exporter, 0)
    wait_until(
        lambda: len(marker_stamps(prometheus, marker, suite, 0.0)) >= 2,
        what="two scrapes of the zeros",
    )
    with exporter.batch():
        seed(exporter, 1)
    end = wait_until(
        lambda: min(marker_stamps(prometheus, marker, suite, 1.0), default=0.0), what="traffic"
    )
    return Scenario(prometheus, Window(start, end))


def hand_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """Prometheus' histogram_quantile, written out for the test."""
    rank = q * cumulative[-1]
    i = next(i for i, c in enumerate(cumulative) if c >= rank)
    lower, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], cumulative[i - 1])
    return lower + (bounds[i] - lower) * (rank - below) / (cumulative[i] - below)
