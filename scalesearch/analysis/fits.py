"""Scaling-law fits: error = a + b * (C / unit)^(-c) per family, extrapolated with bootstrap intervals.

``a`` is the irreducible error, ``c`` how fast error falls with complexity ``C`` (FLOPs, params,
activations or measured latency), ``unit`` the column's display unit (1G FLOPs, 1M params, 1 ms).
The fit is least squares on the errors: for each ``a`` of a grid over [0, min error) the law is
linear in log space (``log(err - a) = log b - c log C``); the ``a`` with the smallest squared
error wins, refined on a finer grid around it. Deterministic, no starting guess to get wrong.

A family is *flagged* instead of extrapolated when (the rule, stated once here):

- it has fewer than :data:`MIN_POINTS` distinct complexities (three parameters need a residual);
- ``c <= MIN_EXPONENT``: error does not fall with complexity (non-monotone or flat);
- ``R² < MIN_R2`` on the fitted points: the law does not describe them.

Intervals are percentile bootstrap intervals: points resampled with replacement, refitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalesearch.errors import ScalesearchError, UsageError
from scalesearch.metrics import METRICS

MIN_POINTS = 4
MIN_EXPONENT = 0.0
MIN_R2 = 0.8
FIT_COLUMNS = ("flops", "params", "activations", "latency_ms")


@dataclass(frozen=True)
class Law:
    """err = a + b * (C / unit)^(-c)."""

    a: float
    b: float
    c: float
    unit: float = 1.0

    def __call__(self, complexity: Any) -> np.ndarray:
        x = np.asarray(complexity, dtype=float) / self.unit
        return self.a + self.b * x ** (-self.c)


@dataclass
class Fit:
    """A family's fit, its quality, its flag (None when usable) and its extrapolations."""

    name: str
    complexity: str
    x: np.ndarray
    y: np.ndarray
    law: Law | None
    r2: float
    rmse: float
    flag: str | None
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        law = self.law
        out: dict[str, Any] = {
            "family": self.name,
            "points": len(self.x),
            "a": None if law is None else round(law.a, 4),
            "b": None if law is None else round(law.b, 4),
            "c": None if law is None else round(law.c, 4),
            "r2": None if np.isnan(self.r2) else round(self.r2, 4),
            "rmse": None if np.isnan(self.rmse) else round(self.rmse, 4),
            "status": self.flag or "ok",
        }
        return out


def unit_of(column: str) -> float:
    """The display unit a column's C is divided by (1e9 for flops, 1e6 for params...)."""
    return METRICS[column].scale if column in METRICS else 1.0


def _grid_fit(lx: np.ndarray, y: np.ndarray, a_grid: np.ndarray) -> tuple[float, float, float, float]:
    """Best (sse, a, log b, c) over ``a_grid`` (each a solved in closed form in log space)."""
    z = np.log(y[None, :] - a_grid[:, None])  # (grid, n)
    mx = lx.mean()
    dx = lx - mx
    slope = (z * dx).sum(axis=1) / (dx @ dx)
    icpt = z.mean(axis=1) - slope * mx
    pred = a_grid[:, None] + np.exp(icpt[:, None] + slope[:, None] * lx[None, :])
    sse = ((pred - y[None, :]) ** 2).sum(axis=1)
    k = int(np.nanargmin(sse))
    return float(sse[k]), float(a_grid[k]), float(icpt[k]), float(-slope[k])


def fit_law(
    complexity: Sequence[float] | np.ndarray,
    error: Sequence[float] | np.ndarray,
    unit: float = 1.0,
    grid: int = 200,
) -> Law:
    """Least-squares fit of error = a + b (C/unit)^(-c), with 0 <= a < min(error) (see module doc)."""
    x = np.asarray(complexity, dtype=float) / unit
    y = np.asarray(error, dtype=float)
    if len(np.unique(x)) < 2 or np.any(x <= 0):
        raise ScalesearchError("a scaling law needs at least 2 distinct positive complexities")
    lx = np.log(x)
    top = float(y.min()) * (1 - 1e-9)
    if top <= 0:
        return Law(0.0, float(np.exp(np.polyfit(lx, np.log(np.maximum(y, 1e-12)), 1)[1])), 0.0, unit)
    coarse = np.linspace(0.0, top, grid, endpoint=False)
    _, a, _, _ = _grid_fit(lx, y, coarse)
    step = coarse[1] - coarse[0] if grid > 1 else top
    fine = np.linspace(max(0.0, a - step), min(top, a + step), 64, endpoint=False)
    _, a, logb, c = _grid_fit(lx, y, fine)
    return Law(a, float(np.exp(logb)), c, unit)


def quality(law: Law, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(R², RMSE) of the law on the points."""
    resid = y - law(x)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return r2, float(np.sqrt((resid**2).mean()))


def bootstrap_predictions(
    x: np.ndarray, y: np.ndarray, targets: Sequence[float], unit: float, n_boot: int = 200, seed: int = 0
) -> np.ndarray:
    """(n_boot, len(targets)) predictions of laws refitted to resampled points (NaN rows where a
    resample has fewer than 3 distinct complexities)."""
    rng = np.random.default_rng(seed)
    out = np.full((n_boot, len(targets)), np.nan)
    for k in range(n_boot):
        idx = rng.integers(0, len(x), len(x))
        if len(np.unique(x[idx])) < 3:
            continue
        out[k] = fit_law(x[idx], y[idx], unit, grid=64)(np.asarray(targets, dtype=float))
    return out


def fit_family(
    name: str,
    complexity: str,
    x: np.ndarray,
    y: np.ndarray,
    targets: Sequence[float] = (),
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Fit:
    """Fit one family's points, flag it by the module's rule, extrapolate to ``targets`` if usable."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    distinct = len(np.unique(x))
    if distinct < MIN_POINTS:
        few = f"too few points ({distinct} distinct {complexity}; a fit needs {MIN_POINTS})"
        return Fit(name, complexity, x, y, None, float("nan"), float("nan"), few)
    law = fit_law(x, y, unit_of(complexity))
    r2, rmse = quality(law, x, y)
    flag: str | None = None
    if law.c <= MIN_EXPONENT:
        flag = f"non-monotone: error does not fall with {complexity} (c = {law.c:.3g} <= {MIN_EXPONENT})"
    elif not r2 >= MIN_R2:
        flag = f"poor fit (R² = {r2:.3g} < {MIN_R2})"
    fit = Fit(name, complexity, x, y, law, r2, rmse, flag)
    if flag is None and targets:
        boots = bootstrap_predictions(x, y, targets, law.unit, n_boot, seed)
        tail = 100 * (1 - level) / 2
        for t, col in zip(targets, boots.T, strict=True):
            ok = col[~np.isnan(col)]
            low, high = np.percentile(ok, [tail, 100 - tail]) if ok.size else (np.nan, np.nan)
            fit.predictions.append(
                {
                    "target": float(t),
                    "predicted": round(float(law(t)), 4),
                    "low": round(float(low), 4),
                    "high": round(float(high), 4),
                }
            )
    return fit


def front_points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no cheaper-or-equal point beats on error (the lower-left front)."""
    order = np.lexsort((y, x))
    keep, best = [], np.inf
    for i in order:
        if y[i] < best:
            keep.append(i)
            best = y[i]
    return np.array(keep, dtype=int)


def run_points(
    df: pd.DataFrame, complexity: str = "flops", by: str = "family", on: str = "front"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{group: (C, error %)}`` of a results table's complete trials; ``on="front"`` keeps each
    group's Pareto front of error against C, ``"all"`` every trained point."""
    if complexity not in FIT_COLUMNS:
        raise UsageError(f"unknown complexity column {complexity!r}; valid: {', '.join(FIT_COLUMNS)}")
    if on not in ("front", "all"):
        raise UsageError(f"--on must be front or all, but got {on!r}")
    if by not in df.columns:
        raise UsageError(f"unknown grouping column {by!r}; valid: family, stage, run")
    done = df[(df["state"] == "COMPLETE") & df["accuracy"].notna() & df[complexity].notna()]
    out = {}
    for key, part in done.groupby(done[by].astype(str), sort=True):
        x = part[complexity].to_numpy(float)
        y = 100.0 * (1.0 - part["accuracy"].to_numpy(float))
        if on == "front":
            keep = front_points(x, y)
            x, y = x[keep], y[keep]
        out[str(key)] = (x, y)
    return out


def fit_run(
    points: Mapping[str, tuple[np.ndarray, np.ndarray]],
    complexity: str,
    targets: Sequence[float] = (),
    n_boot: int = 200,
    seed: int = 0,
) -> list[Fit]:
    """A fit per group; raises when no group has enough points to fit."""
    fits = [fit_family(k, complexity, x, y, targets, n_boot, seed=seed) for k, (x, y) in points.items()]
    if not any(f.law is not None for f in fits):
        counts = ", ".join(f"{f.name}: {len(np.unique(f.x))}" for f in fits) or "no trained point"
        raise ScalesearchError(
            f"too few points to fit a scaling law: each family needs {MIN_POINTS} distinct {complexity} "
            f"values among its trained points, but got {counts}"
        )
    return fits
