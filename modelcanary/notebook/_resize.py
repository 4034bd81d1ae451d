"""Full-width charts in a live notebook: a hidden widget that makes plotly re-measure.

plotly's widget front-end (an anywidget) draws a figure as soon as its view is made, before
JupyterLab puts the view in the page; plotly then measures no container and draws at its
700 px default (the "half-width" charts; a reloaded page happens to draw them attached). The
figures are made ``responsive`` (plotly re-measures on a window ``resize`` event), and this
zero-size widget, placed in the same view, dispatches that event a little after the charts
finished drawing, once it is in the page, and whenever the Python side bumps ``tick`` (a new
chart was added). Its whole front-end is the few lines of :data:`ESM` below: nothing is
fetched.
"""

from __future__ import annotations

from typing import Any

ESM = """
function render({ model, el }) {
  el.style.display = "none";
  const kick = () => window.dispatchEvent(new Event("resize"));
  let timers = [];
  const later = () => {  // debounced: after a burst of chart renders, not in the middle of one
    timers.forEach(clearTimeout);
    timers = [250, 1000].map((ms) => setTimeout(kick, ms));
  };
  document.addEventListener("plotlywidget-after-render", later);
  model.on("change:tick", later);
  let tries = 0;
  const attached = () => {
    if (el.isConnected) { later(); } else if (tries++ < 600) { requestAnimationFrame(attached); }
  };
  attached();
  return () => {
    timers.forEach(clearTimeout);
    document.removeEventListener("plotlywidget-after-render", later);
  };
}
export default { render };
"""
"""The front-end: a window resize event a little after the charts finished drawing (plotly's
widget announces each drawing with ``plotlywidget-after-render``), after this view is in the
page, and at each ``tick``; debounced, so no chart is resized while it is being drawn."""

CONFIG = {"responsive": True}
"""plotly config of every chart: re-measure the container on window resize."""


def resizer() -> Any:
    """The hidden widget (``.tick += 1`` after adding a chart)."""
    import anywidget
    import traitlets

    class Resizer(anywidget.AnyWidget):
        _esm = ESM
        tick = traitlets.Int(0).tag(sync=True)

    return Resizer()
