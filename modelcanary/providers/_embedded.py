"""Embedded metric provider: the local router's request recorder, no metrics backend needed.

It reads per-request records (latency, status, prediction, request id) straight from the
router, so latencies are exact samples, predictions are raw values and mirrored requests
pair up by request id (``prediction-agreement``). Custom queries need a query language and
a time-series store, which the recorder is not: they come back as an explicit ``NoData``
saying so, and the analysis applies the metric's noData policy.

When the recorder also counts mirror copies (asked for and dropped), each window's data
carries its ``mirror_coverage``: the analysis never passes a challenger on the copies it was
not sent. Requests keyed by user or session (the local router's affinity cookie) come with
``VersionData.units`` from the recorder, so the sequential judge tests per user.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, runtime_checkable

from ..analysis._measurements import IntervalData, MirrorCoverage, NoData, Scalar, Window
from ..spec import MetricSpec, ModelRollout
from ._online import OnlineCheck

CUSTOM_QUERY_REASON = (
    "the embedded provider answers built-in SLIs only; custom query {name!r} needs a query "
    "backend (set the metric's provider, e.g. provider: {{type: prometheus, address: ...}})"
)


@runtime_checkable
class IntervalSource(Protocol):
    """Anything that measures both versions over a window (the local router's Recorder)."""

    def interval_data(self, window: Window) -> IntervalData:
        """Measurements of both versions in ``window``."""
        ...


@runtime_checkable
class MirrorCounter(Protocol):
    """A source that also counts mirror copies asked for and dropped (the Recorder)."""

    def mirror_coverage(self, window: Window) -> MirrorCoverage:
        """Mirror copies asked for and dropped in ``window``."""
        ...


class EmbeddedProvider(OnlineCheck):
    """Built-in SLIs from an in-process recorder; always online."""

    name = "embedded"

    def __init__(self, recorder: IntervalSource) -> None:
        self.recorder = recorder

    def __repr__(self) -> str:
        return f"EmbeddedProvider({type(self.recorder).__name__})"

    def probe(self) -> str:
        """Nothing to ask: the recorder lives in this process, so it is always online."""
        return ""

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """The recorder's measurements of ``window`` (the recorder serves one rollout), with
        the window's mirror coverage when the recorder counts mirror copies."""
        data = self.recorder.interval_data(window)
        if data.mirror_coverage is None and isinstance(self.recorder, MirrorCounter):
            data = replace(data, mirror_coverage=self.recorder.mirror_coverage(window))
        return data

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """NoData with the reason: custom queries need a query backend such as Prometheus."""
        return NoData(CUSTOM_QUERY_REASON.format(name=metric.name))
