"""Chart fixes in the widget and the HTML report (both drawn from ``chart_data``): the traffic
line ends at the status's weights (0 % after a rollback), no champion legend entry without a
champion series, readable full-width layouts, band levels rounded for people, and distinct
labels when one SLI is checked both absolutely and against the champion."""

from __future__ import annotations

import re

import pytest
from notebook_fixtures import FixedRun, rolled_back_status

import modelcanary as mc
import modelcanary._report as report
from modelcanary.analysis._chartdata import chart_data
from modelcanary.notebook._widget import RunWidget
from modelcanary.spec._status import CheckRecord, RolloutStatus


def _spec() -> mc.ModelRollout:
    """latency p99 checked twice: absolute (ms) and relative to the champion (ratio)."""
    return (
        mc.Rollout("charts")
        .champion("/models/champion")
        .challenger("/models/challenger")
        .canary(steps=[25, 50], interval="1s")
        .slo(
            mc.sli.error_rate() < "1%",
            mc.sli.latency(p=99) < "500ms",
            mc.sli.latency(p=99).relative_to_champion("ratio") < 1.2,
        )
        .build()
    )


def _checks(second: int) -> list[CheckRecord]:
    return [
        CheckRecord(metric="error-rate", value=0.002, max=0.01, judge="sequential", verdict="pass"),
        CheckRecord(metric="latency-p99", value=120.0 + second, max=500.0, verdict="pass"),
        CheckRecord(
            metric="latency-p99@champion",
            value=1.05,
            champion_value=110.0,
            max=1.2,
            verdict="pass",
        ),
    ]


def _rolled_back() -> RolloutStatus:
    """Two intervals at 25 %, then the analysis failed: the challenger is back at 0 %."""
    return rolled_back_status(_checks, message="rolled back")


def _widget(status: RolloutStatus) -> RunWidget:
    return RunWidget(FixedRun(_spec(), status, done=True))  # type: ignore[arg-type]


def test_the_traffic_line_drops_to_zero_after_a_rollback() -> None:
    status = _rolled_back()
    traffic = chart_data(_spec().spec.analysis, status).traffic
    assert traffic.challenger[-1] == 0 and traffic.champion[-1] == 100  # what the header says
    assert traffic.times[-1] == "2026-01-01T00:00:03Z"  # at the phase change
    assert traffic.challenger[:-1] == (25, 25)

    champion, challenger, _mirror = _widget(status).weights.data
    assert list(challenger.y)[-1] == 0 and list(champion.y)[-1] == 100
    (drawn,) = (
        t for t in report.weights_figure(traffic_data(status)).data if "challenger" in t.name
    )
    assert list(drawn.y)[-1] == 0

    # a promotion keeps the last recorded split as the end of the challenger's line
    promoted = status.model_copy(update={"phase": "Succeeded", "outcome": "promoted"})
    assert chart_data(_spec().spec.analysis, promoted).traffic.challenger == (25, 25)


def traffic_data(status: RolloutStatus) -> object:
    return chart_data(_spec().spec.analysis, status)


def test_no_champion_legend_entry_without_a_champion_series() -> None:
    widget = _widget(_rolled_back())
    absolute = widget.metrics["latency-p99"]
    _value, champion = absolute.data
    assert champion.visible is False and absolute.showlegend is False
    relative = widget.metrics["latency-p99@champion"]
    assert relative.data[1].visible is True and relative.showlegend is True
    assert list(relative.data[1].y) == [110.0, 110.0]

    figures = {f.layout.title.text: f for f in report.metric_figures(traffic_data(_rolled_back()))}
    plain = figures["latency-p99 (ms)"]
    assert [t.name for t in plain.data] == ["challenger"] and plain.layout.showlegend is False
    compared = figures["latency-p99 vs champion (ratio)"]
    assert [t.name for t in compared.data] == ["challenger", "champion"]
    assert compared.layout.showlegend is True


def test_metric_labels_are_distinct_and_say_what_is_compared() -> None:
    status = _rolled_back()
    data = chart_data(_spec().spec.analysis, status)
    labels = [chart.label for chart in data.metrics]
    assert labels == [
        "error-rate (fraction)",
        "latency-p99 (ms)",
        "latency-p99 vs champion (ratio)",
    ]
    widget = _widget(status)
    titles = [panel.title for panel in widget.metrics.values()]
    assert titles == labels  # the widget's chart titles
    assert [f.layout.title.text for f in report.metric_figures(data)] == labels
    # the band chart and the p-value lines use the same names
    assert [t.name for t in widget.bands.data if t.name] == [
        "error-rate (fraction) band",
        "error-rate (fraction) difference",
    ]
    assert "<b>latency-p99 vs champion (ratio)</b>" not in widget.pvalues.value  # no p there
    assert "<b>error-rate (fraction)</b>" in widget.pvalues.value


def test_band_levels_are_rounded_for_people() -> None:
    from modelcanary.analysis._chartdata import level_text

    assert level_text(0.05 / 6) == "99.2"  # was "99.1667"
    assert level_text(0.05) == "95" and level_text(0.025) == "97.5"
    assert level_text(0.0001) == "99.99"  # never rounded up to 100
    status = _rolled_back()
    (band,) = chart_data(_spec().spec.analysis, status).bands
    raw = f"{(1 - band.alpha) * 100:g}"
    assert "." in raw and len(raw.split(".")[1]) > 1  # the level has more than one decimal
    widget = _widget(status)
    text = widget.pvalues.value
    assert f"{band.level} % band" in text and raw not in text
    assert re.search(r"\d+\.\d % band", text)
    hover = widget.bands.data[2].hovertemplate
    assert f"<extra>{band.level} %</extra>" in hover
    figure = report.band_figure(chart_data(_spec().spec.analysis, status))
    assert figure is not None and f"({band.level} % band)" in figure.data[0].name


@pytest.mark.parametrize("which", ["widget", "report"])
def test_charts_take_the_full_width_with_readable_date_ticks(which: str) -> None:
    status = _rolled_back()
    if which == "widget":
        widget = _widget(status)
        assert widget.view.layout.width == "100%"
        # one figure, a panel per chart (plotly's bundle once): plotly draws it before it is
        # in the page (at 700 px), so it re-measures on resize, and the hidden resizer in the
        # view sends that event once attached and again after charts were added (tick)
        assert widget.figure._config.get("responsive") is True
        assert widget.view.children[-1] is widget.resizer
        assert "resize" in widget.resizer._esm and widget.resizer.tick == 1  # charts added
        assert widget.figure.layout.width is None  # sized by its container, not fixed
        assert widget.figure.layout.margin.l >= 40
        assert widget.bands is not None
        for panel in [widget.weights, *widget.metrics.values(), widget.bands]:
            assert panel.xaxis.automargin is True and list(panel.xaxis.domain) == [0, 1]
            assert panel.bottom >= 40  # px under the plot: two-line date ticks get their room
            assert panel.legend.y > panel.yaxis.domain[1]  # above the plot, clear of ticks
        return
    else:
        data = chart_data(_spec().spec.analysis, status)
        band = report.band_figure(data)
        figures = [report.weights_figure(data), *report.metric_figures(data), band]
        page = report.render(_spec(), status)
        assert 'style="height:280px; width:100%;"' in page  # the traffic chart: full width
    for fig in figures:
        layout = fig.layout
        assert layout.width is None  # sized by its container, not fixed
        assert layout.xaxis.automargin is True  # two-line date ticks get their room
        assert layout.margin.b >= 40
        assert layout.legend.y is not None and layout.legend.y > 1  # above, clear of ticks
