"""Look at the notebook widget as a person would: run notebook 01, export it, screenshot it.

1. Execute ``notebooks/01-quickstart.ipynb`` with nbclient, storing the widget state
   (``store_widget_state=True``), so the saved notebook holds every widget model.
2. Export it to HTML with nbconvert. The page nbconvert writes loads the widget manager
   (``@jupyter-widgets/html-manager``) and require.js from a CDN, which a machine without
   internet cannot reach, and the pip packages do not ship that bundle. So the export points
   ``widget_renderer_url`` at a local script written beside the page: plotly.js (from the
   installed ``plotly`` package) plus a small offline renderer that draws the *saved widget
   state*: boxes, HTML, buttons and the plotly FigureWidgets (from their synced
   ``_widget_data``/``_widget_layout``). It is a static rendering: buttons do nothing.
3. Screenshot the page with headless Chromium.

Usage: ``python scripts/screenshot_widget.py [--out widget.png] [--html-dir DIR]``.
Prints the PNG path. Needs nbclient, nbconvert, ipykernel and a ``chromium`` binary.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01-quickstart.ipynb"
RENDERER = "modelcanary-widgets.js"

# A minimal, offline "embed manager" for the saved widget state (static: no kernel).
STATIC_RENDERER = r"""
(function () {
  var stateEl = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  if (!stateEl) { return; }
  var state = JSON.parse(stateEl.textContent).state;
  var COLORS = {primary: '#2196f3', success: '#4caf50', info: '#00bcd4', warning: '#ff9800',
                danger: '#f44336'};
  function model(ref) {
    var id = String(ref).replace('IPY_MODEL_', '');
    return state[id];
  }
  function render(ref) {
    var m = model(ref), el = document.createElement('div');
    if (!m) { el.textContent = '[missing widget]'; return el; }
    var s = m.state, name = m.model_name;
    el.className = 'mc-w mc-w-' + name;
    if (name === 'VBoxModel' || name === 'HBoxModel' || name === 'BoxModel') {
      el.style.display = 'flex';
      el.style.flexDirection = name === 'HBoxModel' ? 'row' : 'column';
      el.style.gap = '6px';
      el.style.alignItems = name === 'HBoxModel' ? 'center' : 'stretch';
      (s.children || []).forEach(function (c) { el.appendChild(render(c)); });
    } else if (name === 'HTMLModel' || name === 'LabelModel' || name === 'HTMLMathModel') {
      el.innerHTML = s.value || '';
    } else if (name === 'ButtonModel') {
      var b = document.createElement('button');
      b.textContent = s.description;
      b.disabled = !!s.disabled;
      b.title = s.tooltip || '';
      b.style.cssText = 'padding:6px 14px;margin-right:6px;border:0;border-radius:2px;' +
        'font-size:13px;color:' + (COLORS[s.button_style] ? 'white' : 'black') +
        ';background:' + (COLORS[s.button_style] || '#eeeeee') +
        ';opacity:' + (s.disabled ? 0.6 : 1);
      el = b;
      el.className = 'mc-w mc-w-ButtonModel';
    } else if (name === 'AnyModel' && /plotly/.test(s._anywidget_id || '')) {
      el.style.width = '1000px';
      var layout = s._widget_layout || {};
      layout.width = 1000;
      window.Plotly.newPlot(el, s._widget_data || [], layout, {displayModeBar: false});
      el.className += ' mc-w-plotly';
    } else {
      el.textContent = '[' + name + ']';
    }
    return el;
  }
  var views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  views.forEach(function (v) {
    var view = JSON.parse(v.textContent);
    v.parentNode.insertBefore(render(view.model_id), v);
  });
  document.body.setAttribute('data-widgets-rendered', String(views.length));
})();
"""


def execute(notebook: Path) -> object:
    import nbclient
    import nbformat

    book = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
        store_widget_state=True,
    ).execute()
    return book


def export(book: object, out_dir: Path) -> Path:
    """The notebook as HTML beside an offline widget renderer; returns the page's path."""
    import plotly
    from nbconvert import HTMLExporter

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    (out_dir / RENDERER).write_text(
        plotly_js.read_text(encoding="utf-8") + "\n" + STATIC_RENDERER, encoding="utf-8"
    )
    exporter = HTMLExporter(widget_renderer_url=RENDERER, exclude_input_prompt=True)
    body, _ = exporter.from_notebook_node(book)
    # no network here: drop the CDN scripts (require.js, MathJax) nothing on the page needs
    body = re.sub(r'<script src="https?://[^"]*"></script>', "", body)
    page = out_dir / "01-quickstart.html"
    page.write_text(body, encoding="utf-8")
    return page


def screenshot(page: Path, png: Path, chromium: str) -> Path:
    with tempfile.TemporaryDirectory(prefix="mc-chromium-") as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                "--window-size=1200,2400",
                "--virtual-time-budget=8000",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("widget.png"))
    parser.add_argument("--html-dir", type=Path, default=None, help="keep the HTML here")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium binary on PATH", file=sys.stderr)
        return 2
    book = execute(args.notebook)
    html_dir = args.html_dir or Path(tempfile.mkdtemp(prefix="mc-widget-html-"))
    html_dir.mkdir(parents=True, exist_ok=True)
    page = export(book, html_dir)
    png = screenshot(page, args.out.resolve(), chromium)
    print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
