"""Pareto fronts over a results table (one row per trial, see ``scalesearch.analysis.results``).

A row is *eligible* for a front when its state is ``COMPLETE``, it is feasible, and it
has a value in every front column. An eligible row is on the front when no other
eligible row is at least as good in every column and strictly better in one.

Ties and duplicates: rows with equal values in every front column do not dominate each
other, so every copy of a front point is on the front (each keeps its own row, trial
number and point). Nothing is dropped silently; callers that want one row per front
point can ``drop_duplicates(subset=columns)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scalesearch.errors import ScalesearchError
from scalesearch.formatting import format_metric
from scalesearch.metrics import _ALIASES, DIRECTIONS

#: Values of the ``status`` column written by :func:`mark_front`.
#: ``running`` covers RUNNING/WAITING trials; ``missing`` covers complete, feasible
#: trials without a value in a front column (e.g. accuracy not measured).
STATUSES: tuple[str, ...] = ("front", "dominated", "over budget", "failed", "pruned", "running", "missing")


BudgetCheck = Callable[[pd.Series], bool]


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    """Columns a front can use: numeric, not bool, not the trial number."""
    return [
        c
        for c in df.columns
        if c != "number" and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]


def resolve_directions(
    df: pd.DataFrame, columns: Sequence[str], directions: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``{column: "max" | "min"}`` for ``columns``, checked against ``df``.

    ``directions`` overrides :data:`DIRECTIONS`; Optuna's ``maximize``/``minimize`` are accepted.
    """
    if isinstance(columns, str):
        columns = [columns]
    if not columns:
        raise ScalesearchError("a Pareto front needs at least one column, but got none")
    if len(set(columns)) != len(columns):
        raise ScalesearchError(f"front columns must be distinct, but got {list(columns)}")
    valid = _numeric_columns(df)
    out: dict[str, str] = {}
    for col in columns:
        if col not in df.columns or (col not in valid and not df[col].dropna().empty):
            raise ScalesearchError(
                f"unknown column {col!r} for a Pareto front; valid columns: {', '.join(valid) or '(none)'}"
            )
        raw = (directions or {}).get(col, DIRECTIONS.get(col))
        if raw is None:
            raise ScalesearchError(
                f"no direction for column {col!r}; pass directions={{{col!r}: 'max' or 'min'}}"
            )
        if str(raw).lower() not in _ALIASES:
            raise ScalesearchError(f"direction of {col!r} must be 'max' or 'min', but got {raw!r}")
        out[col] = _ALIASES[str(raw).lower()]
    return out


def _flag(df: pd.DataFrame, column: str, default: Any) -> pd.Series:
    if column in df.columns:
        return df[column]
    return pd.Series(default, index=df.index)


def eligible(df: pd.DataFrame, columns: Sequence[str] = ()) -> pd.Series:
    """Boolean mask: COMPLETE, feasible, and a finite value in every one of ``columns``."""
    mask = (_flag(df, "state", "COMPLETE").astype(str) == "COMPLETE") & _flag(df, "feasible", True).fillna(
        False
    ).astype(bool)
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce").astype(float)
        mask &= np.isfinite(values.to_numpy())
    return mask


def over_budget(df: pd.DataFrame) -> pd.Series:
    """Boolean mask: ``feasible`` is False (a missing verdict does not count)."""
    flag = _flag(df, "feasible", True)
    return flag.map(lambda v: v is not None and not pd.isna(v) and not bool(v)).astype(bool)


def _non_dominated(costs: np.ndarray, block: int = 2048) -> np.ndarray:
    """Mask of rows of ``costs`` (all minimised) that no other row dominates. O(n²) in blocks."""
    n = len(costs)
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    step = max(1, min(block, 4_000_000 // max(n, 1)))
    for start in range(0, n, step):
        part = costs[start : start + step]  # (b, k)
        no_worse = (costs[None, :, :] <= part[:, None, :]).all(axis=2)  # j no worse than i, (b, n)
        better = np.any(costs[None, :, :] < part[:, None, :], axis=2)
        keep[start : start + step] = ~np.any(no_worse & better, axis=1)
    return keep


def _front_mask(df: pd.DataFrame, dirs: Mapping[str, str]) -> pd.Series:
    cols = list(dirs)
    ok = eligible(df, cols)
    mask = pd.Series(False, index=df.index)
    if ok.any():
        sign = np.array([-1.0 if dirs[c] == "max" else 1.0 for c in cols])
        costs = df.loc[ok, cols].apply(pd.to_numeric).to_numpy(dtype=float) * sign
        mask.loc[ok] = _non_dominated(costs)
    return mask


def _sort_along(df: pd.DataFrame, dirs: Mapping[str, str]) -> pd.DataFrame:
    cols = list(dirs)
    asc = [True] + [dirs[c] == "min" for c in cols[1:]]
    return df.sort_values(cols, ascending=asc, kind="stable")


def pareto_front(
    df: pd.DataFrame, columns: Sequence[str], directions: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The non-dominated eligible rows over ``columns`` (usually 2 or 3).

    Sorted by the first column ascending (ties by the other columns, best first); the
    original index is kept. Every copy of a duplicated front point is returned.
    """
    dirs = resolve_directions(df, columns, directions)
    return _sort_along(df.loc[_front_mask(df, dirs)], dirs).copy()


def mark_front(
    df: pd.DataFrame, columns: Sequence[str], directions: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A copy of ``df`` with ``on_front`` (bool) and ``status`` (one of :data:`STATUSES`).

    Precedence: ``feasible`` False → ``over budget`` (unknown feasibility is not); FAIL → ``failed``; PRUNED → ``pruned``;
    RUNNING/WAITING → ``running``; complete but lacking a front value → ``missing``;
    otherwise ``front`` or ``dominated``.
    """
    dirs = resolve_directions(df, columns, directions)
    out = df.copy()
    on_front = _front_mask(df, dirs)
    state = _flag(df, "state", "COMPLETE").astype(str)
    infeasible = over_budget(df)
    status = np.where(on_front, "front", "dominated").astype(object)
    status[(state == "COMPLETE").to_numpy() & ~eligible(df, list(dirs)).to_numpy()] = "missing"
    status[state.isin(["RUNNING", "WAITING"]).to_numpy()] = "running"
    status[(state == "PRUNED").to_numpy()] = "pruned"
    status[(state == "FAIL").to_numpy()] = "failed"
    status[infeasible.to_numpy(dtype=bool)] = "over budget"
    out["on_front"] = on_front.astype(bool)
    out["status"] = pd.Series(status, index=df.index, dtype=object)
    return out


def _describe_costs(row: pd.Series) -> str:
    cols = [c for c in ("flops", "params", "activations") if c in row and pd.notna(row[c])]
    return ", ".join(f"{c}={format_metric(c, row[c])}" for c in cols)


def best_under_budget(
    df: pd.DataFrame,
    budget_check: BudgetCheck | None = None,
    metric: str = "accuracy",
    direction: str | None = None,
    costs: Sequence[str] = ("flops", "params"),
) -> tuple[pd.Series, pd.Series | None]:
    """The best and runner-up trials by ``metric`` among those meeting the budget.

    Candidates are eligible rows (COMPLETE, feasible, with a ``metric`` value) for which
    ``budget_check(row)`` is true (all of them when it is None). Both picks lie on the
    Pareto front of the candidates over ``metric`` and the ``costs`` columns present, so
    the runner-up is the next trade-off (cheaper in some cost, slightly worse), never a
    worse trial that costs as much or more.
    Ties on the metric go to the cheaper trial. The runner-up is None when the front has
    one point. Raises ScalesearchError when no trial qualifies.
    """
    dirs = resolve_directions(df, [metric], {metric: direction} if direction else None)
    done = df.loc[eligible(df, [metric])]
    if done.empty:
        n_complete = int((_flag(df, "state", "COMPLETE").astype(str) == "COMPLETE").sum())
        raise ScalesearchError(
            f"no complete, feasible trial has a value for {metric!r} "
            f"({len(df)} trials, {n_complete} complete); nothing to choose from"
        )
    passes = done.apply(budget_check, axis=1).astype(bool) if budget_check is not None else None
    cands = done if passes is None else done.loc[passes]
    if cands.empty:
        cheapest = done.sort_values([c for c in costs if c in done.columns] or [metric]).iloc[0]
        raise ScalesearchError(
            f"no trial meets the budget: {len(done)} complete, feasible trials with {metric!r}, none passes "
            f"the budget check; the cheapest is trial {cheapest.get('number', cheapest.name)} "
            f"({_describe_costs(cheapest)})"
        )
    cost_cols = [c for c in costs if c in cands.columns and c != metric and cands[c].notna().all()]
    all_dirs = {metric: dirs[metric], **{c: DIRECTIONS.get(c, "min") for c in cost_cols}}
    front = pareto_front(cands, list(all_dirs), all_dirs)
    order = [metric, *cost_cols]
    ranked = front.sort_values(
        order, ascending=[dirs[metric] == "min"] + [True] * len(cost_cols), kind="stable"
    )
    ranked = ranked.drop_duplicates(subset=order)
    best = ranked.iloc[0]
    runner = ranked.iloc[1] if len(ranked) > 1 else None
    return best, runner
