"""Interactive Pareto plots: the content of :func:`scalesearch.analysis.plots.pareto_figure` as plotly HTML."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scalesearch.analysis.pareto import mark_front, resolve_directions
from scalesearch.analysis.plots import (
    Frames,
    Reference,
    _axis_label,
    _fmt_value,
    _frames,
    _ref_y,
    _references,
    _use_log,
    axis_info,
    format_cost,
    point_label,
)
from scalesearch.atomic import write_atomic

if TYPE_CHECKING:
    from plotly.graph_objects import Figure as PlotlyFigure


def _hover(row: pd.Series, run: str, x: str, y: str) -> str:
    """Hover text (plotly's HTML subset; user strings escaped): the trial, its point and costs."""
    lines = [f"<b>{escape(run)}</b> trial #{row.get('number', row.name)} ({row['status']})"]
    point = row.get("point")
    if isinstance(point, Mapping) and point:
        items = [escape(f"{k}={_fmt_value(v)}") for k, v in point.items() if v is not None]
        lines += [", ".join(items[i : i + 4]) for i in range(0, len(items), 4)]
    costs = []
    for col in dict.fromkeys([x, y, "accuracy", "flops", "params", "activations", "latency_ms"]):
        if col in row and pd.notna(row[col]) and not isinstance(row[col], (str, Mapping)):
            costs.append(f"{col}={format_cost(col, row[col])}")
    lines.append(", ".join(costs))
    if row.get("violations"):
        lines.append(f"over budget: {escape(str(row['violations']))}")
    return "<br>".join(lines)


def pareto_plotly(
    frames: Frames,
    x: str = "flops",
    y: str = "accuracy",
    logx: bool | None = None,
    references: Sequence[Reference] = (),
    budget_lines: Mapping[str, float] | None = None,
    labels: Sequence[str] = (),
    directions: Mapping[str, str] | None = None,
    title: str | None = None,
) -> PlotlyFigure:
    """The content of :func:`pareto_figure` as an interactive plotly figure (hover shows each trial)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    runs = _frames(frames)
    budget_lines = dict(budget_lines or {})
    refs = _references(references)
    _, xs, _ = axis_info(x)
    _, ys, _ = axis_info(y)
    fig = go.Figure()
    palette = qualitative.D3
    x_all: list[float] = []
    symbols = {
        "dominated": ("circle", None),
        "missing": ("circle", None),
        "pruned": ("circle-open", None),
        "over budget": ("circle-open", "grey"),
        "failed": ("x-thin-open", "grey"),
    }
    has_rug = False
    for i, (name, df) in enumerate(runs.items()):
        color = palette[i % len(palette)]
        m = mark_front(df, [x, y], directions)
        m["_x"] = pd.to_numeric(m[x], errors="coerce") / xs
        m["_y"] = pd.to_numeric(m[y], errors="coerce") / ys
        m = m.loc[m["_x"].notna() & (m["status"] != "running")]
        x_all += list(m["_x"])
        for st, (symbol, grey) in symbols.items():
            part = m.loc[m["status"] == st]
            if part.empty:
                continue
            hover = [_hover(r, name, x, y) for _, r in part.iterrows()]
            on = part["_y"].notna().to_numpy()
            marker = {"symbol": symbol, "color": grey or color, "size": 7, "line": {"width": 1.2}}
            opacity = 0.5 if st in ("dominated", "missing") else 0.9
            if on.any():
                fig.add_trace(
                    go.Scatter(
                        x=part["_x"][on],
                        y=part["_y"][on],
                        mode="markers",
                        marker=marker,
                        opacity=opacity,
                        name=f"{name}: {st}",
                        legendgroup=name,
                        hovertext=np.array(hover)[on],
                        hoverinfo="text",
                    )
                )
            if (~on).any():
                has_rug = True
                fig.add_trace(
                    go.Scatter(
                        x=part["_x"][~on],
                        y=[0.03] * int((~on).sum()),
                        yaxis="y2",
                        mode="markers",
                        marker=marker,
                        opacity=opacity,
                        name=f"{name}: {st} (no {y})",
                        legendgroup=name,
                        hovertext=np.array(hover)[~on],
                        hoverinfo="text",
                    )
                )
        front = m.loc[m["status"] == "front"].sort_values("_x", kind="stable")
        if not front.empty:
            shape = "hv" if resolve_directions(df, [x], directions)[x] == "min" else "vh"
            text = [point_label(r, labels) for _, r in front.iterrows()] if labels else None
            fig.add_trace(
                go.Scatter(
                    x=front["_x"],
                    y=front["_y"],
                    mode="lines+markers+text" if labels else "lines+markers",
                    line={"shape": shape, "color": color, "width": 2},
                    name=f"{name}: front",
                    legendgroup=name,
                    marker={"color": color, "size": 9, "line": {"color": "black", "width": 1}},
                    text=text,
                    textposition=["top left" if j % 2 else "bottom right" for j in range(len(front))],
                    textfont={"size": 10},
                    hovertext=[_hover(r, name, x, y) for _, r in front.iterrows()],
                    hoverinfo="text",
                )
            )

    with_y, levels = [], []
    for n, rx, ry in sorted(refs, key=lambda r: r[1]):
        ry = _ref_y(y, ry)
        x_all.append(rx / xs)
        costs = f"{x}={format_cost(x, rx)}" + ("" if ry is None else f", {y}={format_cost(y, ry)}")
        if ry is not None:
            with_y.append((n, rx / xs, ry / ys, costs))
            continue
        fig.add_vline(x=rx / xs, line={"dash": "dash", "color": "grey", "width": 1})
        levels.append((n, rx / xs, costs))
    if with_y:
        fig.add_trace(
            go.Scatter(
                x=[r[1] for r in with_y],
                y=[r[2] for r in with_y],
                mode="markers+text",
                name="canonical networks",
                text=[r[0] for r in with_y],
                textposition="middle right",
                marker={
                    "symbol": "diamond",
                    "size": 9,
                    "color": "white",
                    "line": {"color": "black", "width": 1.5},
                },
                hovertext=[f"<b>{r[0]}</b> (canonical)<br>{r[3]}" for r in with_y],
                hoverinfo="text",
            )
        )
    log = _use_log(x_all + [v / xs for k, v in budget_lines.items() if k == x], logx)
    for j, (n, rx, costs) in enumerate(levels):
        fig.add_annotation(
            x=math.log10(rx) if log else rx,
            y=1 - 0.18 * (j % 4),
            xref="x",
            yref="paper",
            text=n,
            textangle=-90,
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"size": 10, "color": "#333"},
            hovertext=f"{n} (canonical)<br>{costs}",
            bgcolor="rgba(255,255,255,0.7)",
        )
    for col, value in budget_lines.items():
        text = f"budget: {col} ≤ {format_cost(col, value)}"
        if col == x:
            # Shapes take data values; annotations on a log axis take log10 (plotly.py#2580).
            fig.add_vline(x=value / xs, line={"dash": "dash", "color": "crimson", "width": 1.5})
            fig.add_annotation(
                x=math.log10(value / xs) if log else value / xs,
                y=0.06,
                xref="x",
                yref="paper",
                text=text,
                textangle=-90,
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
                font={"size": 11, "color": "crimson"},
                bgcolor="rgba(255,255,255,0.7)",
            )
        elif col == y:
            fig.add_hline(
                y=value / ys,
                line={"dash": "dash", "color": "crimson", "width": 1.5},
                annotation_text=text,
                annotation_font_color="crimson",
            )
    other = [f"{c} ≤ {format_cost(c, v)}" for c, v in budget_lines.items() if c not in (x, y)]
    xlabel = _axis_label(x).replace("\n", "<br><sup>") + ("</sup>" if "\n" in _axis_label(x) else "")
    ylabel = _axis_label(y).replace("\n", "<br><sup>") + ("</sup>" if "\n" in _axis_label(y) else "")
    head = title or f"{axis_info(y)[0].split(' (')[0]} vs {axis_info(x)[0].split(' (')[0]}: Pareto front"
    if other:
        head += f"<br><sup>other budget bounds: {', '.join(other)}</sup>"
    fig.update_layout(
        title=head,
        template="plotly_white",
        hovermode="closest",
        height=620,
        xaxis={"title": xlabel, "type": "log" if log else "linear"},
        yaxis={"title": ylabel},
        legend={"font": {"size": 11}},
    )
    if has_rug:
        fig.update_layout(yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True})
    return fig


def pareto_html(frames: Frames, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`pareto_plotly` (same arguments) as a self-contained HTML file (plotly.js inline)."""
    fig = pareto_plotly(frames, **kwargs)
    return write_atomic(path, fig.to_html(include_plotlyjs=True, full_html=True))
