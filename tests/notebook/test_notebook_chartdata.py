"""The HTML report and the live widget draw the same series, from one chart-data function."""

from __future__ import annotations

import pytest
from notebook_fixtures import FixedRun, TinyModels, rollout, save_models

import modelcanary._report as report
from modelcanary.analysis._bands import current_band, sequential_states
from modelcanary.analysis._chartdata import chart_data
from modelcanary.analysis._interval import shared_alpha
from modelcanary.analysis._judges import comparison_alpha
from modelcanary.analysis._sequential import GaussianState, OddsMixture
from modelcanary.notebook import _widget as widget_module
from modelcanary.notebook._widget import RunWidget
from modelcanary.spec._status import AnalysisRecord, CheckRecord, RolloutStatus


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return save_models(tmp_path_factory.mktemp("chartmodels"))


def _check(value: float, high: float, verdict: str) -> CheckRecord:
    return CheckRecord(
        metric="error-rate", value=value, max=high, judge="sequential", verdict=verdict
    )


def _status() -> RolloutStatus:
    """Two intervals; between them the rollout was edited from ``max 2%`` to ``max 1%``."""
    history = [
        AnalysisRecord(
            time=f"2026-01-01T00:00:0{i}Z",
            phase="Progressing",
            canary_weight=weight,
            verdict="pass",
            checks=[_check(value, high, "pass")],
        )
        for i, weight, value, high in ((1, 30, 0.015, 0.02), (2, 60, 0.004, 0.01))
    ]
    slo = OddsMixture().update(OddsMixture().start(), 3, 500, 0.01)
    pairs = GaussianState(n0=2000, x0=20, n1=500, x1=3)
    stored = {"slo": slo.model_dump(mode="json"), "pairs": pairs.model_dump(mode="json")}
    return RolloutStatus(
        phase="Progressing",
        canary_weight=60,
        history=history,
        analysis_state={"iterations": 2, "sequential": {"error-rate": stored}},
        last_analysis_time="2026-01-01T00:00:02Z",
    )


def test_report_and_widget_draw_the_same_chart_data(tiny: TinyModels) -> None:
    spec = rollout(tiny, "nb-chart", [30, 60])
    status = _status()
    data = chart_data(spec.spec.analysis, status)
    widget = RunWidget(FixedRun(spec, status, done=True))  # type: ignore[arg-type]

    # the passing band: the latest bounds (the range the checks apply now), in both
    (metric,) = data.metrics
    assert metric.passing == pytest.approx((0.0, 0.01))
    shown = widget.metrics["error-rate"].shapes[0]
    (drawn,) = report.metric_figures(data)
    rect = drawn.layout.shapes[0]
    assert (shown.y0, shown.y1) == (rect.y0, rect.y1) == pytest.approx(metric.passing)
    assert list(widget.metrics["error-rate"].data[0].y) == list(drawn.data[0].y)

    # the traffic: the report's points are the widget's (it adds the ones it saw live)
    (challenger,) = (t for t in report.weights_figure(data).data if t.name == "challenger %")
    assert list(challenger.y) == list(widget.weights.data[1].y)

    # the confidence band: one look, the same band, at the judge's champion-comparison level
    (band,) = data.bands
    analysis = spec.spec.analysis
    (error_rate,) = (m for m in analysis.metrics if m.name == "error-rate")
    alpha = comparison_alpha(error_rate, error_rate.alpha or shared_alpha(analysis))
    assert band.alpha == alpha < shared_alpha(analysis)  # split with the SLO test
    states = sequential_states(status.analysis_state)
    assert band.points[-1][1] == current_band(analysis, "error-rate", states["error-rate"])
    assert widget.band_series == {"error-rate": list(band.points)}
    figure = report.band_figure(data)
    assert figure is not None and list(figure.data[0].y) == [band.points[-1][1].estimate * 100]
    level = band.level
    hover = widget.bands.data[2].hovertemplate
    assert f"<extra>{level} %</extra>" in hover  # HEAD said 1 - alpha here (unsplit)
    assert f"{level} % band" in widget.pvalues.value


def test_report_and_widget_use_the_one_chart_data_function() -> None:
    assert vars(report)["chart_data"] is chart_data
    assert vars(widget_module)["chart_data"] is chart_data


def test_the_widget_shows_the_evidence_toward_the_needed_sample(tiny: TinyModels) -> None:
    spec = rollout(tiny, "nb-evidence", [30, 60])
    status = _status()  # champion 2000 requests, 20 errors; challenger 500 requests
    (band,) = chart_data(spec.spec.analysis, status).bands
    progress = band.progress
    assert progress is not None and progress.seen == 500
    assert progress.needed is not None and progress.needed > 500  # not enough yet at 1 %
    from modelcanary.analysis import samples_to_detect

    share = round(500 / 2500, 2)
    baseline = float(f"{20.5 / 2001:.2g}")
    assert progress.needed == samples_to_detect(
        baseline, 2.0, share, runs=150, batch=25, cap=200_000
    )
    widget = RunWidget(FixedRun(spec, status, done=True))  # type: ignore[arg-type]
    shown = widget.pvalues.value
    assert f"evidence 500 of ~{progress.needed:,.0f} challenger requests" in shown
    assert "to catch 2x the champion's rate with 80% power" in shown
