"""One plotly FigureWidget per rollout widget: every chart is a panel of it.

With plotly 7 each FigureWidget is an anywidget carrying plotly's whole JavaScript bundle
(~5 MB) as its own ``_esm`` trait (plotly/plotly.py#5143): a widget with a figure per chart sent
~20-25 MB over the kernel's websocket (and into a saved notebook) and busy pages stalled when
the charts arrived. The widget now has one figure with a panel per chart: one bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import ipywidgets
import pytest
from notebook_fixtures import FixedRun, rolled_back_status
from plotly.basewidget import BaseFigureWidget

import modelcanary as mc
from modelcanary.notebook._widget import RunWidget
from modelcanary.spec._status import CheckRecord, RolloutStatus

MB = 1_000_000


def _spec(llm: bool) -> mc.ModelRollout:
    spec = (
        mc.Rollout("one-figure")
        .champion("http://127.0.0.1:9001")
        .challenger("http://127.0.0.1:9002")
        .canary(steps=[25, 50], interval="1s")
        .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "500ms")
        .build()
    )
    if not llm:
        return spec
    inner = spec.spec
    versions = {
        side: getattr(inner, side).model_copy(update={"protocol": "openai"})
        for side in ("champion", "challenger")
    }
    return spec.model_copy(update={"spec": inner.model_copy(update=versions)})


def _status() -> RolloutStatus:
    """Two analysed intervals with a sequential error-rate band, then rolled back."""
    return rolled_back_status(
        lambda s: [
            CheckRecord(
                metric="error-rate", value=0.002, max=0.01, judge="sequential", verdict="pass"
            ),
            CheckRecord(metric="latency-p99", value=120.0 + s, max=500.0, verdict="pass"),
        ]
    )


def _tree(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _tree(child)


@pytest.mark.parametrize("llm", [False, True], ids=["model", "llm"])
def test_one_rollout_widget_sends_plotlys_bundle_once(llm: bool) -> None:
    widget = RunWidget(FixedRun(_spec(llm), _status(), done=True))  # type: ignore[arg-type]
    nodes = list(_tree(widget.view))
    figures = [node for node in nodes if isinstance(node, BaseFigureWidget)]
    esm = sum(len(str(getattr(node, "_esm", "") or "")) for node in nodes)
    assert len(figures) == 1, f"{len(figures)} FigureWidgets, {esm:,} bytes of ES modules"
    assert 4 * MB < esm < 6 * MB  # the bundle (~5 MB) once; a figure per chart sent 20-25 MB
    assert figures == [widget.figure]

    # ... and every chart is there, as a panel of that figure, top to bottom
    titles = [panel.title for panel in widget.charts.panels]
    charts = ["Traffic", "error-rate (fraction)", "latency-p99 (ms)"]
    charts.append("challenger - champion: always-valid band")
    if llm:
        charts += [
            "time to first token by prompt length",
            "time per output token by prompt length",
            "challenger win rate: always-valid band",
        ]
    assert titles == charts
    assert sum(len(panel.data) for panel in widget.charts.panels) == len(widget.figure.data)
    _champion, challenger, _mirror = widget.weights.data
    assert list(challenger.y)[-1] == 0  # the rollback, drawn on the traffic panel
    domains = [tuple(panel.yaxis.domain) for panel in widget.charts.panels]
    assert all(low < high for low, high in domains)
    assert all(a[0] > b[1] for a, b in pairwise(domains))  # stacked, not overlapping

    # the state a notebook saves (every widget model) holds the bundle once, not per chart
    state = json.dumps(ipywidgets.Widget.get_manager_state(widgets=nodes), default=str)
    assert len(state) < 6 * MB
