"""The Pareto plot as data, computed once: what the matplotlib and plotly renderers draw.

:func:`front_plot` turns results tables (one per run), canonical networks and a budget into a
:class:`FrontPlot`: per run its trials with their status and plot coordinates, its front (sorted,
labelled), the reference markers, the budget lines (from ``parse_budget`` only), the axes (label,
unit scale, log or linear, limits) and the notes. ``plots.pareto_figure`` (matplotlib) and
``plots_html.pareto_plotly`` (plotly) only draw it.

Trials without a value on the y axis (failed, rejected by the budget before training, pruned
before a measurement) are not given a fake y: they go to a separate strip under the plot.
Reference and budget values are given in the column's own units (FLOPs as a count, accuracy as
a fraction); for ``accuracy`` a reference value above 1 is read as a percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from scalesearch.analysis.pareto import mark_front, resolve_directions
from scalesearch.errors import ScalesearchError
from scalesearch.formatting import COUNT_COLUMNS, format_metric, format_value
from scalesearch.metrics import METRICS, Metric
from scalesearch.verdict.budget import Budget, Resolver, parse_budget

Frames: TypeAlias = Mapping[str, pd.DataFrame] | pd.DataFrame
Reference: TypeAlias = Mapping[str, Any]
BudgetLike: TypeAlias = Budget | str | Mapping[str, float] | None
"""A Budget, a budget text (``"params<=0.2M,flops<=3*efficientnet_b0"``) or ``{column: upper bound}``."""

SYMBOLS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "phi": "φ",
    "width_mult": "w",
    "depth_mult": "d",
    "resolution": "r",
}
#: Statuses drawn as markers besides the front, in drawing order.
MARKED = ("dominated", "missing", "pruned", "over budget", "failed")
_SCALE_WORDS = {1e12: "trillions", 1e9: "billions", 1e6: "millions", 1e3: "thousands"}
_OP_SYMBOL = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}
AUTO_LOG_SPAN = 30.0
"""With neither ``logx=True`` nor ``logx=False``, the x axis is log when its values span more than this."""


@dataclass(frozen=True)
class Axis:
    """One axis: the column, its label (with the unit scale), the scale dividing raw values, direction."""

    column: str
    label: str
    note: str
    scale: float
    direction: str

    @property
    def name(self) -> str:
        """The label without its unit: ``"FLOPs"``."""
        return self.label.split(" (")[0]


@dataclass(frozen=True)
class RunSeries:
    """One run: its drawable trials (``_x``, ``_y`` in plot units, ``status``) and its front."""

    name: str
    index: int
    trials: pd.DataFrame
    front: pd.DataFrame
    labels: list[str]
    complete: int

    def marked(self, status: str, with_y: bool) -> pd.DataFrame:
        """Trials of one status, with a y value (the plot) or without one (the strip)."""
        t = self.trials
        return t.loc[(t["status"] == status) & (t["_y"].notna() == with_y)]


@dataclass(frozen=True)
class RefMarker:
    """A canonical network: a point when it has a y value, else a vertical line."""

    name: str
    x: float
    y: float | None
    costs: str


@dataclass(frozen=True)
class BudgetLine:
    """A budget bound on an axis, in plot units; ``over`` is the side that breaks it (``"high"``/``"low"``)."""

    axis: str
    value: float
    text: str
    over: str


@dataclass(frozen=True)
class FrontPlot:
    x: Axis
    y: Axis
    runs: list[RunSeries]
    references: list[RefMarker]
    budget_lines: list[BudgetLine]
    log_x: bool
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    title: str
    toward: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def has_strip(self) -> bool:
        """Whether some trial has an x value but no y value (drawn in the strip)."""
        return any(r.trials["_y"].isna().any() for r in self.runs)

    @property
    def strip_label(self) -> str:
        return f"no {self.y.name}"

    @property
    def empty(self) -> bool:
        return not any(len(r.trials) for r in self.runs)


# --------------------------------------------------------------------------- inputs


def budget_bounds(budget: BudgetLike, resolve: Resolver | None = None) -> list[tuple[str, str, float, str]]:
    """``(metric, op, value, reference text)`` of each bound, from ``parse_budget`` (``~`` gives two)."""
    if budget is None or isinstance(budget, str) and not budget.strip():
        return []
    if isinstance(budget, Mapping):
        return [(str(k), "<=", float(v), "") for k, v in budget.items()]
    if isinstance(budget, str):
        budget = parse_budget(budget, resolve)
    out = []
    for b in budget.bounds:
        ref = b.text.split(b.op, 1)[1] if b.reference else ""
        if b.op == "~":
            out += [
                (b.metric, ">=", b.value * (1 - b.tolerance), b.text),
                (b.metric, "<=", b.value * (1 + b.tolerance), b.text),
            ]
        else:
            out.append((b.metric, b.op, b.value, ref))
    return out


def budget_lines_from(budget: BudgetLike, resolve: Resolver | None = None) -> dict[str, float]:
    """Upper bounds of a budget by column (via ``parse_budget``): ``"params<=0.2M"`` → ``{"params": 2e5}``."""
    return {m: v for m, op, v, _ in budget_bounds(budget, resolve) if op in ("<=", "<")}


def _frames(frames: Frames) -> dict[str, pd.DataFrame]:
    if isinstance(frames, pd.DataFrame):
        label = str(frames["run"].iloc[0]) if "run" in frames.columns and len(frames) else "run"
        return {label: frames}
    if not frames:
        raise ScalesearchError("nothing to plot: no results tables were given")
    return dict(frames)


def _references(refs: Sequence[Reference]) -> list[tuple[str, float, Any]]:
    out = []
    for ref in refs:
        try:
            out.append((str(ref["name"]), float(ref["x_value"]), ref.get("y_value")))
        except (KeyError, TypeError, ValueError) as err:
            raise ScalesearchError(
                f"a reference must be a dict with name, x_value and optional y_value, but got {ref!r}"
            ) from err
    return out


def ref_y(column: str, value: Any) -> float | None:
    """A reference's y value as a fraction for ``accuracy`` (a value above 1 is a percent)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    return value / 100.0 if column == "accuracy" and value > 1 else value


def point_label(row: pd.Series, labels: Sequence[str]) -> str:
    """``"α=1.2 β=1.1"``: the values of ``labels`` from the row's searched ``values``, ``point`` or columns."""
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
        text = f"{value:.3g}" if isinstance(value, float) else format_value(value)
        parts.append(f"{SYMBOLS.get(name, name)}={text}")
    return " ".join(parts)


def axis(column: str, raw: Sequence[float], direction: str) -> Axis:
    """The axis of a column; counts take the unit (thousands … billions) that fits their largest value."""
    m = METRICS.get(column, Metric(column, "min", column))
    scale, label = m.scale, m.label
    if column in COUNT_COLUMNS:
        top = max((abs(v) for v in raw if math.isfinite(v)), default=m.scale)
        scale = next((s for s in _SCALE_WORDS if top >= s), 1.0)
        label = f"{m.label.split(' (')[0]} ({_SCALE_WORDS[scale]})" if scale > 1 else m.label.split(" (")[0]
    return Axis(column, label, m.note, scale, direction)


def use_log(values: Sequence[float], logx: bool | None) -> bool:
    """``logx`` when given; else log when the positive values span more than :data:`AUTO_LOG_SPAN`."""
    if logx is not None:
        return bool(logx)
    pos = [v for v in values if v > 0 and math.isfinite(v)]
    return len(pos) > 1 and max(pos) / min(pos) > AUTO_LOG_SPAN


def limits(
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


# --------------------------------------------------------------------------- building


def _series(
    i: int,
    name: str,
    df: pd.DataFrame,
    fp: tuple[Axis, Axis],
    labels: Sequence[str],
    directions: Mapping[str, str] | None,
) -> tuple[RunSeries, int]:
    """One run's trials in plot units, and how many trials with no x value are left out."""
    x, y = fp
    m = mark_front(df, [x.column, y.column], directions)
    m["_x"] = pd.to_numeric(m[x.column], errors="coerce").astype(float) / x.scale
    m["_y"] = pd.to_numeric(m[y.column], errors="coerce").astype(float) / y.scale
    m.loc[~np.isfinite(m["_y"].to_numpy(dtype=float)), "_y"] = np.nan
    live = m["status"] != "running"
    has_x = np.isfinite(m["_x"].to_numpy(dtype=float))
    undrawn = int((~has_x & live).sum())
    trials = m.loc[has_x & live]
    front = trials.loc[trials["status"] == "front"].sort_values("_x", kind="stable")
    texts = [point_label(r, labels) for _, r in front.iterrows()] if labels else []
    complete = int(trials["status"].isin(["front", "dominated"]).sum())
    return RunSeries(name, i, trials, front, texts, complete), undrawn


def _budget_lines(
    bounds: list[tuple[str, str, float, str]], x: Axis, y: Axis
) -> tuple[list[BudgetLine], list[str]]:
    lines, other = [], []
    for metric, op, value, ref in bounds:
        shown = f"{metric} {_OP_SYMBOL[op]} {format_metric(metric, value)}" + (f" ({ref})" if ref else "")
        ax = "x" if metric == x.column else "y" if metric == y.column else None
        if ax is None:
            other.append(shown)
            continue
        scale = x.scale if ax == "x" else y.scale
        lines.append(
            BudgetLine(ax, value / scale, f"budget: {shown}", "high" if op in ("<=", "<") else "low")
        )
    return lines, other


def _ref_markers(refs: list[tuple[str, float, Any]], x: Axis, y: Axis) -> list[RefMarker]:
    out = []
    for n, rx, ry in sorted(refs, key=lambda r: r[1]):
        yy = ref_y(y.column, ry)
        costs = f"{x.column}={format_metric(x.column, rx)}"
        costs += "" if yy is None else f", {y.column}={format_metric(y.column, yy)}"
        out.append(RefMarker(n, rx / x.scale, None if yy is None else yy / y.scale, costs))
    return out


def front_plot(
    frames: Frames,
    x: str = "flops",
    y: str = "accuracy",
    logx: bool | None = None,
    references: Sequence[Reference] = (),
    budget_lines: BudgetLike = None,
    labels: Sequence[str] = (),
    directions: Mapping[str, str] | None = None,
    title: str | None = None,
) -> FrontPlot:
    """Everything a Pareto plot shows, computed once (see the module docstring).

    ``logx``: True forces a log x axis, False a linear one, None picks log past a 30× span.
    ``budget_lines``: a Budget, a budget text or ``{column: upper bound}``; bounds on ``x`` or
    ``y`` become lines, the others are listed in the notes. ``labels`` are the parameter
    names shown beside front points.
    """
    runs = _frames(frames)
    dirs: dict[str, str] = {}
    for df in runs.values():
        dirs = resolve_directions(df, [x, y], directions)
    refs = _references(references)
    bounds = budget_bounds(budget_lines)
    raw_x = [v for df in runs.values() for v in pd.to_numeric(df[x], errors="coerce").dropna()]
    raw_x += [r[1] for r in refs] + [v for m, _, v, _ in bounds if m == x]
    raw_y = [v for df in runs.values() for v in pd.to_numeric(df[y], errors="coerce").dropna()]
    ax_x, ax_y = axis(x, raw_x, dirs[x]), axis(y, raw_y, dirs[y])
    series, undrawn = [], 0
    for i, (name, df) in enumerate(runs.items()):
        s, n = _series(i, name, df, (ax_x, ax_y), labels, directions)
        series.append(s)
        undrawn += n
    markers = _ref_markers(refs, ax_x, ax_y)
    lines, other = _budget_lines(bounds, ax_x, ax_y)
    xs = [v for s in series for v in s.trials["_x"]] + [r.x for r in markers]
    xs += [b.value for b in lines if b.axis == "x"]
    ys = [v for s in series for v in s.trials["_y"].dropna()] + [r.y for r in markers if r.y is not None]
    ys += [b.value for b in lines if b.axis == "y"]
    log = use_log(xs, logx)
    notes = ["other budget bounds: " + ", ".join(other)] if other else []
    if undrawn:
        notes.append(f"{undrawn} trial(s) without a {x} value not drawn")
    return FrontPlot(
        x=ax_x,
        y=ax_y,
        runs=series,
        references=markers,
        budget_lines=lines,
        log_x=log,
        xlim=limits(xs, log),
        ylim=limits(ys or ([0.0, 100.0] if y == "accuracy" else []), False, hi_pad=0.08),
        title=title or f"{ax_y.name} vs {ax_x.name}: Pareto front",
        toward=(-1 if dirs[x] == "min" else 1, 1 if dirs[y] == "max" else -1),
        notes=notes,
    )
