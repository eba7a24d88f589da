"""Before a search reports its winner: the winner's latency measured for real (the authority),
recorded beside the profile's prediction in ``winner_latency.json`` of the run directory."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.atomic import atomic_path

FILE = "winner_latency.json"


def _winner(results: pd.DataFrame, first_objective: str) -> pd.Series | None:
    if results.empty or "point" not in results:
        return None
    done = results[(results["state"] == "COMPLETE") & results["feasible"]]
    if first_objective in done:
        done = done[done[first_objective].notna()]
    done = done[done["point"].map(lambda p: isinstance(p, dict))]
    return None if done.empty else done.iloc[0]  # the table is sorted best first


def measure_winner(exp: Any, results: pd.DataFrame, run_dir: str | Path) -> dict[str, Any] | None:
    """Measure the best feasible trial's latency on the profile's device, threads, batch and dtype;
    write and return the record (None when the run has no profile or no winner)."""
    name = exp.evaluation.latency_profile
    top = _winner(results, next(iter(exp.objectives)))
    if not name or top is None:
        return None
    import torch

    from scalesearch.cost.latency import LatencySpec
    from scalesearch.cost.record import cost_of
    from scalesearch.latency.predict import experiment_profile
    from scalesearch.registry import get_family

    profile = experiment_profile(name, exp.evaluation.latency_batch_size)
    s = profile.setting
    family = get_family(str(top.get("family") or exp.family))
    previous = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        spec = LatencySpec(s.device, s.batch_size, s.dtype, repeats=20)
        record = cost_of(family, dict(top["point"]), "analytic", latency=spec)
    finally:
        torch.set_num_threads(previous)
    predicted = profile.predict(family, record.point)
    measured = float(record.latency_ms or math.nan)
    out = {
        "family": family.name,
        "point": record.point,
        "latency_ms_measured": round(measured, 4),
        "latency_spread_ms": record.latency_spread_ms,
        **predicted.as_dict(),
        "error_pct": round(100 * (predicted.ms / measured - 1), 2),
        "within_band": bool(predicted.low_ms <= measured <= predicted.high_ms),
        "setting": s.__dict__,
        "authority": "latency_ms_measured",
    }
    with atomic_path(Path(run_dir) / FILE) as tmp:
        tmp.write_text(json.dumps(out, indent=1, default=str) + "\n")
    return out


def winner_line(exp: Any, results: pd.DataFrame, run_dir: str | Path) -> str:
    """One line for the end of a run ("" without a profile or a winner)."""
    rec = measure_winner(exp, results, run_dir)
    if rec is None:
        return ""
    verdict = "within" if rec["within_band"] else "OUTSIDE"
    return (
        f"winner latency measured on {rec['setting']['device']}: {rec['latency_ms_measured']:.3g} ms (the authority); "
        f"predicted {rec['latency_ms_predicted']:.3g} ms ±{rec['latency_band_pct']:.0f} % by profile "
        f"{rec['latency_profile']}: {verdict} the band ({rec['error_pct']:+.1f} %); {FILE} in the run directory"
    )
