"""Interactive Pareto plots: a plotly renderer of :class:`front_plot.FrontPlot` (same content as the PNG).

Trials without a y value sit in a labelled strip under the plot; canonical networks without a y
value are dashed lines named above the plot (never among the front labels); front labels turn
inwards near the right edge and are not clipped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from scalesearch.analysis.front_plot import BudgetLike, Frames, FrontPlot, Reference, RunSeries, front_plot
from scalesearch.atomic import write_atomic
from scalesearch.formatting import format_metric, format_value

if TYPE_CHECKING:
    from plotly.graph_objects import Figure as PlotlyFigure

_SYMBOLS = {
    "dominated": ("circle", None, 0.5),
    "missing": ("circle", None, 0.5),
    "pruned": ("circle-open", None, 0.9),
    "over budget": ("circle-open", "grey", 0.9),
    "failed": ("x-thin-open", "grey", 0.9),
}
_STRIP = 0.08  # height of the strip (fraction of the plot area)


def _hover(row: pd.Series, run: str, x: str, y: str) -> str:
    """Hover text (plotly's HTML subset; user strings escaped): the trial, its point and costs."""
    stage = f"{row['stage']} " if isinstance(row.get("stage"), str) and row.get("stage") else ""
    lines = [f"<b>{escape(run)}</b> {escape(stage)}trial #{row.get('number', row.name)} ({row['status']})"]
    values = row.get("values")
    if isinstance(values, Mapping) and values:
        lines.append("searched: " + escape(", ".join(f"{k}={format_value(v)}" for k, v in values.items())))
    point = row.get("point")
    if isinstance(point, Mapping) and point:
        items = [escape(f"{k}={format_value(v)}") for k, v in point.items() if v is not None]
        lines += [", ".join(items[i : i + 4]) for i in range(0, len(items), 4)]
    costs = []
    for col in dict.fromkeys([x, y, "accuracy", "flops", "params", "activations", "latency_ms"]):
        if col in row and pd.notna(row[col]) and not isinstance(row[col], (str, Mapping)):
            costs.append(f"{col}={format_metric(col, row[col])}")
    lines.append(", ".join(costs))
    if row.get("violations"):
        lines.append(f"over budget: {escape(str(row['violations']))}")
    if isinstance(row.get("error"), str) and row.get("error"):
        lines.append(f"error: {escape(row['error'][:200])}")
    return "<br>".join(lines)


def _pos(fp: FrontPlot, value: float) -> float:
    """A data value where plotly wants it for an annotation (log10 on a log axis, plotly.py#2580)."""
    return math.log10(value) if fp.log_x else value


def _markers(fig: Any, fp: FrontPlot, run: RunSeries, color: str) -> None:
    import plotly.graph_objects as go

    for st, (symbol, grey, opacity) in _SYMBOLS.items():
        for with_y in (True, False):
            part = run.marked(st, with_y)
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=part["_x"],
                    y=part["_y"] if with_y else [0.5] * len(part),
                    mode="markers",
                    marker={"symbol": symbol, "color": grey or color, "size": 7, "line": {"width": 1.2}},
                    opacity=opacity,
                    name=f"{run.name}: {st}" + ("" if with_y else f" ({fp.strip_label})"),
                    legendgroup=run.name,
                    hoverinfo="text",
                    hovertext=[_hover(r, run.name, fp.x.column, fp.y.column) for _, r in part.iterrows()],
                ),
                row=1 if with_y else 2,
                col=1,
            )


def _front(fig: Any, fp: FrontPlot, run: RunSeries, color: str) -> None:
    import plotly.graph_objects as go

    f = run.front
    if f.empty:
        return
    lo, hi = (_pos(fp, v) for v in fp.xlim)
    right = [(_pos(fp, v) - lo) / (hi - lo) > 0.7 for v in f["_x"]]  # labels near the right edge turn left
    where = [("top " if j % 2 == 0 else "bottom ") + ("left" if r else "right") for j, r in enumerate(right)]
    fig.add_trace(
        go.Scatter(
            x=f["_x"],
            y=f["_y"],
            mode="lines+markers+text" if run.labels else "lines+markers",
            line={"shape": "hv" if fp.x.direction == "min" else "vh", "color": color, "width": 2},
            name=f"{run.name}: front",
            legendgroup=run.name,
            marker={"color": color, "size": 9, "line": {"color": "black", "width": 1}},
            text=run.labels or None,
            textposition=where,
            textfont={"size": 10},
            cliponaxis=False,
            hovertext=[_hover(r, run.name, fp.x.column, fp.y.column) for _, r in f.iterrows()],
            hoverinfo="text",
        ),
        row=1,
        col=1,
    )


def _references(fig: Any, fp: FrontPlot) -> int:
    """Reference markers and lines; returns the longest label drawn above the plot (characters)."""
    import plotly.graph_objects as go

    with_y = [r for r in fp.references if r.y is not None]
    if with_y:
        fig.add_trace(
            go.Scatter(
                x=[r.x for r in with_y],
                y=[r.y for r in with_y],
                mode="markers+text",
                name="canonical networks",
                text=[r.name for r in with_y],
                textposition="middle right",
                cliponaxis=False,
                marker={
                    "symbol": "diamond",
                    "size": 9,
                    "color": "white",
                    "line": {"color": "black", "width": 1.5},
                },
                hovertext=[f"<b>{escape(r.name)}</b> (canonical)<br>{r.costs}" for r in with_y],
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )
    longest = 0
    for r in (r for r in fp.references if r.y is None):
        fig.add_vline(x=r.x, line={"dash": "dash", "color": "grey", "width": 1}, row="all", col=1)
        # Named above the plot area, where no front label can be.
        fig.add_annotation(
            x=_pos(fp, r.x),
            y=1.0,
            xref="x",
            yref="paper",
            text=escape(r.name),
            textangle=-90,
            showarrow=False,
            xanchor="center",
            yanchor="bottom",
            font={"size": 10, "color": "#333"},
            hovertext=f"{escape(r.name)} (canonical)<br>{r.costs}",
        )
        longest = max(longest, len(r.name))
    return longest


def _budgets(fig: Any, fp: FrontPlot) -> None:
    for b in fp.budget_lines:
        line = {"dash": "dash", "color": "crimson", "width": 1.5}
        if b.axis == "x":
            # Shapes take data values; annotations on a log axis take log10 (plotly.py#2580).
            fig.add_vline(x=b.value, line=line, row="all", col=1)
            fig.add_annotation(
                x=_pos(fp, b.value),
                y=0.02,
                xref="x",
                yref="y domain",
                text=escape(b.text),
                textangle=-90,
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
                font={"size": 11, "color": "crimson"},
                bgcolor="rgba(255,255,255,0.7)",
            )
        else:
            fig.add_hline(
                y=b.value,
                line=line,
                row=1,
                col=1,
                annotation_text=escape(b.text),
                annotation_font_color="crimson",
            )


def _layout(fig: Any, fp: FrontPlot, top_labels: int) -> None:
    def title(label: str, note: str) -> str:
        return label + (f"<br><sup>{escape(note)}</sup>" if note else "")

    head = escape(fp.title) + "".join(f"<br><sup>{escape(n)}</sup>" for n in fp.notes)
    lo, hi = (_pos(fp, v) for v in fp.xlim)
    pad = 0.04 * (hi - lo)
    kind = "log" if fp.log_x else "linear"
    fig.update_layout(
        title={"text": head, "y": 0.99, "yanchor": "top", "yref": "container"},
        template="plotly_white",
        hovermode="closest",
        height=620 + 6 * top_labels,
        margin={"t": 90 + int(6.5 * top_labels), "r": 40},
        legend={"font": {"size": 11}},
    )
    fig.update_xaxes(type=kind, range=[lo - pad, hi + pad])
    fig.update_xaxes(title_text=title(fp.x.label, fp.x.note), row=2 if fp.has_strip else 1, col=1)
    fig.update_yaxes(title_text=title(fp.y.label, fp.y.note), row=1, col=1)
    if fp.has_strip:
        fig.update_yaxes(
            range=[0, 1],
            tickvals=[0.5],
            ticktext=[fp.strip_label],
            fixedrange=True,
            showgrid=False,
            row=2,
            col=1,
        )


def pareto_plotly(
    frames: Frames,
    x: str = "flops",
    y: str = "accuracy",
    logx: bool | None = None,
    references: Sequence[Reference] = (),
    budget_lines: BudgetLike = None,
    labels: Sequence[str] = (),
    directions: Mapping[str, str] | None = None,
    title: str | None = None,
) -> PlotlyFigure:
    """The content of :func:`plots.pareto_figure` as an interactive plotly figure (hover shows each trial)."""
    return draw_plotly(front_plot(frames, x, y, logx, references, budget_lines, labels, directions, title))


def draw_plotly(fp: FrontPlot) -> PlotlyFigure:
    """A plotly figure of a :class:`FrontPlot`: the plot, and under it the strip of trials without y."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    rows = 2 if fp.has_strip else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.02,
        row_heights=[1 - _STRIP, _STRIP] if rows == 2 else None,
    )
    palette = qualitative.D3
    for run in fp.runs:
        color = palette[run.index % len(palette)]
        _markers(fig, fp, run, color)
        _front(fig, fp, run, color)
    top = _references(fig, fp)
    _budgets(fig, fp)
    _layout(fig, fp, top)
    return fig


def pareto_html(frames: Frames, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`pareto_plotly` (same arguments) as a self-contained HTML file (plotly.js inline)."""
    fig = pareto_plotly(frames, **kwargs)
    return write_atomic(path, fig.to_html(include_plotlyjs=True, full_html=True))
