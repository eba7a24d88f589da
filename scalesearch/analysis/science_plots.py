"""Figures of EDFs and scaling-law fits: matplotlib (PNG/SVG) and plotly (self-contained HTML).

Both renderers draw the same content: an EDF per population with its bootstrap band (the KS
statistics in the title); a fit's points, its law over the fitted range (solid) and beyond it
(dashed) to the targets, each target's prediction with its bootstrap interval; flagged families
as points only, their flag in the legend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scalesearch.analysis.edf import EDFResult
from scalesearch.analysis.fits import Fit
from scalesearch.atomic import write_atomic
from scalesearch.errors import UsageError
from scalesearch.metrics import FLOP_CONVENTION, METRICS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = (".png", ".svg", ".html")


def _label(column: str) -> str:
    if column == "error":
        return "top-1 error (%)"
    m = METRICS.get(column)
    return m.label if m else column


def _scale(column: str) -> float:
    m = METRICS.get(column)
    return m.scale if m and column != "accuracy" else 1.0


def _unit(column: str) -> str:
    m = METRICS.get(column)
    return f"1{m.unit.strip()}" if m and m.unit.strip() else "1"


def _edf_title(result: EDFResult) -> str:
    what = "complexity-matched EDF" if result.reweighted else "EDF"
    title = f"{what} of {_label(result.quantity)}"
    if result.ks:
        title += "\n" + ", ".join(f"KS({r['a']}, {r['b']}) = {r['ks']:.3f}" for r in result.ks[:3])
    return title


def edf_figure(result: EDFResult) -> Figure:
    """One step curve per population, its bootstrap band shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 5.0), dpi=120)
    ax = fig.add_subplot()
    scale = _scale(result.quantity)
    for c in result.curves:
        (line,) = ax.step(c.x / scale, c.y, where="post", label=f"{c.name} (n={c.n})", lw=1.8)
        ax.fill_between(c.x / scale, c.low, c.high, step="post", color=line.get_color(), alpha=0.18, lw=0)
    if result.quantity in METRICS and result.quantity != "accuracy":
        ax.set_xscale("log")
    ax.set_xlabel(_label(result.quantity))
    ax.set_ylabel("cumulative fraction of models")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(_edf_title(result), fontsize=10)
    ax.legend(loc="lower right", fontsize=8, title=f"{int(100 * result.level)}% bootstrap bands")
    note = "reweighted to equal log-" + result.complexity + " distributions" if result.reweighted else ""
    if result.quantity == "flops" or result.complexity == "flops":
        note = "; ".join(filter(None, [note, "FLOPs: " + FLOP_CONVENTION]))
    if note:
        fig.text(0.01, 0.005, note, fontsize=6.5, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def _law_x(fit: Fit, targets: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = float(fit.x.min()), float(fit.x.max())
    far = max([hi, *targets])
    return np.geomspace(lo, hi, 100), np.geomspace(hi, far, 50)


def fit_figure(fits: Sequence[Fit], targets: Sequence[float] = ()) -> Figure:
    """Points and laws of every family on log complexity."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 5.0), dpi=120)
    ax = fig.add_subplot()
    column = fits[0].complexity
    scale = _scale(column)
    drawn = 0
    for f in fits:
        label = f.name if f.flag is None else f"{f.name} (not fitted: {f.flag})"
        pts = ax.scatter(f.x / scale, f.y, s=22, label=label, zorder=3)
        color = pts.get_facecolor()[0]
        if f.law is None or f.flag is not None:
            continue
        inside, beyond = _law_x(f, targets)
        law = f.law
        ax.plot(inside / scale, law(inside), color=color, lw=1.5)
        ax.plot(beyond / scale, law(beyond), color=color, lw=1.2, ls="--")
        for p in f.predictions:
            err = [[p["predicted"] - p["low"]], [p["high"] - p["predicted"]]]
            ax.errorbar(p["target"] / scale, p["predicted"], yerr=err, fmt="D", color=color, capsize=3, ms=5)
        drawn += 1
        ax.text(
            0.99,
            0.98 - 0.06 * (drawn - 1),
            f"{f.name}: err = {law.a:.3g} + {law.b:.3g}·(C/{_unit(column)})^(−{law.c:.3g}), R² = {f.r2:.3f}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color=color,
        )
    ax.set_xscale("log")
    ax.set_xlabel(_label(column))
    ax.set_ylabel("top-1 error (%)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("scaling-law fits: err = a + b·C^(−c) (dashed: extrapolation)", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def edf_plotly(result: EDFResult) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    scale = _scale(result.quantity)
    for c in result.curves:
        x = c.x / scale
        fig.add_trace(
            go.Scatter(x=x, y=c.high, mode="lines", line={"width": 0, "shape": "hv"}, showlegend=False)
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=c.low, mode="lines", fill="tonexty", line={"width": 0, "shape": "hv"}, showlegend=False
            )
        )
        fig.add_trace(go.Scatter(x=x, y=c.y, mode="lines", line={"shape": "hv"}, name=f"{c.name} (n={c.n})"))
    log = result.quantity in METRICS and result.quantity != "accuracy"
    fig.update_layout(
        title=_edf_title(result).replace("\n", "<br>"),
        xaxis={"title": _label(result.quantity), "type": "log" if log else "linear"},
        yaxis={"title": "cumulative fraction of models", "range": [0, 1.02]},
    )
    return fig


def fit_plotly(fits: Sequence[Fit], targets: Sequence[float] = ()) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    column = fits[0].complexity
    scale = _scale(column)
    for f in fits:
        label = f.name if f.flag is None else f"{f.name} (not fitted: {f.flag})"
        fig.add_trace(go.Scatter(x=f.x / scale, y=f.y, mode="markers", name=label))
        if f.law is None or f.flag is not None:
            continue
        inside, beyond = _law_x(f, targets)
        fig.add_trace(go.Scatter(x=inside / scale, y=f.law(inside), mode="lines", name=f"{f.name} law"))
        fig.add_trace(
            go.Scatter(
                x=beyond / scale, y=f.law(beyond), mode="lines", line={"dash": "dash"}, showlegend=False
            )
        )
        for p in f.predictions:
            fig.add_trace(
                go.Scatter(
                    x=[p["target"] / scale],
                    y=[p["predicted"]],
                    mode="markers",
                    marker={"symbol": "diamond"},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [p["high"] - p["predicted"]],
                        "arrayminus": [p["predicted"] - p["low"]],
                    },
                    name=f"{f.name} at target",
                )
            )
    fig.update_layout(
        title="scaling-law fits: err = a + b·C^(−c) (dashed: extrapolation)",
        xaxis={"title": _label(column), "type": "log"},
        yaxis={"title": "top-1 error (%)"},
    )
    return fig


def check_out(path: str | os.PathLike[str]) -> Path:
    """An output path ending in .png, .svg or .html (checked before any work is done)."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--out must end in {', '.join(FORMATS)}, but got {out}")
    return out


def save(out: str | os.PathLike[str], figure: Any, plotly_figure: Any) -> Path:
    """``figure()`` as PNG/SVG or ``plotly_figure()`` as HTML at ``out``, written atomically."""
    path = check_out(out)
    if path.suffix.lower() == ".html":
        return write_atomic(path, plotly_figure().to_html(include_plotlyjs=True, full_html=True))
    from scalesearch.analysis.plots import save_figure

    return save_figure(figure(), path)
