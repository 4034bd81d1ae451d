"""The widget's charts: ONE plotly FigureWidget, one panel (a subplot) per chart.

Why one figure: with plotly 7 every ``FigureWidget`` is an anywidget that carries plotly's
whole JavaScript bundle (~5 MB) as its own ``_esm`` trait (plotly/plotly.py#5143), so each
chart sent those megabytes over the kernel's websocket again (four or more per rollout, ~20
MB) and a busy page stalled for seconds when they arrived. One figure sends the bundle once.

Charts come and go during a run (a metric's chart when its first value comes, the band chart
with the first band, the LLM charts with LLM data), so the grid is not fixed up front
(``plotly.subplots.make_subplots`` makes a fixed one): :class:`Charts` gives each chart its
own x/y axis pair and legend (``xaxisN``, ``yaxisN``, ``legendN``) and, whenever one is added,
re-stacks them (:meth:`Charts._place`): each panel keeps the pixel height its own figure had
(its plot plus room above for its title and legend, and below for two-line date ticks), in
a fixed order (traffic, the SLIs, the band, the LLM charts) whatever the order they came in,
and the figure is as tall as their sum. A :class:`Panel` is one chart's face: its traces
(``data``), axes, legend (``showlegend``), title and shapes, with shapes and notes written as
for a figure of its own (``xref: "paper"`` is the panel's width) and mapped to its axes.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from ._resize import CONFIG

SECTIONS = ("traffic", "metric", "band", "llm")
"""The order of the panels, top to bottom (by section, then by arrival)."""
TOP = 44
"""Pixels above a panel's plot: its title (left) and its legend (right)."""
BOTTOM = 56
"""Pixels below a panel's plot: two-line date ticks, or category ticks and an axis title."""
MARGIN = {"t": 6, "b": 6, "l": 50, "r": 10}
"""The figure's margins (``automargin`` widens the left one for long y ticks)."""
TITLE_FONT = {"size": 16}


def sync(target: Any) -> None:
    """Mirror a FigureWidget's figure (or a panel's) into its synced traits.

    plotly sends later edits as deltas and only refreshes ``_widget_data/_layout`` when the
    figure itself is displayed; inside a VBox it never is. Without this a view created later
    (a second output, a reopened notebook, the saved widget state) would start from an empty
    figure.
    """
    fig = target.figure if isinstance(target, Panel) else target
    fig._widget_data = deepcopy(fig._data)
    fig._widget_layout = deepcopy(fig._layout_obj._props)


class Panel:
    """One chart of the figure: axes ``x<n>``/``y<n>`` and legend ``legend<n>``."""

    def __init__(self, charts: Charts, key: str, section: str, n: int, height: int) -> None:
        self.charts, self.key, self.section, self.n, self.height = charts, key, section, n, height
        suffix = "" if n == 1 else str(n)
        self.xref, self.yref, self.legend_name = f"x{suffix}", f"y{suffix}", f"legend{suffix}"
        self._axes = (f"xaxis{suffix}", f"yaxis{suffix}")
        self.bottom = BOTTOM
        """Pixels between the plot and the next panel (its ticks and axis title)."""

    @property
    def figure(self) -> Any:
        """The one FigureWidget."""
        return self.charts.figure

    @property
    def data(self) -> tuple[Any, ...]:
        """This panel's traces, in the order they were added."""
        return tuple(
            t
            for t in self.figure.data
            if (t.xaxis or "x") == self.xref and (t.yaxis or "y") == self.yref
        )

    @property
    def xaxis(self) -> Any:
        return self.figure.layout[self._axes[0]]

    @property
    def yaxis(self) -> Any:
        return self.figure.layout[self._axes[1]]

    @property
    def legend(self) -> Any:
        return self.figure.layout[self.legend_name]

    @property
    def showlegend(self) -> bool:
        """Whether this panel's legend is shown (a panel with one series hides it)."""
        return self.legend.visible is not False

    @showlegend.setter
    def showlegend(self, shown: bool) -> None:
        self.legend.visible = shown

    @property
    def title(self) -> str:
        (note,) = (a for a in self.figure.layout.annotations if a.name == self._title_name)
        return str(note.text)

    @property
    def shapes(self) -> tuple[Any, ...]:
        """The shapes drawn on this panel (its passing band, reference lines)."""
        return tuple(s for s in self.figure.layout.shapes if s.name == self.key)

    @property
    def annotations(self) -> tuple[Any, ...]:
        """The notes written on this panel (not its title)."""
        return tuple(a for a in self.figure.layout.annotations if a.name == self.key)

    @property
    def _title_name(self) -> str:
        return f"title:{self.key}"

    def batch_update(self) -> Any:
        return self.figure.batch_update()

    def _trace(self, kind: str, **trace: Any) -> None:
        getattr(self.figure, f"add_{kind}")(
            xaxis=self.xref, yaxis=self.yref, legend=self.legend_name, **trace
        )

    def add_scatter(self, **trace: Any) -> None:
        self._trace("scatter", **trace)

    def add_bar(self, **trace: Any) -> None:
        self._trace("bar", **trace)

    def _mapped(self, item: dict[str, Any]) -> dict[str, Any]:
        """A shape or note written for a figure of its own, on this panel's axes."""
        out = {**item, "name": self.key}
        x, y = item.get("xref", "x"), item.get("yref", "y")
        out["xref"] = f"{self.xref} domain" if x == "paper" else self.xref
        out["yref"] = f"{self.yref} domain" if y == "paper" else self.yref
        return out

    def set_shapes(self, shapes: list[dict[str, Any]]) -> None:
        """Replace this panel's shapes (``xref``/``yref``: ``paper``, ``x``, ``y``)."""
        self.charts.shapes[self.key] = [self._mapped(s) for s in shapes]
        self.figure.layout.shapes = [s for group in self.charts.shapes.values() for s in group]

    def set_annotations(self, notes: list[dict[str, Any]]) -> None:
        """Replace this panel's notes (as :meth:`set_shapes`)."""
        self.charts.notes[self.key] = [self._mapped(a) for a in notes]
        self.charts.write_notes()


class Charts:
    """The one FigureWidget of a widget and its panels."""

    def __init__(self, go: Any) -> None:
        self.figure = go.FigureWidget()
        self.figure.update_layout(margin=MARGIN, height=MARGIN["t"] + MARGIN["b"])
        self.figure._config = {**self.figure._config, **CONFIG}  # re-measure on resize
        self.panels: list[Panel] = []
        """Top to bottom."""
        # what the layout's shapes and annotations are made of, kept here: inside a
        # batch_update the layout still reads as it was before the batch
        self.shapes: dict[str, list[dict[str, Any]]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.titles: dict[str, dict[str, Any]] = {}

    def write_notes(self) -> None:
        """The layout's annotations: every panel's title, then their notes."""
        self.figure.layout.annotations = [
            *self.titles.values(),
            *(note for group in self.notes.values() for note in group),
        ]

    def add(
        self,
        section: str,
        *,
        title: str,
        height: int,
        key: str | None = None,
        xaxis: dict[str, Any] | None = None,
        yaxis: dict[str, Any] | None = None,
        showlegend: bool = True,
        shapes: list[dict[str, Any]] | None = None,
        **layout: Any,
    ) -> Panel:
        """A new panel ``height`` px tall (like a figure of that height), placed by
        ``section``; ``layout`` is figure-wide (e.g. ``barmode``)."""
        panel = Panel(self, key or title, section, len(self.panels) + 1, height)
        rank = SECTIONS.index(section)
        at = sum(1 for p in self.panels if SECTIONS.index(p.section) <= rank)
        self.panels.insert(at, panel)
        x, y = panel._axes
        self.titles[panel.key] = {
            "name": panel._title_name,
            "text": title,
            "showarrow": False,
            "xref": "paper",
            "x": 0,
            "xanchor": "left",
            "yref": "paper",
            "yanchor": "top",
            "font": TITLE_FONT,
        }
        # made at once, not batched: the new axes and legend are read back right after
        self.figure.update_layout(
            {
                x: {"automargin": True, "anchor": panel.yref, **(xaxis or {})},
                y: {"automargin": True, "anchor": panel.xref, **(yaxis or {})},
                panel.legend_name: {
                    "orientation": "h",
                    "x": 1,
                    "xanchor": "right",
                    "yanchor": "bottom",
                    "visible": showlegend,
                },
            },
            **layout,
        )
        with self.figure.batch_update():
            if shapes:
                panel.set_shapes(shapes)
            self._place()
        return panel

    def _place(self) -> None:
        """Stack the panels: domains, legends and titles from their pixel heights."""
        paper = sum(p.height for p in self.panels)
        offset = 0

        def at(pixels: float) -> float:  # pixels from the top -> paper y
            return max(0.0, min(1.0, 1 - pixels / paper))

        for panel in self.panels:
            top, bottom = at(offset + TOP), at(offset + panel.height - panel.bottom)
            panel.xaxis.domain = [0, 1]
            panel.yaxis.domain = [bottom, top]
            panel.legend.y = at(offset + TOP - 4)  # above the plot, clear of the ticks
            self.titles[panel.key]["y"] = at(offset + 8)
            offset += panel.height
        self.write_notes()
        self.figure.layout.height = paper + MARGIN["t"] + MARGIN["b"]
