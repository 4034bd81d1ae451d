"""The LIVE widget in a real JupyterLab, looked at and clicked in headless Chromium, offline.

`scripts/screenshot_widget.py` serves a notebook with JupyterLab on 127.0.0.1, runs it in a
real kernel from Chromium (DevTools protocol), waits for three analysis intervals, presses the
widget's Abort button in the page and waits for the rollout to show the outcome, then takes a
screenshot. The test checks what the page shows (DOM facts), that the page loaded nothing from
outside the server (no CDN), and the screenshot's pixels (chart and button colours).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import PIL.Image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_widget.py"
BUTTONS = ["Approve", "Pause", "Resume", "Abort", "Promote now"]

SETUP = """\
import tempfile
from pathlib import Path

import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelcanary as mc
from modelcanary.notebook import run_local

workdir = Path(tempfile.mkdtemp(prefix="modelcanary-widget-"))
x, y = load_iris(return_X_y=True, as_frame=True)
for name, c in (("champion", 1.0), ("challenger", 0.3)):
    model = LogisticRegression(C=c, max_iter=300).fit(x, y)
    mlflow.sklearn.save_model(model, workdir / name, pip_requirements=["scikit-learn"])
x.head(30).to_csv(workdir / "requests.csv", index=False)
"""
ROLLOUT = """\
rollout = (
    mc.Rollout("widget-live")
    .champion(str(workdir / "champion"))
    .challenger(str(workdir / "challenger"))
    .steps(mc.step(20, iterations=2), mc.step(40, pause=True))  # then waits for Approve
    .analysis(interval="1s", threshold=2)
    .slo(
        mc.sli.error_rate().relative_to_champion("difference") < "2%",
        mc.sli.latency(p=99) < "5s",
    )
    .load(rps=40, concurrency=4, dataset=str(workdir / "requests.csv"))
    .progress_deadline(120)
)
run = run_local(rollout)
run
"""
# The rollout cannot decide on its own before the Abort click: it holds the paused 40 % step
# (analysing every second) until someone approves. A 16-step canary promoted in ~17 s, and on
# a loaded machine the page took longer than that to handle the click: each plotly chart
# ships plotly's ~5 MB widget bundle, so the page stalls for seconds when the charts arrive.


def _count(image: PIL.Image.Image, rgb: tuple[int, int, int], tol: int = 12) -> int:
    """Pixels within ``tol`` of ``rgb`` on every channel."""
    colors = image.getcolors(maxcolors=image.width * image.height) or []
    return sum(
        n for n, c in colors if all(abs(int(a) - b) <= tol for a, b in zip(c, rgb, strict=True))
    )


def test_live_widget_in_jupyterlab_renders_updates_and_its_abort_button_works(
    tmp_path: Path,
) -> None:
    assert shutil.which("chromium"), "install Chromium: apt-get install chromium"
    notebook = tmp_path / "widget-live.ipynb"
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(ROLLOUT)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(book, notebook)
    png, facts_file = tmp_path / "widget.png", tmp_path / "facts.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--notebook",
            str(notebook),
            "--out",
            str(png),
            "--facts",
            str(facts_file),
            "--wait-text",
            r"\b([3-9]|\d\d+) interval\(s\)",  # three intervals analysed
            "--wait-plots",
            "4",  # and every chart (panel) drawn: none is added above the buttons after the click
            "--click",
            "Abort",
            "--expect",
            "Outcome: aborted",
        ],
        capture_output=True,
        text=True,
        timeout=1500,  # a bound: every wait of the script is bounded (300 s each)
    )
    assert done.returncode == 0, done.stderr[-12000:]
    facts = json.loads(facts_file.read_text())

    # the real widget manager rendered the live widget (no "Loading widget...", no fallback)
    assert facts["widget_outputs"] == 1
    assert not facts["loading_widget"] and not facts["error_displaying"]
    assert not facts["text_fallback"]
    # one plotly figure (plotly's ~5 MB bundle sent once), its panels: traffic, error-rate vs
    # champion, latency-p99, confidence band
    assert facts["plots"] == 1 and facts["charts"] == 4
    # every chart as wide as the output (plotly drew widget charts at its 700 px default)
    assert facts["output_width"] > 900
    assert all(w >= facts["output_width"] - 40 for w in facts["plot_widths"]), facts
    assert facts["main_svg"] >= 1 and facts["traces"] >= 10
    # ... so the page got plotly's bundle once over the kernel's websocket (5.6 MB measured;
    # 21.1 MB with a figure per chart)
    assert facts["websocket_bytes_received"] < 10_000_000
    assert [b["label"] for b in facts["buttons"]] == BUTTONS
    assert all(b["disabled"] for b in facts["buttons"])  # decided: the buttons are off
    # the click went browser -> widget comm -> kernel -> engine, and the outcome came back
    text = facts["text"]
    assert "Failed: aborted" in text and "Outcome: aborted" in text
    assert "always-valid band" in text and "band [" in text
    # nothing came from outside the JupyterLab server (no CDN), and no console errors
    assert facts["requests"] > 20 and facts["foreign_requests"] == []
    assert facts["console_errors"] == []

    image = PIL.Image.open(png).convert("RGB")
    assert image.width > 900 and image.height > 1000
    assert _count(image, (0x2E, 0x7D, 0x32)) > 200  # champion line (green)
    assert _count(image, (0x15, 0x65, 0xC0)) > 200  # challenger line / band estimate (blue)
    assert _count(image, (0x6A, 0x1B, 0x9A)) > 50  # mirror line (purple)
    distinct = image.resize((image.width // 4, image.height // 4)).getcolors(maxcolors=1 << 20)
    assert distinct is not None and len(distinct) > 300  # a drawn page, not a blank one
