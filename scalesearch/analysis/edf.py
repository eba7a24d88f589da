"""Error EDFs of model populations, complexity-matched (Radosavovic et al. 2019, pycls).

"On Network Design Spaces for Visual Recognition" compares design spaces by the empirical
distribution function (EDF) of the errors of models sampled from them: F(e) is the fraction of
models with error at most e; a curve further up and to the left is the better space. Spaces of
different complexity are made comparable by *complexity-matched reweighting*: complexity is
binned on a log scale and every model is weighted so that each population puts the same weight
in every bin (bins that some population does not reach get no weight). The distance between two
(weighted) EDFs is the Kolmogorov-Smirnov statistic ``max_e |F1(e) - F2(e)|``; unweighted, it
equals ``scipy.stats.ks_2samp``'s. Bands are percentile bootstrap intervals of each EDF.

Error is ``100 * (1 - accuracy)`` (top-1 error in percent) of complete trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalesearch.errors import ScalesearchError, UsageError
from scalesearch.metrics import COST_METRICS

COMPLEXITIES = ("flops", "params", "activations")
"""Columns that complexity-matched reweighting may bin on."""
GROUPINGS = ("run", "family", "stage")
"""Columns a population may be defined by; any parameter of the points may be used too."""
MIN_POPULATION = 2
"""A population with fewer trained models has no EDF worth drawing."""


@dataclass(frozen=True)
class Population:
    """Models of one population: the value the EDF is of, their complexity, their weights (sum 1)."""

    name: str
    values: np.ndarray
    complexity: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class Curve:
    """A population's EDF on a grid, with its bootstrap band."""

    name: str
    n: int
    x: np.ndarray
    y: np.ndarray
    low: np.ndarray
    high: np.ndarray
    summary: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EDFResult:
    """EDFs of several populations and the KS statistic of every pair (against the first one)."""

    quantity: str
    complexity: str
    reweighted: bool
    level: float
    curves: list[Curve]
    ks: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per population: n, weighted mean and quantiles, KS against the first."""
        ks = {r["b"]: r["ks"] for r in self.ks if r["a"] == self.curves[0].name}
        return [
            {"population": c.name, "n": c.n, **c.summary, "ks_vs_first": ks.get(c.name)} for c in self.curves
        ]


def weighted_edf(values: np.ndarray, weights: np.ndarray | None, at: np.ndarray) -> np.ndarray:
    """F(t) = total weight of the values <= t, for every t of ``at`` (weights summing to 1)."""
    values = np.asarray(values, dtype=float)
    w = np.full(len(values), 1.0 / len(values)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(values, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(w[order])])
    return cum[np.searchsorted(values[order], np.asarray(at, dtype=float), side="right")]


def ks_statistic(
    a: np.ndarray, b: np.ndarray, wa: np.ndarray | None = None, wb: np.ndarray | None = None
) -> float:
    """max |F_a - F_b| over all values (weighted EDFs when weights are given)."""
    grid = np.union1d(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return float(np.max(np.abs(weighted_edf(a, wa, grid) - weighted_edf(b, wb, grid))))


def log_bin_edges(samples: Iterable[np.ndarray], bins: int) -> np.ndarray:
    """``bins`` equal bins of log complexity over the range of all samples together."""
    values = np.concatenate([np.asarray(s, dtype=float) for s in samples])
    if bins < 1:
        raise UsageError(f"bins must be >= 1, but got {bins}")
    if values.size == 0 or np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise ScalesearchError("complexity-matched reweighting needs a positive complexity for every model")
    lo, hi = math.log(values.min()), math.log(values.max())
    if hi - lo < 1e-12:
        hi = lo + 1e-12
    return np.exp(np.linspace(lo, hi, bins + 1))


def matched_weights(complexities: Sequence[np.ndarray], bins: int = 8) -> list[np.ndarray]:
    """Per-model weights (each population summing to 1) giving every population the same,
    uniform, distribution over the log-complexity bins that all populations reach.

    A model in a bin that some population has no model in gets weight 0. Raises when no bin is
    shared (the populations do not overlap in complexity: nothing to compare at equal complexity).
    """
    edges = log_bin_edges(complexities, bins)
    index = [np.clip(np.searchsorted(edges, c, side="right") - 1, 0, bins - 1) for c in complexities]
    counts = np.array([np.bincount(i, minlength=bins) for i in index])
    shared = np.all(counts > 0, axis=0)
    if not shared.any():
        raise ScalesearchError(
            "the populations share no complexity range: complexity-matched reweighting has nothing "
            "to match (compare them without it: --no-reweight)"
        )
    out = []
    for i, c in zip(index, counts, strict=True):
        per_bin = np.where(shared, 1.0 / np.maximum(c, 1), 0.0) / shared.sum()
        out.append(per_bin[i])
    return out


def bootstrap_band(
    values: np.ndarray,
    weights: np.ndarray,
    at: np.ndarray,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap band of the weighted EDF: models resampled with replacement, their
    weights renormalised (a draw of weight-0 models only is skipped); ``level`` of the resampled
    EDFs lie between the two curves at each t."""
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    if n_boot < 1:
        y = weighted_edf(values, weights, at)
        return y, y
    rng = np.random.default_rng(seed)
    curves = np.empty((n_boot, len(at)))
    for k in range(n_boot):
        idx = rng.integers(0, len(values), len(values))
        w = weights[idx]
        total = w.sum()
        curves[k] = np.nan if total <= 0 else weighted_edf(values[idx], w / total, at)  # all weight-0 draws
    tail = 100 * (1 - level) / 2
    return np.nanpercentile(curves, tail, axis=0), np.nanpercentile(curves, 100 - tail, axis=0)


def _summary(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])

    def q(p: float) -> float:
        k = min(int(np.searchsorted(cum, p - 1e-12)), len(values) - 1)
        return float(values[order][k])

    return {"mean": float(np.sum(values * weights)), "p10": q(0.1), "median": q(0.5), "p90": q(0.9)}


def edf_result(
    populations: Mapping[str, tuple[np.ndarray, np.ndarray]],
    quantity: str = "error",
    complexity: str = "flops",
    reweight: bool = True,
    bins: int = 8,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    grid_size: int = 200,
) -> EDFResult:
    """EDFs of ``{name: (values, complexity)}`` with bootstrap bands and pairwise KS statistics."""
    small = {k: len(v) for k, (v, _) in populations.items() if len(v) < MIN_POPULATION}
    if small or not populations:
        raise ScalesearchError(
            f"an EDF needs at least {MIN_POPULATION} models per population, but got "
            + (", ".join(f"{k}: {n}" for k, n in small.items()) or "no population")
        )
    names = list(populations)
    cx = [np.asarray(populations[k][1], dtype=float) for k in names]
    if reweight and len(names) > 1:
        weights = matched_weights(cx, bins)
    else:
        weights = [np.full(len(c), 1.0 / len(c)) for c in cx]
    pops = [
        Population(k, np.asarray(populations[k][0], dtype=float), c, w)
        for k, c, w in zip(names, cx, weights, strict=True)
    ]
    grid = _grid(np.concatenate([p.values for p in pops]), grid_size)
    curves = []
    for i, p in enumerate(pops):
        low, high = bootstrap_band(p.values, p.weights, grid, n_boot, level, seed + i)
        y = weighted_edf(p.values, p.weights, grid)
        curves.append(Curve(p.name, len(p.values), grid, y, low, high, _summary(p.values, p.weights)))
    ks = [
        {"a": a.name, "b": b.name, "ks": ks_statistic(a.values, b.values, a.weights, b.weights)}
        for i, a in enumerate(pops)
        for b in pops[i + 1 :]
    ]
    notes = []
    if reweight and len(pops) > 1:
        dropped = {p.name: int(np.sum(p.weights == 0)) for p in pops if np.any(p.weights == 0)}
        if dropped:
            notes.append(
                "weight 0 (complexity outside the shared range): "
                + ", ".join(f"{k}: {n}" for k, n in dropped.items())
            )
    return EDFResult(quantity, complexity, reweight and len(pops) > 1, level, curves, ks, notes)


def _grid(pooled: np.ndarray, size: int) -> np.ndarray:
    """Where the curves are evaluated: every pooled value (the EDFs' exact steps), or ``size``
    pooled quantiles when there are more; from just below the smallest (F = 0) to just above the
    largest (F = 1)."""
    grid = np.unique(pooled)
    if len(grid) > size:
        grid = np.unique(np.quantile(pooled, np.linspace(0, 1, size)))
    start = grid[0] * 0.99 if grid[0] > 0 else grid[0] - 1e-2 * (1 + grid[-1] - grid[0])
    end = grid[-1] * 1.01 if grid[-1] > 0 else grid[-1] + 1e-2 * (1 + grid[-1] - grid[0])
    return np.concatenate([[start], grid, [end]])


def _group_key(df: pd.DataFrame, by: str) -> pd.Series:
    if by in df.columns and by not in ("point", "values"):
        return df[by].astype(str)
    keys = []
    for _, row in df.iterrows():
        found = None
        for source in ("values", "point"):
            d = row.get(source)
            if isinstance(d, Mapping) and by in d:
                found = d[by]
                break
        keys.append(found)
    if all(k is None for k in keys):
        params = sorted(
            {k for s in ("values", "point") for d in df.get(s, []) if isinstance(d, Mapping) for k in d}
        )
        raise UsageError(f"unknown grouping {by!r}; valid: {', '.join([*GROUPINGS, *params])}")
    return pd.Series([str(k) for k in keys], index=df.index)


def trained_populations(
    df: pd.DataFrame, by: str = "family", complexity: str = "flops"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{group: (error %, complexity)}`` of the complete trials with an accuracy, grouped by
    ``by`` (run, family, stage, or a parameter of the points)."""
    if complexity not in COST_METRICS:
        raise UsageError(f"unknown complexity column {complexity!r}; valid: {', '.join(COMPLEXITIES)}")
    done = df[(df["state"] == "COMPLETE") & df["accuracy"].notna() & df[complexity].notna()]
    if done.empty:
        raise ScalesearchError(
            f"no complete trial with an accuracy and {complexity}: nothing to draw an EDF of"
        )
    keys = _group_key(done, by)
    out = {}
    order = list(keys.unique()) if by == "run" else sorted(keys.unique(), key=_natural)
    for key in order:  # runs in the order given (the first is the KS reference), else sorted
        part = done[keys == key]
        out[key] = (100.0 * (1.0 - part["accuracy"].to_numpy(float)), part[complexity].to_numpy(float))
    return out


def _natural(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def screened_complexity(family: str, samples: int, complexity: str = "flops", seed: int = 0) -> np.ndarray:
    """The analytic ``complexity`` of ``samples`` random points of a family's default search
    space (no training, no budget): the population a complexity EDF is drawn from."""
    from scalesearch.registry import get_family
    from scalesearch.verdict.budget import parse_budget
    from scalesearch.verdict.screen import screened_points

    if complexity not in COMPLEXITIES:
        raise UsageError(f"unknown complexity column {complexity!r}; valid: {', '.join(COMPLEXITIES)}")
    fam = get_family(family)
    points = screened_points(fam, parse_budget([]), samples, seed=seed)
    return np.array([float(getattr(s.record, complexity)) for s in points])
