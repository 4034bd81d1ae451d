"""Generates the Grafana dashboard the Helm chart ships (``chart/files/grafana-dashboard.json``).

The dashboard is code, built with the Grafana Foundation SDK (``grafana-foundation-sdk``,
Grafana Labs' typed builders), never hand-written JSON. Run it after changing a panel::

    python operator/grafana/dashboard.py > operator/chart/files/grafana-dashboard.json

``tests/grafana/test_dashboard.py`` fails when the committed file differs from this output,
and runs every panel's PromQL against a real Prometheus scraping a real local rollout.

Every query reads the engine's self-metrics (``modelcanary_*``, served by the operator on
``--metrics-port`` and by the local router on ``/_modelcanary/metrics``): rollouts by phase,
weights over time, each SLI against its bounds, analysis verdicts, and the operator's ticks.
They do not depend on a mesh's or a model server's own metric names.
"""

from __future__ import annotations

import json
import sys
from typing import Any

UID = "modelcanary-rollouts"
TITLE = "modelcanary / rollouts"
SELECTOR = 'namespace=~"$namespace", name=~"$rollout"'
"""Label matchers every per-rollout panel applies (the dashboard's two variables)."""


def _datasource() -> Any:
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    return DataSourceRef(type_val="prometheus", uid="${datasource}")


def _query(expr: str, legend: str, ref: str = "A") -> Any:
    from grafana_foundation_sdk.builders import prometheus

    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .datasource(_datasource())
    )


def _count(what: str, gauge: int, ref: str) -> Any:
    """Rollouts whose ``modelcanary_rollout_status`` is ``gauge`` (0 when none: not "No data")."""
    return _query(
        f"count(modelcanary_rollout_status{{{SELECTOR}}} == {gauge}) or vector(0)", what, ref
    )


def _last() -> Any:
    """Reduce a series to its last value (stat and pie panels)."""
    from grafana_foundation_sdk.builders import common

    return common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _timeseries(title: str, unit: str, height: int, width: int, *queries: Any) -> Any:
    from grafana_foundation_sdk.builders import common, timeseries
    from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement

    legend = (
        common.VizLegendOptions()
        .show_legend(True)
        .display_mode(LegendDisplayMode.LIST)
        .placement(LegendPlacement.BOTTOM)
    )
    panel = (
        timeseries.Panel()
        .title(title)
        .unit(unit)
        .height(height)
        .span(width)
        .datasource(_datasource())
        .legend(legend)
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _variable(name: str, label: str, query: str) -> Any:
    from grafana_foundation_sdk.builders import dashboard
    from grafana_foundation_sdk.models.dashboard import VariableRefresh

    return (  # values re-read when the time range changes
        dashboard.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(_datasource())
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(".*")
        .multi(True)
    )


def panels() -> list[tuple[str, Any]]:
    """(row title, panel builder) in order: what the dashboard shows."""
    from grafana_foundation_sdk.builders import piechart, stat
    from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement

    per = f"{{{SELECTOR}}}"
    return [
        (
            "Rollouts",
            piechart.Panel()
            .title("Rollouts by phase")
            .height(8)
            .span(8)
            .datasource(_datasource())
            .reduce_options(_last())
            .legend(
                piechart.PieChartLegendOptions()
                .show_legend(True)
                .display_mode(LegendDisplayMode.LIST)
                .placement(LegendPlacement.RIGHT)
            )
            .with_target(
                _query(
                    f"sum by (phase) (modelcanary_rollout_phase{{{SELECTOR}}} == 1)", "{{phase}}"
                )
            ),
        ),
        (
            "Rollouts",
            stat.Panel()
            .title("Running / succeeded / failed")
            .height(8)
            .span(8)
            .datasource(_datasource())
            .reduce_options(_last())
            .with_target(_count("running", 0, "A"))
            .with_target(_count("succeeded", 1, "B"))
            .with_target(_count("failed", 2, "C")),
        ),
        (
            "Rollouts",
            _timeseries(
                "Failed checks in a row",
                "short",
                8,
                8,
                _query(f"modelcanary_rollout_failed_checks{per}", "{{namespace}}/{{name}}"),
            ),
        ),
        (
            "Traffic",
            _timeseries(
                "Challenger weight and mirror weight",
                "percent",
                8,
                24,
                _query(f"modelcanary_rollout_weight{per}", "{{namespace}}/{{name}} weight", "A"),
                _query(
                    f"modelcanary_rollout_mirror_weight{per}",
                    "{{namespace}}/{{name}} mirror",
                    "B",
                ),
            ),
        ),
        (
            "Analysis",
            _timeseries(
                "SLIs against their bounds",
                "short",
                10,
                16,
                _query(f"modelcanary_metric_value{per}", "{{name}} {{metric}}", "A"),
                _query(
                    f"modelcanary_metric_champion_value{per}", "{{name}} {{metric}} champion", "B"
                ),
                _query(f"modelcanary_metric_max{per}", "{{name}} {{metric}} max", "C"),
                _query(f"modelcanary_metric_min{per}", "{{name}} {{metric}} min", "D"),
            ),
        ),
        (
            "Analysis",
            _timeseries(
                "Analysis verdicts per interval",
                "short",
                10,
                8,
                _query(
                    "sum by (verdict) "
                    f"(increase(modelcanary_analysis_total{per}[$__rate_interval]))",
                    "{{verdict}}",
                ),
            ),
        ),
        (
            "Operator",
            _timeseries(
                "Rollouts started",
                "short",
                8,
                12,
                _query(
                    "sum by (namespace) (increase("
                    'modelcanary_rollouts_total{namespace=~"$namespace"}[$__rate_interval]))',
                    "{{namespace}}",
                ),
            ),
        ),
        (
            "Operator",
            _timeseries(
                "Mean tick duration",
                "s",
                8,
                12,
                _query(
                    "sum(rate(modelcanary_tick_seconds_sum[$__rate_interval])) / "
                    "sum(rate(modelcanary_tick_seconds_count[$__rate_interval]))",
                    "tick",
                ),
            ),
        ),
    ]


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a dict)."""
    from grafana_foundation_sdk.builders import dashboard
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    board = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["modelcanary", "progressive-delivery"])
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            _variable(
                "namespace", "Namespace", "label_values(modelcanary_rollout_status, namespace)"
            )
        )
        .with_variable(
            _variable(
                "rollout",
                "Rollout",
                'label_values(modelcanary_rollout_status{namespace=~"$namespace"}, name)',
            )
        )
    )
    row = None
    for title, panel in panels():
        if title != row:
            board = board.with_row(dashboard.Row(title))
            row = title
        board = board.with_panel(panel)
    result: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    for number, panel in enumerate(result["panels"], start=1):
        panel["id"] = number  # unique ids: Grafana links and repeats rely on them
        if panel.get("options") is None:
            panel.pop("options", None)  # Grafana fills a panel type's defaults itself
    return result


def render() -> str:
    """The JSON file's text (stable: sorted keys, two-space indent, trailing newline)."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def expressions(model: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target in a dashboard model, in order."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in model.get("panels", [])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


if __name__ == "__main__":
    sys.stdout.write(render())
