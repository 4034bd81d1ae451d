"""`run_local` shows the widget before any model server is up and tells the start-up as it
happens; a start-up that fails shows in the widget and is raised by `wait()`; once decided,
the run's output holds a static rendering of the final state (outcome, checks, charts) next
to the widget view. Real model servers, router and engine on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from notebook_fixtures import TinyModels, rollout, save_models
from polling import until

from modelcanary.errors import WorkloadError
from modelcanary.notebook import run_local
from modelcanary.serving import start_server_process

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return save_models(tmp_path_factory.mktemp("startup-models"))


def _until(check: Callable[[], Any], what: str, timeout: float = 240) -> Any:
    return until(check, what, timeout, interval=0.05)


def test_the_widget_shows_at_once_and_tells_the_start_up(tiny: TinyModels) -> None:
    """The challenger's server is held back until the test has looked at the widget."""
    gate, asked, started = threading.Event(), threading.Event(), threading.Event()

    def start(model_uri: str, **kwargs: Any) -> Any:
        if model_uri == tiny.challenger:
            asked.set()
            gate.wait(30)  # bounded: on the old code run_local itself waits here
            handle = start_server_process(model_uri, **kwargs)
            started.set()
            return handle
        return start_server_process(model_uri, **kwargs)

    run = run_local(rollout(tiny, "nb-startup", [50]), payloads=tiny.payloads, start_server=start)
    try:
        assert not started.is_set()  # run_local returned before the challenger's server
        widget = run.widget()  # what a cell shows: the widget exists now
        assert widget.polling and not run.done and not run.started
        _until(asked.is_set, "the challenger's server is asked for")
        _until(lambda: "starting challenger server" in widget.startup.value, "the widget says so")
        text = widget.startup.value
        assert "starting champion server" in text and "champion server ready in" in text
        assert "router on" not in text
        # not routing yet: no router, no address, the rollout has not started
        assert run.url == "" and run.local.router is None
        assert run.status().history == [] and widget.phase == "Initializing"
        gate.set()
        status = run.wait(240)
        assert status.outcome == "promoted", status.message
        text = widget.startup.value
        assert "challenger server ready in" in text and "router on http://127.0.0.1:" in text
        lines = run.startup_log()
        order = ["starting champion", "champion server ready", "starting challenger"]
        order += ["challenger server ready", "router on", "rollout running"]
        assert [next(i for i, line in enumerate(lines) if line.startswith(o)) for o in order] == (
            sorted(range(len(order)))
        ), lines
        assert "Outcome: promoted" in widget.verdict.value
    finally:
        gate.set()
        run.close()


def test_a_failed_start_up_shows_in_the_widget_and_is_raised_by_wait(tiny: TinyModels) -> None:
    def start(model_uri: str, **kwargs: Any) -> Any:
        if model_uri == tiny.challenger:
            raise RuntimeError("the challenger model does not load")
        return start_server_process(model_uri, **kwargs)

    run = run_local(rollout(tiny, "nb-badstart", [50]), payloads=tiny.payloads, start_server=start)
    try:
        widget = run.widget()
        with pytest.raises(WorkloadError, match="does not load"):
            run.wait(240)
        with pytest.raises(WorkloadError, match="does not load"):
            run.wait_started(1)
        assert run.done and run.started and isinstance(run.error, WorkloadError)
        status = run.status()
        assert status.phase == "Failed" and status.outcome == "error"
        assert "start-up failed" in status.message and "does not load" in status.message
        _until(lambda: not widget.polling, "the widget stops following", timeout=30)
        assert "start-up failed" in widget.startup.value
        assert "does not load" in widget.startup.value
        assert "Failed: error" in widget.badge.value
        assert all(b.disabled for b in widget.buttons.values())
        assert run.local.workloads.champion is None  # the champion's server was stopped
        assert run.url == ""
    finally:
        run.close()


def test_the_decided_output_holds_the_final_charts_next_to_the_widget(tiny: TinyModels) -> None:
    with run_local(rollout(tiny, "nb-static", [50]), payloads=tiny.payloads) as run:
        live = run._repr_mimebundle_()
        assert WIDGET_VIEW in live and "plotly-graph-div" not in live["text/html"]
        status = run.wait(240)
        assert status.outcome == "promoted", (status.message, run.startup_log())
        bundle = run._repr_mimebundle_()
        assert bundle[WIDGET_VIEW]["model_id"] == run.widget().view.model_id
        html = bundle["text/html"]
        assert "Outcome: promoted" in html and "Succeeded: promoted" in html
        # every chart: traffic, error-rate, latency-p99, the sequential band (plotly.js)
        assert html.count('class="plotly-graph-div"') == 4
        assert "Traffic" in html and "error-rate (fraction)" in html and "latency-p99 (ms)" in html
        assert "always-valid band" in html
        assert "<table" in html  # the last interval's checks


def test_in_a_kernel_the_displayed_output_is_updated_to_the_final_state(
    tiny: TinyModels, tmp_path: Path
) -> None:
    """A real kernel (nbclient): the cell that showed the run ends up holding the widget view
    AND the final static charts (the display is updated in place once decided)."""
    import nbclient
    import nbformat

    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell(
            "from notebook_fixtures import rollout, TinyModels\n"
            "from modelcanary.notebook import run_local\n"
            f"tiny = TinyModels({tiny.champion!r}, {tiny.challenger!r}, {tiny.payloads!r})"
        ),
        nbformat.v4.new_code_cell(
            'run = run_local(rollout(tiny, "nb-kernel", [50]), payloads=tiny.payloads)\nrun'
        ),
        nbformat.v4.new_code_cell("print(run.wait(240).outcome)"),
    ]
    client = nbclient.NotebookClient(
        book,
        timeout=400,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(__file__).parent)}},
    )
    client.execute()
    (shown,) = book.cells[1].outputs
    assert shown.output_type == "display_data"
    assert WIDGET_VIEW in shown.data  # the live widget's view, still there
    html = shown.data["text/html"]
    assert "Outcome: promoted" in html and html.count('class="plotly-graph-div"') == 4
    assert "promoted" in book.cells[2].outputs[0].text
