"""The widget, exported from a saved notebook, renders in a real (headless) browser offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import PIL.Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_widget.py"


def test_screenshot_shows_charts_and_buttons(tmp_path: Path) -> None:
    png, html_dir = tmp_path / "widget.png", tmp_path / "html"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(png), "--html-dir", str(html_dir)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.stat().st_size > 50_000
    image = PIL.Image.open(png).convert("RGB")
    assert image.size == (1200, 2400)
    colors = image.resize((300, 600)).getcolors(maxcolors=300 * 600)
    assert colors is not None and len(colors) > 200  # not blank
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=8000",
            "--dump-dom",
            (html_dir / "01-quickstart.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-widgets-rendered="1"' in dom  # the saved widget state was rendered
    assert dom.count("mc-w-plotly") == 3  # traffic + error-rate + latency-p99
    assert "main-svg" in dom  # plotly drew them
    assert ">Promote now</button>" in dom and ">Abort</button>" in dom
    assert "Succeeded: promoted" in dom
