"""The report's cost landscape: how much of the run's own space fits its budget, from costs alone.

Every family of the run is screened (``run.json``'s ``families``, else its ``family``). A report
runs no code of the experiment, so the run's space is read from what the run recorded:

- a space searched in the family's own parameters: the values the run tried for each searched
  parameter, the other parameters as the run fixed them; sampled and costed analytically;
- a derived space (searched values mapped to the network by the experiment's ``derive``, e.g.
  EfficientNet's alpha, beta, gamma, phi): the distinct networks the run costed (a grid's every
  point), checked against the budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from scalesearch.errors import ScalesearchError
from scalesearch.verdict.budget import Budget


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _points(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(p) for p in df.get("point", pd.Series(dtype=object)) if isinstance(p, Mapping)]


def _searched(df: pd.DataFrame) -> list[str]:
    names: dict[str, None] = {}
    for v in df.get("values", pd.Series(dtype=object)):
        if isinstance(v, Mapping):
            names.update(dict.fromkeys(v))
    return list(names)


def _observed_space(
    points: list[dict[str, Any]], searched: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Choice domains of the values tried for each searched name, and the values every point shares."""
    from scalesearch.space import Choice

    domains = {}
    for name in searched:
        seen = {_key(p[name]): p[name] for p in points if name in p}
        domains[name] = Choice(tuple(tuple(v) if isinstance(v, list) else v for v in seen.values()))
    fixed = {
        k: v
        for k, v in points[0].items()
        if k not in domains and all(_key(p.get(k)) == _key(v) for p in points)
    }
    return domains, fixed


def _costed(df: pd.DataFrame, budget: Budget) -> tuple[int, int]:
    """Distinct networks the run costed, and how many of them meet the budget."""
    seen: dict[str, bool] = {}
    for _, row in df.iterrows():
        point = row.get("point")
        costs = {m: row.get(m) for m in budget.metrics}
        if not isinstance(point, Mapping) or any(v is None or pd.isna(v) for v in costs.values()):
            continue
        seen[_key(point)] = budget.check({m: float(v) for m, v in costs.items()}).feasible
    return len(seen), sum(seen.values())


def _family(name: str, df: pd.DataFrame, budget: Budget, samples: int) -> tuple[int, int, str]:
    from scalesearch.registry import get_family
    from scalesearch.verdict.screen import screen

    fam = get_family(name)
    searched, points = _searched(df), _points(df)
    if not points:
        return 0, 0, f"{name}: no trial was costed"
    if searched and all(n in fam.space.names for n in searched):
        domains, fixed = _observed_space(points, searched)
        try:
            result = screen(fam, budget, samples, fixed, domains)
        except ScalesearchError:
            pass  # e.g. no valid combination of the tried values: fall back to the networks costed
        else:
            tried = ", ".join(f"{n} ∈ {{{', '.join(map(str, d.choices))}}}" for n, d in domains.items())
            return result.screened, result.feasible, f"{name}: {tried} (the values this run tried), sampled"
    n, ok = _costed(df, budget)
    why = f"searched {', '.join(searched)} derive the network" if searched else "nothing searched"
    return n, ok, f"{name}: the {n} distinct networks this run costed ({why})"


def run_landscape(
    meta: Mapping[str, Any], df: pd.DataFrame, budget: Budget | None, samples: int
) -> dict[str, Any] | None:
    """``{"screened", "feasible", "space", "budget"}`` over every family of the run; None without a budget."""
    if budget is None or not budget or "latency_ms" in budget.metrics:
        return None
    families = list(meta.get("families") or [meta["family"]])
    screened = feasible = 0
    spaces = []
    for name in families:
        sub = df.loc[df["family"] == name] if "family" in df.columns and len(families) > 1 else df
        n, ok, text = _family(name, sub, budget, samples)
        screened, feasible = screened + n, feasible + ok
        spaces.append(text)
    return {"screened": screened, "feasible": feasible, "space": "; ".join(spaces), "budget": budget.text}
