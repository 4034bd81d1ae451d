"""The live widget driven by a real local rollout (model servers, router, engine on loopback)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from notebook_fixtures import FixedRun, TinyModels, rollout, save_models

from modelcanary.notebook import NotebookRun, run_local
from modelcanary.notebook._run import HISTORY_COLUMNS
from modelcanary.spec._html import status_html
from modelcanary.spec._status import RolloutStatus


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return save_models(tmp_path_factory.mktemp("nbmodels"))


def test_widget_follows_a_running_rollout_to_promotion(tiny: TinyModels, tmp_path: Path) -> None:
    with run_local(rollout(tiny, "nb-live", [50]), payloads=tiny.payloads) as run:
        assert isinstance(run, NotebookRun)
        assert not run.done  # run_local returns at once
        widget = run.widget()
        assert widget.polling
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while not run.done and time.monotonic() < deadline:
            seen.add(widget.phase)
            time.sleep(0.1)
        status = run.wait(30)
        assert status.phase == "Succeeded" and status.outcome == "promoted", status.message
        deadline = time.monotonic() + 30  # the poller stops once decided (it was given a
        while widget.polling and time.monotonic() < deadline:  # fixed 0.5 s: a loaded
            time.sleep(0.05)  # machine's poller thread could take longer to see it)
        assert not widget.polling
        assert seen & {"Progressing", "Initializing", "Initialized", "Finalising"}
        assert widget.phase == "Succeeded"
        assert "promoted" in widget.badge.value
        champion, challenger, mirror = widget.weights.data
        assert 50 in challenger.y and 50 in champion.y and set(mirror.y) == {0}
        assert set(widget.metrics) == {"error-rate", "latency-p99"}
        err = widget.metrics["error-rate"]
        assert list(err.data[0].y) == [0.0]
        assert err.shapes[0].y1 == pytest.approx(0.01)  # the passing band
        assert "p = " in widget.pvalues.value  # the sequential judge's p-value readout
        assert "Outcome: promoted" in widget.verdict.value
        assert all(b.disabled for b in widget.buttons.values())
        assert "application/vnd.jupyter.widget-view+json" in run._repr_mimebundle_()

        frame = run.history()
        assert list(frame.columns) == HISTORY_COLUMNS
        assert len(frame) == len(status.history) * 2  # one row per interval and metric
        assert set(frame["metric"]) == {"error-rate", "latency-p99"}
        assert frame["weight"].tolist() == [50, 50]
        assert (frame["verdict"] == "pass").all()

        out = run.report(tmp_path / "r.html")
        assert "plotly" in out.read_text() and "nb-live" in out.read_text()
        assert "Succeeded: promoted" in status_html(status)


def test_abort_button_rolls_the_rollout_back(tiny: TinyModels) -> None:
    with run_local(
        rollout(tiny, "nb-abort", [10, 20, 30, 40, 50, 60]), payloads=tiny.payloads
    ) as run:
        widget = run.widget()
        deadline = time.monotonic() + 30
        while run.status().phase != "Progressing" and time.monotonic() < deadline:
            time.sleep(0.1)
        widget.buttons["abort"].click()  # as a person pressing it
        assert "abort sent" in widget.feedback.value
        status = run.wait(30)
        assert status.phase == "Failed" and status.outcome == "aborted", status.message
        widget.refresh(force=True)
        assert widget.phase == "Failed"
        assert "aborted" in widget.badge.value


def test_widget_draws_the_sequential_confidence_band(tiny: TinyModels) -> None:
    """A sequential error-rate comparison (difference to the champion): the widget draws the
    always-valid band of challenger - champion from the state the engine stored."""
    import modelcanary as mc

    spec = (
        mc.Rollout("nb-band")
        .champion(tiny.champion)
        .challenger(tiny.challenger)
        .canary(steps=[30, 60], interval="1s", threshold=2)
        .slo(mc.sli.error_rate().relative_to_champion("difference") < "2%")
        .load(rps=40, concurrency=4)
        .progress_deadline(30)
        .build()
    )
    with run_local(spec, payloads=tiny.payloads) as run:
        widget = run.widget()
        status = run.wait(60)
        assert status.outcome == "promoted", status.message
        widget.refresh(force=True)
        (key,) = widget.band_series
        assert key.startswith("error-rate")
        stored = status.analysis_state["sequential"][key]["difference"]  # type: ignore[index]
        series = widget.band_series[key]
        last = series[-1][1]
        assert last.requests == stored["n0"] + stored["n1"]  # from the recorded state
        assert len(series) >= 2  # one point per look at new data
        assert all(b.low <= b.estimate <= b.high for _, b in series)
        assert last.low <= 0 <= last.high  # same models: no difference shown
        assert widget.bands is not None and widget.bands in widget.charts.panels
        high, low, estimate = widget.bands.data
        assert low.fill == "tonexty" and list(estimate.y) == [b.estimate * 100 for _, b in series]
        assert list(low.y) == [b.low * 100 for _, b in series]
        assert list(high.y) == [b.high * 100 for _, b in series]
        assert (
            "band [" in widget.pvalues.value and "no difference shown yet" in widget.pvalues.value
        )
        synced = widget.figure._widget_data  # synced: a saved notebook keeps the band
        assert [t["y"] for t in synced if t.get("legendgroup") == key][2] == list(estimate.y)


def test_buttons_are_off_as_soon_as_the_status_is_decided(tiny: TinyModels) -> None:
    from modelcanary.notebook._widget import RunWidget

    spec = rollout(tiny, "nb-decided", [50])
    running = RolloutStatus(phase="Progressing", canary_weight=50)
    aborted = RolloutStatus(phase="Failed", canary_weight=0, outcome="aborted")
    live = RunWidget(FixedRun(spec, running))  # type: ignore[arg-type]
    assert not any(b.disabled for b in live.buttons.values())
    decided = RunWidget(FixedRun(spec, aborted))  # type: ignore[arg-type]
    assert all(b.disabled for b in decided.buttons.values())
