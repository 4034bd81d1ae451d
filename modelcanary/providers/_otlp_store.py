"""An in-memory, thread-safe store of OTLP metric series, and the process-wide one.

:class:`OTLPStore` ingests export requests (decoded by :mod:`._otlp_decode`) and keeps their
points per series (:mod:`._otlp_series`: metric name + resource, scope and point attributes)
for ``retention`` seconds, at most ``max_series`` series. :meth:`OTLPStore.series` hands out
copies holding what the window functions of :mod:`._otlp_series` need for a window.
:func:`default_store` is the store that ``type: opentelemetry`` without an address reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._otlp_decode import decode_request
from ._otlp_series import Series, SeriesKey


class OTLPStore:
    """Thread-safe in-memory series, pruned to ``retention`` seconds, at most ``max_series``."""

    def __init__(self, retention: float = 3600.0, max_series: int = 50_000) -> None:
        self.retention = retention
        self.max_series = max_series
        self._series: dict[SeriesKey, Series] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OTLPStore({len(self._series)} series, retention={self.retention:g}s)"

    def ingest(self, body: Mapping[str, Any]) -> tuple[int, int, str]:
        """Store an export request: (accepted points, rejected points, why some were rejected)."""
        pairs, rejected, why = decode_request(body)
        accepted = 0
        cutoff = time.time() - self.retention
        with self._lock:
            for template, point in pairs:
                series = self._series.get(template.key)
                if series is None:
                    if len(self._series) >= self.max_series:
                        rejected += 1
                        why = why or f"store full ({self.max_series} series)"
                        continue
                    series = self._series[template.key] = template
                elif series.cumulative != template.cumulative:
                    rejected += 1
                    why = why or f"metric {template.name!r} changed aggregationTemporality"
                    continue
                series.add(point)
                _prune(series, cutoff)
                accepted += 1
        return accepted, rejected, why

    def add(self, series: Series) -> None:
        """Store a whole series (merging its points into an existing one)."""
        with self._lock:
            mine = self._series.setdefault(series.key, Series(**{**series.__dict__, "points": []}))
            for p in series.points:
                mine.add(p)

    def series(self, names: Sequence[str], start: float, end: float) -> list[Series]:
        """Copies of the series named ``names``: the last point at or before ``start`` and the
        points in ``(start, end]`` (what the window functions need)."""
        wanted = set(names)
        out = []
        with self._lock:
            for s in self._series.values():
                if s.name in wanted:
                    before, inside = s.window(start, end)
                    points = ([before] if before else []) + inside
                    out.append(
                        Series(s.name, s.kind, dict(s.attributes), s.cumulative, s.unit, points)
                    )
        return out

    def names(self) -> list[str]:
        """Metric names held."""
        with self._lock:
            return sorted({s.name for s in self._series.values()})

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._series.clear()


def _prune(series: Series, cutoff: float) -> None:
    """Drop points older than ``cutoff`` but keep the newest of them (a window's baseline)."""
    old = 0
    while old + 1 < len(series.points) and series.points[old + 1].time < cutoff:
        old += 1
    if old:
        del series.points[:old]


_DEFAULT = OTLPStore()


def default_store() -> OTLPStore:
    """The process-wide store that ``type: opentelemetry`` without an address reads."""
    return _DEFAULT


__all__ = ["OTLPStore", "default_store"]
