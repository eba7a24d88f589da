"""Pareto plots of results tables as matplotlib figures (PNG/SVG); plotly HTML in plots_html.py.

Every trial is drawn: front points large and joined by a step line per run, dominated
points small, pruned ones hollow, over-budget ones grey hollow, failed ones grey ``x``.
Trials with a cost but no value on the y axis (e.g. rejected by the budget before
training) sit in a rug along the bottom of the plot. Canonical networks are reference
markers (or dashed vertical lines when they have no y value), budgets are red lines.

Reference and budget values are given in the column's own units (FLOPs as a count,
accuracy as a fraction); for ``accuracy`` a reference value above 1 is read as a percent.
Figures are saved atomically (scalesearch.atomic); labels are placed by label_placement.py.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scalesearch.analysis.label_placement import (
    Placer,
    hline_candidates,
    point_candidates,
    variants,
    vline_candidates,
)
from scalesearch.analysis.pareto import mark_front, resolve_directions
from scalesearch.atomic import atomic_path
from scalesearch.errors import ScalesearchError
from scalesearch.metrics import METRICS, Metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure


Frames = Mapping[str, pd.DataFrame] | pd.DataFrame
Reference = Mapping[str, Any]


_AXES = METRICS

_SYMBOLS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "phi": "φ",
    "width_mult": "w",
    "depth_mult": "d",
    "resolution": "r",
}
_GREY = "0.45"
_BUDGET = "tab:red"


def axis_info(column: str) -> tuple[str, float, str]:
    """``(label, scale, unit)`` for a column: plotted value = raw value / scale."""
    a = _AXES.get(column, Metric(column, "min", column))
    return a.label, a.scale, a.unit


def _axis_label(column: str) -> str:
    a = _AXES.get(column, Metric(column, "min", column))
    return f"{a.label}\n{a.note}" if a.note else a.label


def format_cost(column: str, value: Any) -> str:
    """A raw value in its column's display unit: ``4.2e9`` flops → ``"4.2G"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    _, scale, unit = axis_info(column)
    return f"{float(value) / scale:.3g}{unit}"


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: float | None = None) -> Path:
    """Save a matplotlib figure as ``.png``, ``.svg`` or ``.pdf``, atomically.

    ``dpi`` defaults to the figure's own: labels are placed at that resolution, and text
    widths change slightly with it (hinting), so keep it for the cleanest result. SVG text
    stays text (``svg.fonttype: none``), so labels can be searched and selected.
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise ScalesearchError(f"a figure file must end in .png, .svg or .pdf, but got {target.name!r}")
    import matplotlib

    # SVG keeps its text as text (searchable, selectable) rather than glyph outlines.
    with atomic_path(target) as tmp, matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(tmp, format=fmt, dpi=dpi or fig.dpi)
    return target


# --------------------------------------------------------------------------- inputs


_BOUND = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(<=|<|>=|>)\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*$")


def budget_lines_from(budget: str | None) -> dict[str, float]:
    """Numeric bounds of a budget string: ``"flops<=4.2e9,params<=30e6"`` → ``{"flops": 4.2e9, ...}``.

    Clauses that are not ``column op number`` (e.g. relative to a canonical network) are skipped.
    """
    out: dict[str, float] = {}
    for clause in re.split(r"[,;]|\band\b", budget or ""):
        m = _BOUND.match(clause)
        if m:
            out[m.group(1)] = float(m.group(3))
    return out


def _frames(frames: Frames) -> dict[str, pd.DataFrame]:
    if isinstance(frames, pd.DataFrame):
        label = str(frames["run"].iloc[0]) if "run" in frames.columns and len(frames) else "run"
        return {label: frames}
    if not frames:
        raise ScalesearchError("nothing to plot: no results tables were given")
    return dict(frames)


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt_value(v) for v in value)
    return str(value)


def point_label(row: pd.Series, labels: Sequence[str]) -> str:
    """``"α=1.2 β=1.1"``: the values of ``labels`` from the row's ``point`` (or its columns)."""
    point = row.get("point")
    point = dict(point) if isinstance(point, Mapping) else {}
    values = row.get("values")
    if isinstance(values, Mapping):  # searched values (e.g. alpha, beta, gamma) that derive the point
        point = {**point, **values}
    parts = []
    for name in labels:
        value = point.get(name, row.get(name))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        parts.append(f"{_SYMBOLS.get(name, name)}={_fmt_value(value)}")
    return " ".join(parts)


def _ref_y(column: str, value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    if column == "accuracy" and value > 1:
        value /= 100.0
    return value


def _references(refs: Sequence[Reference]) -> list[tuple[str, float, float | None]]:
    out = []
    for ref in refs:
        try:
            out.append((str(ref["name"]), float(ref["x_value"]), ref.get("y_value")))
        except (KeyError, TypeError, ValueError) as err:
            raise ScalesearchError(
                f"a reference must be a dict with name, x_value and optional y_value, but got {ref!r}"
            ) from err
    return out


def _use_log(values: Sequence[float], logx: bool | None) -> bool:
    if logx is not None:
        return bool(logx)
    pos = [v for v in values if v > 0 and math.isfinite(v)]
    return len(pos) > 1 and max(pos) / min(pos) > 30


def _limits(
    values: Sequence[float], log: bool, lo_pad: float = 0.06, hi_pad: float = 0.06
) -> tuple[float, float]:
    vals = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return (0.1, 10.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if log:
        a, b = math.log10(lo), math.log10(hi)
        span = max(b - a, 0.2)
        return 10 ** (a - lo_pad * span), 10 ** (b + hi_pad * span)
    span = hi - lo or max(abs(hi), 1.0) * 0.1
    return lo - lo_pad * span, hi + hi_pad * span


# --------------------------------------------------------------------------- matplotlib


def _step_xy(fx: np.ndarray, fy: np.ndarray, where: str) -> np.ndarray:
    """Vertices of a step line through the points (as ``Axes.step`` draws it)."""
    pts = [(fx[0], fy[0])]
    for (x0, y0), (x1, y1) in zip(
        zip(fx[:-1], fy[:-1], strict=True), zip(fx[1:], fy[1:], strict=True), strict=True
    ):
        pts += [(x1, y0), (x1, y1)] if where == "post" else [(x0, y1), (x1, y1)]
    return np.array(pts, dtype=float)


def pareto_figure(
    frames: Frames,
    x: str = "flops",
    y: str = "accuracy",
    logx: bool | None = None,
    references: Sequence[Reference] = (),
    budget_lines: Mapping[str, float] | None = None,
    labels: Sequence[str] = (),
    directions: Mapping[str, str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (10.0, 6.0),
    dpi: float = 150,
) -> Figure:
    """A matplotlib Figure of every trial of each run (label → results table) on ``x`` vs ``y``.

    ``logx=None`` picks a log x axis when the x values span more than 30×. ``references``
    are dicts ``{"name", "x_value", "y_value" (optional)}``; ``budget_lines`` maps a column
    to its bound (drawn when the column is ``x`` or ``y``, listed otherwise); ``labels``
    are the parameter names shown beside front points. Labels that find no free spot
    are left out (the figure says how many); the HTML plot shows every point on hover.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator

    runs = _frames(frames)
    dirs = {}
    for df in runs.values():
        dirs = resolve_directions(df, [x, y], directions)
    budget_lines = dict(budget_lines or {})
    refs = _references(references)
    _, xs, _ = axis_info(x)
    _, ys, _ = axis_info(y)
    toward = (-1 if dirs[x] == "min" else 1, 1 if dirs[y] == "max" else -1)

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = matplotlib.colormaps["tab10"].colors
    strict: list[tuple[Any, float]] = []
    soft: list[tuple[Any, float]] = []
    handles: list[Any] = []
    x_all: list[float] = []
    y_all: list[float] = []
    rug: list[tuple[np.ndarray, dict[str, Any]]] = []
    steps: list[np.ndarray] = []
    front_labels: list[tuple[float, float, str]] = []
    seen: set[str] = set()
    undrawn = 0

    for i, (name, df) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        m = mark_front(df, [x, y], directions)
        xv = pd.to_numeric(m[x], errors="coerce").to_numpy(dtype=float) / xs
        yv = pd.to_numeric(m[y], errors="coerce").to_numpy(dtype=float) / ys
        has_x, has_y = np.isfinite(xv), np.isfinite(yv)
        status = m["status"].to_numpy()
        undrawn += int((~has_x & (status != "running")).sum())
        x_all += list(xv[has_x])
        y_all += list(yv[has_x & has_y])
        dot = {"s": 20, "color": color, "alpha": 0.45, "linewidths": 0, "zorder": 2}
        styles = {
            "dominated": dot,
            "missing": dot,
            "pruned": {"s": 24, "facecolors": "none", "edgecolors": color, "linewidths": 0.9, "zorder": 2},
            "over budget": {
                "s": 26,
                "facecolors": "none",
                "edgecolors": _GREY,
                "linewidths": 0.9,
                "zorder": 2,
            },
            "failed": {"s": 26, "marker": "x", "color": _GREY, "linewidths": 0.9, "zorder": 2},
        }
        for st, style in styles.items():
            sel = (status == st) & has_x
            if not sel.any():
                continue
            seen.add(st)
            if (sel & has_y).any():
                soft.append((ax.scatter(xv[sel & has_y], yv[sel & has_y], **style), style["s"]))
            if (sel & ~has_y).any():
                rug.append((xv[sel & ~has_y], style))
        front = (status == "front") & has_x & has_y
        order = np.argsort(xv[front], kind="stable")
        fx, fy = xv[front][order], yv[front][order]
        if len(fx):
            where = "post" if dirs[x] == "min" else "pre"
            ax.step(fx, fy, where=where, color=color, lw=1.6, zorder=3)
            steps.append(_step_xy(fx, fy, where))
            strict.append(
                (ax.scatter(fx, fy, s=44, color=color, edgecolors="black", linewidths=0.6, zorder=4), 44)
            )
            if labels:
                rows = [r for _, r in m.loc[front].iloc[order].iterrows()]
                front_labels += [(a, b, point_label(r, labels)) for a, b, r in zip(fx, fy, rows, strict=True)]
        n_ok = int(np.isin(status, ["front", "dominated"]).sum())
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                lw=1.6,
                marker="o",
                markersize=6,
                markeredgecolor="black",
                markeredgewidth=0.6,
                label=f"{name}: front ({len(fx)} of {n_ok} complete)",
            )
        )

    proxies = {
        "dominated": Line2D(
            [], [], ls="", marker="o", markersize=4.5, color="0.55", alpha=0.6, label="dominated"
        ),
        "pruned": Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=5,
            markerfacecolor="none",
            markeredgecolor="0.3",
            label="pruned (stopped early)",
        ),
        "over budget": Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=5,
            markerfacecolor="none",
            markeredgecolor=_GREY,
            label="over budget",
        ),
        "failed": Line2D([], [], ls="", marker="x", markersize=5, color=_GREY, label="failed"),
    }
    handles += [p for st, p in proxies.items() if st in seen]
    y_name = axis_info(y)[0].split(" (")[0]
    if rug:
        handles.append(Line2D([], [], ls="", label=f"(bottom row: no {y_name})"))

    # References and budgets, in plot units.
    ref_pts = []
    for n, rx, ry in refs:
        ry = _ref_y(y, ry)
        ref_pts.append((n, rx / xs, None if ry is None else ry / ys))
    x_all += [rx for _, rx, _ in ref_pts]
    y_all += [ry for _, _, ry in ref_pts if ry is not None]
    bx = budget_lines[x] / xs if x in budget_lines else None
    by = budget_lines[y] / ys if y in budget_lines else None
    x_all += [bx] if bx is not None else []
    y_all += [by] if by is not None else []

    log = _use_log(x_all, logx)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlim(*_limits(x_all, log))
    ax.set_ylim(
        *_limits(
            y_all or ([0.0, 100.0] if y == "accuracy" else []),
            False,
            lo_pad=0.16 if rug else 0.06,
            hi_pad=0.08,
        )
    )
    if not any(len(c.get_offsets()) for c in ax.collections) and not rug:
        ax.text(
            0.5,
            0.5,
            f"no trials with {x} and {y} values yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
    for vals, style in rug:
        style = {k: v for k, v in style.items() if k != "alpha"}
        soft.append(
            (
                ax.scatter(vals, np.full(len(vals), 0.03), transform=ax.get_xaxis_transform(), **style),
                style["s"],
            )
        )

    with_y = [(n, rx, ry) for n, rx, ry in ref_pts if ry is not None]
    if with_y:
        strict.append(
            (
                ax.scatter(
                    [r[1] for r in with_y],
                    [r[2] for r in with_y],
                    marker="D",
                    s=34,
                    color="white",
                    edgecolors="black",
                    linewidths=1.0,
                    zorder=5,
                ),
                34,
            )
        )
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="D",
                markersize=5.5,
                markerfacecolor="white",
                markeredgecolor="black",
                label="canonical network",
            )
        )
    no_y = sorted(((n, rx) for n, rx, ry in ref_pts if ry is None), key=lambda r: r[1])
    for _, rx in no_y:
        ax.axvline(rx, color="0.35", ls=(0, (4, 3)), lw=0.9, zorder=1)
    if no_y:
        handles.append(
            Line2D([], [], color="0.35", ls=(0, (4, 3)), lw=0.9, label="canonical network (cost only)")
        )
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    if bx is not None:
        ax.axvline(bx, color=_BUDGET, ls=(0, (6, 3)), lw=1.3, zorder=1)
        ax.axvspan(*((bx, x1) if dirs[x] == "min" else (x0, bx)), color=_BUDGET, alpha=0.05, lw=0, zorder=0)
    if by is not None:
        ax.axhline(by, color=_BUDGET, ls=(0, (6, 3)), lw=1.3, zorder=1)
        ax.axhspan(*((by, y1) if dirs[y] == "min" else (y0, by)), color=_BUDGET, alpha=0.05, lw=0, zorder=0)
    if bx is not None or by is not None:
        handles.append(
            Line2D([], [], color=_BUDGET, ls=(0, (6, 3)), lw=1.3, label="budget bound (shaded: over)")
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)

    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(_axis_label(y))
    ax.grid(True, which="major", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title or f"{y_name} vs {axis_info(x)[0].split(' (')[0]}: Pareto front")
    legend = fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)

    # Freeze the layout, then place labels where they collide with nothing.
    fig.canvas.draw()
    fig.set_layout_engine("none")
    placer = Placer(fig, ax, strict, soft)
    for path in steps:
        placer.avoid_path(path, ax.transData)
    tag = {"fontsize": 7.5, "bbox": {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}}
    if bx is not None:
        text = f"budget: {x} ≤ {format_cost(x, budget_lines[x])}"
        placer.place(text, ax.get_xaxis_transform(), vline_candidates(bx), color=_BUDGET, **tag)
    if by is not None:
        text = f"budget: {y} ≤ {format_cost(y, budget_lines[y])}"
        placer.place(text, ax.get_yaxis_transform(), hline_candidates(by), color=_BUDGET, **tag)
    for n, rx in no_y:
        placer.place(n, ax.get_xaxis_transform(), vline_candidates(rx), color="0.2", **tag)
    for n, rx, ry in with_y:
        placer.place(n, "data", point_candidates((rx, ry), toward), color="black", fontweight="bold", **tag)
    # Best y first, so that when space runs out the labels left out are the crowded low ones.
    for fx_, fy_, text in sorted(front_labels, key=lambda t: -t[1] * toward[1]):
        if text:
            placer.place(variants(text), "data", point_candidates((fx_, fy_), toward), color="0.1", **tag)

    notes = [f"{name} ≤ {format_cost(name, v)}" for name, v in budget_lines.items() if name not in (x, y)]
    notes = ["other budget bounds: " + ", ".join(notes)] if notes else []
    if undrawn:
        notes.append(f"{undrawn} trial(s) without a {x} value not drawn")
    if placer.hidden:
        notes.append(f"{placer.hidden} label(s) left out to avoid overlap (all are in the HTML plot)")
    if notes:
        lb = legend.get_window_extent(placer.renderer).transformed(fig.transFigure.inverted())
        width = max(20, int(lb.width * fig.get_figwidth() * 72 / 4.0))
        fig.text(
            lb.x0 + 0.005,
            lb.y0 - 0.02,
            "\n".join(textwrap.fill(n, width) for n in notes),
            fontsize=7,
            color="0.3",
            va="top",
            ha="left",
        )
    return fig
