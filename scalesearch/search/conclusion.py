"""The line every run ends with: the best network, whether the results can tell it apart, what to run next."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.formatting import compact
from scalesearch.verdict.budget import format_number


def conclusion(
    results: pd.DataFrame, objectives: Mapping[str, str], run_dir: str | Path, val_size: int | None = None
) -> str:
    """One line naming the best network (stage, searched values, params, FLOPs, first objective),
    a caveat when the top results cannot be told apart, and the next commands."""
    nxt = f"next: scalesearch report {run_dir}; scalesearch pareto {run_dir}"
    metric, direction = next(iter(objectives.items()))
    done = results[(results["state"] == "COMPLETE") & results["feasible"]] if not results.empty else results
    if metric in done:
        done = done[done[metric].notna()]
    if done.empty:
        return f"no trial completed within the budget: nothing to conclude yet; see scalesearch results {run_dir}"
    top = done.iloc[0]  # the table is sorted best first
    best = f"best network: stage {top['stage']}, {compact(top['values']) or '(no searched values)'}"
    costs = ", ".join(
        f"{name} {format_number(top[col])}"
        for name, col in (("params", "params"), ("FLOPs (fvcore)", "flops"))
        if col in top and _number(top[col])
    )
    line = f"{best}: {costs}, {metric} {_score(top[metric], metric, val_size)}"
    caveat = _caveat(done[metric], float(top[metric]), metric, val_size)
    return f"{line}{'; ' + caveat if caveat else ''}\n{nxt}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))


def _score(value: float, metric: str, val_size: int | None) -> str:
    if metric == "accuracy" and val_size:
        return f"{value:.4f} = {round(value * val_size)}/{val_size}"
    return f"{value:.4g}"


def _caveat(scores: pd.Series, top: float, metric: str, val_size: int | None) -> str:
    """Say so when the best cannot be told from others: ties, or differences under the resolution."""
    resolution = 1 / val_size if (metric == "accuracy" and val_size) else 0.0
    close = scores[(scores - top).abs() < max(resolution, 1e-12)]
    if len(close) < 2:
        return ""
    if resolution and (close.round(12) == round(top, 12)).all():
        what = f"tie at {_score(top, metric, val_size)}"
    elif resolution:
        what = f"lie within 1/{val_size} of {top:.4f}"
    else:
        what = f"tie at {top:.4g}"
    return (
        f"{len(close)} points {what}: the results cannot tell them apart, and 'best' is the first of them "
        "(more validation data or seeds would)"
    )


def final_lines(exp: Any, results: pd.DataFrame, run_dir: str | Path, val_size: int | None) -> str:
    """What every run ends with (both backends): trial counts by state, then :func:`conclusion`."""
    counts = results["state"].value_counts().to_dict() if not results.empty else {}
    latency = ""
    if getattr(exp.evaluation, "latency_profile", None):  # the winner's latency measured for real
        from scalesearch.latency.winners import winner_line

        latency = winner_line(exp, results, run_dir)
    return (
        f"{exp.name}: {len(results)} trials ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
        f"results: scalesearch results {run_dir}\n{conclusion(results, exp.objectives, run_dir, val_size)}"
        + (f"\n{latency}" if latency else "")
    )
