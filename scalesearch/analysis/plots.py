"""Pareto plots as matplotlib figures (PNG/SVG/PDF): a renderer of :class:`front_plot.FrontPlot`.

Every trial is drawn: front points large and joined by a step line per run, dominated points
small and faded in the run's colour, pruned ones hollow, over-budget ones grey hollow, failed
ones grey ``x``. Trials without a y value (failed, rejected before training) sit in a labelled
strip under the plot, never on a y value they do not have. Canonical networks are reference
markers (or dashed vertical lines when they have no y value), budgets are red lines with the
side that breaks them shaded. Labels are placed by label_placement.py; figures are saved
atomically (rendered in memory first, so a killed process leaves no temporary file behind).
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from scalesearch.analysis.front_plot import (
    BudgetLike,
    Frames,
    FrontPlot,
    Reference,
    RunSeries,
    budget_lines_from,
    front_plot,
    point_label,
)
from scalesearch.analysis.label_placement import (
    Placer,
    hline_candidates,
    point_candidates,
    variants,
    vline_candidates,
)
from scalesearch.atomic import write_atomic
from scalesearch.errors import ScalesearchError
from scalesearch.formatting import format_metric
from scalesearch.metrics import METRICS, Metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["axis_info", "budget_lines_from", "format_cost", "pareto_figure", "point_label", "save_figure"]

_GREY = "0.45"
_BUDGET = "tab:red"
_TAG = {"fontsize": 7.5, "bbox": {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}}


def axis_info(column: str) -> tuple[str, float, str]:
    """``(label, scale, unit)`` of a column by default: plotted value = raw value / scale."""
    a = METRICS.get(column, Metric(column, "min", column))
    return a.label, a.scale, a.unit


def format_cost(column: str, value: Any) -> str:
    """A raw value in its column's display unit: ``4.2e9`` flops → ``"4.2G"`` (see scalesearch.formatting)."""
    return format_metric(column, value)


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: float | None = None) -> Path:
    """Save a matplotlib figure as ``.png``, ``.svg`` or ``.pdf``, atomically.

    The figure is rendered in memory and then written in one short step, so a process killed
    while rendering leaves no temporary file beside the target. ``dpi`` defaults to the
    figure's own (labels were placed at it). SVG text stays text (``svg.fonttype: none``).
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise ScalesearchError(f"a figure file must end in .png, .svg or .pdf, but got {target.name!r}")
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, dpi=dpi or fig.dpi)
    return write_atomic(target, buf.getvalue())


def _tick_text(value: float, _pos: Any = None) -> str:
    """A tick label as a plain decimal (``0.0002``, ``20``), never ``2e-04`` or ``2×10⁻⁴``."""
    return np.format_float_positional(float(value), precision=3, unique=True, fractional=False, trim="-")


def _axes(fig: Figure, fp: FrontPlot) -> tuple[Axes, Axes | None]:
    """The plot, and under it the strip of trials without a y value (when there are some)."""
    if not fp.has_strip:
        return fig.add_subplot(), None
    grid = fig.add_gridspec(2, 1, height_ratios=(13, 1), hspace=0.0)
    ax = fig.add_subplot(grid[0])
    strip = fig.add_subplot(grid[1], sharex=ax)
    ax.tick_params(labelbottom=False)
    strip.set_ylim(0, 1)
    strip.set_yticks([0.5], [fp.strip_label], fontsize=8)
    strip.tick_params(axis="y", length=0)
    strip.set_facecolor("0.96")
    return ax, strip


def _styles(color: Any) -> dict[str, dict[str, Any]]:
    dot = {"s": 20, "color": color, "alpha": 0.45, "linewidths": 0, "zorder": 2}
    hollow = {"s": 24, "facecolors": "none", "linewidths": 0.9, "zorder": 2}
    return {
        "dominated": dot,
        "missing": dot,
        "pruned": {**hollow, "edgecolors": color},
        "over budget": {**hollow, "s": 26, "edgecolors": _GREY},
        "failed": {"s": 26, "marker": "x", "color": _GREY, "linewidths": 0.9, "zorder": 2},
    }


def _draw_run(
    ax: Axes,
    strip: Axes | None,
    run: RunSeries,
    color: Any,
    where: Literal["pre", "post"],
    out: dict[str, list[Any]],
) -> None:
    """Markers of one run (strip for trials without y), its front step line and legend handle."""
    from matplotlib.lines import Line2D

    for st, style in _styles(color).items():
        on, off = run.marked(st, True), run.marked(st, False)
        if len(on):
            out["soft"].append((ax.scatter(on["_x"], on["_y"], **style), style["s"]))
        if len(off) and strip is not None:
            strip.scatter(
                off["_x"], np.full(len(off), 0.5), **{k: v for k, v in style.items() if k != "alpha"}
            )
        if len(on) or len(off):
            out["seen"].append(st)
    f = run.front
    if len(f):
        fx, fy = f["_x"].to_numpy(dtype=float), f["_y"].to_numpy(dtype=float)
        ax.step(fx, fy, where=where, color=color, lw=1.6, zorder=3)
        out["steps"].append(_step_xy(fx, fy, where))
        dots = ax.scatter(fx, fy, s=44, color=color, edgecolors="black", linewidths=0.6, zorder=4)
        out["strict"].append((dots, 44))
        out["front_labels"] += list(zip(fx, fy, run.labels, strict=False))
    out["handles"].append(
        Line2D(
            [],
            [],
            color=color,
            lw=1.6,
            marker="o",
            markersize=6,
            markeredgecolor="black",
            markeredgewidth=0.6,
            label=f"{run.name}: front ({len(f)} of {run.complete} complete)",
        )
    )


def _step_xy(fx: np.ndarray, fy: np.ndarray, where: Literal["pre", "post"]) -> np.ndarray:
    """Vertices of a step line through the points (as ``Axes.step`` draws it)."""
    pts = [(fx[0], fy[0])]
    for x0, y0, x1, y1 in zip(fx[:-1], fy[:-1], fx[1:], fy[1:], strict=True):
        pts += [(x1, y0), (x1, y1)] if where == "post" else [(x0, y1), (x1, y1)]
    return np.array(pts, dtype=float)


def _status_handles(seen: Sequence[str], color: Any | None) -> list[Any]:
    """Legend entries drawn as the markers are: in the run's colour for one run, else say so."""
    from matplotlib.lines import Line2D

    c = color if color is not None else "0.35"
    tail = "" if color is not None else " (run colour)"
    proxies = {
        "dominated": Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=4.5,
            color=c,
            alpha=0.45,
            markeredgewidth=0,
            label="dominated" + tail,
        ),
        "pruned": Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=5,
            markerfacecolor="none",
            markeredgecolor=c,
            label="pruned (stopped early)" + tail,
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
    return [p for st, p in proxies.items() if st in seen]


def _x_axis(ax: Axes, fp: FrontPlot) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if fp.log_x:
        ax.set_xscale("log")
        decades = np.log10(fp.xlim[1] / fp.xlim[0])
        subs = (
            (1.0,) if decades > 4 else (1.0, 2.0, 5.0) if decades > 1 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
        )
        ax.xaxis.set_major_locator(LogLocator(subs=subs))
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor ticks unlabelled: no ambiguous 2×10⁻¹ labels
    else:
        ax.set_xscale("linear")
    ax.xaxis.set_major_formatter(FuncFormatter(_tick_text))
    ax.set_xlim(*fp.xlim)


def _references(ax: Axes, strip: Axes | None, fp: FrontPlot, out: dict[str, list[Any]]) -> None:
    from matplotlib.lines import Line2D

    with_y = [r for r in fp.references if r.y is not None]
    if with_y:
        dots = ax.scatter(
            [r.x for r in with_y],
            [r.y for r in with_y if r.y is not None],
            marker="D",
            s=34,
            color="white",
            edgecolors="black",
            linewidths=1.0,
            zorder=5,
        )
        out["strict"].append((dots, 34))
        out["handles"].append(
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
    lines = [r for r in fp.references if r.y is None]
    for r in lines:
        for a in filter(None, (ax, strip)):
            a.axvline(r.x, color="0.35", ls=(0, (4, 3)), lw=0.9, zorder=1)
    if lines:
        out["handles"].append(
            Line2D([], [], color="0.35", ls=(0, (4, 3)), lw=0.9, label="canonical network (cost only)")
        )


def _budgets(ax: Axes, strip: Axes | None, fp: FrontPlot, out: dict[str, list[Any]]) -> None:
    from matplotlib.lines import Line2D

    (x0, x1), (y0, y1) = fp.xlim, fp.ylim
    for b in fp.budget_lines:
        line: dict[str, Any] = {"color": _BUDGET, "ls": (0, (6, 3)), "lw": 1.3, "zorder": 1}
        if b.axis == "x":
            for a in filter(None, (ax, strip)):
                a.axvline(b.value, **line)
            ax.axvspan(
                *((b.value, x1) if b.over == "high" else (x0, b.value)), color=_BUDGET, alpha=0.05, lw=0
            )
        else:
            ax.axhline(b.value, **line)
            ax.axhspan(
                *((b.value, y1) if b.over == "high" else (y0, b.value)), color=_BUDGET, alpha=0.05, lw=0
            )
    if fp.budget_lines:
        out["handles"].append(
            Line2D([], [], color=_BUDGET, ls=(0, (6, 3)), lw=1.3, label="budget bound (shaded: over)")
        )


def _place_labels(fig: Figure, ax: Axes, fp: FrontPlot, out: dict[str, list[Any]]) -> Placer:
    """Freeze the layout, then place labels where they collide with nothing."""
    fig.canvas.draw()
    fig.set_layout_engine("none")
    placer = Placer(fig, ax, out["strict"], out["soft"])
    for path in out["steps"]:
        placer.avoid_path(path, ax.transData)
    for b in fp.budget_lines:
        if b.axis == "x":
            placer.place(b.text, ax.get_xaxis_transform(), vline_candidates(b.value), color=_BUDGET, **_TAG)
        else:
            placer.place(b.text, ax.get_yaxis_transform(), hline_candidates(b.value), color=_BUDGET, **_TAG)
    for r in fp.references:
        if r.y is None:
            placer.place(r.name, ax.get_xaxis_transform(), vline_candidates(r.x), color="0.2", **_TAG)
    for r in fp.references:
        if r.y is not None:
            cands = point_candidates((r.x, r.y), fp.toward)
            placer.place(r.name, "data", cands, color="black", fontweight="bold", **_TAG)
    # Best y first, so that when space runs out the labels left out are the crowded low ones.
    for fx, fy, text in sorted(out["front_labels"], key=lambda t: -t[1] * fp.toward[1]):
        if text:
            placer.place(variants(text), "data", point_candidates((fx, fy), fp.toward), color="0.1", **_TAG)
    return placer


def draw_figure(fp: FrontPlot, figsize: tuple[float, float] = (10.0, 6.0), dpi: float = 150) -> Figure:
    """A matplotlib Figure of a :class:`FrontPlot`."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax, strip = _axes(fig, fp)
    colors = [matplotlib.colormaps["tab10"](i) for i in range(10)]
    out: dict[str, list[Any]] = {
        k: [] for k in ("strict", "soft", "steps", "front_labels", "handles", "seen")
    }
    where: Literal["pre", "post"] = "post" if fp.x.direction == "min" else "pre"
    for run in fp.runs:
        _draw_run(ax, strip, run, colors[run.index % len(colors)], where, out)
    one = colors[fp.runs[0].index % len(colors)] if len(fp.runs) == 1 else None
    out["handles"] += _status_handles(out["seen"], one)
    _x_axis(ax, fp)
    ax.set_ylim(*fp.ylim)
    if fp.empty:
        ax.text(
            0.5,
            0.5,
            f"no trials with {fp.x.column} and {fp.y.column} values yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
    _references(ax, strip, fp, out)
    _budgets(ax, strip, fp, out)
    ax.set_xlim(*fp.xlim)
    (strip or ax).set_xlabel(f"{fp.x.label}\n{fp.x.note}" if fp.x.note else fp.x.label)
    ax.set_ylabel(f"{fp.y.label}\n{fp.y.note}" if fp.y.note else fp.y.label)
    ax.grid(True, which="major", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_title(fp.title)
    legend = fig.legend(handles=out["handles"], loc="outside right upper", fontsize=8, frameon=False)
    placer = _place_labels(fig, ax, fp, out)
    notes = list(fp.notes)
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


def pareto_figure(
    frames: Frames,
    x: str = "flops",
    y: str = "accuracy",
    logx: bool | None = None,
    references: Sequence[Reference] = (),
    budget_lines: BudgetLike = None,
    labels: Sequence[str] = (),
    directions: Mapping[str, str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (10.0, 6.0),
    dpi: float = 150,
) -> Figure:
    """A matplotlib Figure of every trial of each run (label → results table) on ``x`` vs ``y``.

    Arguments as :func:`scalesearch.analysis.front_plot.front_plot`: ``logx`` True/False forces
    a log/linear x axis (None: log past a 30× span); ``budget_lines`` is a Budget, a budget text
    or ``{column: bound}``. Labels that find no free spot are left out (the figure says how
    many); the HTML plot shows every point on hover.
    """
    fp = front_plot(frames, x, y, logx, references, budget_lines, labels, directions, title)
    return draw_figure(fp, figsize, dpi)
