"""How well each zero-cost proxy, and each cost baseline beside it, ranks a run's trained networks.

Every COMPLETE trial with an accuracy is rebuilt from its point (weights seeded by the run's
evaluation seed), scored on one seeded batch of the run's training split at the point's resolution,
and each score is compared with the trained accuracy: Spearman's ρ, Kendall's τ (scipy.stats) and
the top-10 % precision (the fraction of the top 10 % by score that is in the top 10 % by accuracy).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalesearch.errors import UsageError
from scalesearch.experiment import Evaluation
from scalesearch.metrics import FLOP_CONVENTION
from scalesearch.proxies import BASELINES, PROXIES

MIN_POINTS = 3
TOP_FRACTION = 0.1


def run_evaluation(meta: Mapping[str, Any]) -> Evaluation:
    """The evaluation settings a run was made with (its ``run.json``; defaults where absent)."""
    names = {f.name for f in dataclasses.fields(Evaluation)}
    stored = meta.get("evaluation") or {}
    return Evaluation(**{k: v for k, v in stored.items() if k in names})


def trained_points(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The run's metadata and its COMPLETE trials with an accuracy (at least :data:`MIN_POINTS`)."""
    from scalesearch.analysis.results import load_results, load_run_meta
    from scalesearch.proxies.saved import trained_rows

    meta = load_run_meta(run_dir)
    done = trained_rows(load_results(run_dir))
    if len(done) < MIN_POINTS:
        raise UsageError(
            f"run {run_dir} has {len(done)} trained point(s) (COMPLETE, with an accuracy); "
            f"proxies need at least {MIN_POINTS} to correlate"
        )
    return meta, done.reset_index(drop=True)


class Batches:
    """One seeded batch of the training split per resolution, loaded once each."""

    def __init__(self, evaluation: Evaluation, batch_size: int) -> None:
        if batch_size < 2:
            raise UsageError(
                f"--batch-size must be >= 2 (NASWOT and jacob_cov compare images), but got {batch_size}"
            )
        self.evaluation = evaluation
        self.batch_size = batch_size
        self._cache: dict[int, Any] = {}

    def __call__(self, resolution: int) -> Any:
        import torch

        from scalesearch.train.data import ImageTensors, load_dataset

        if resolution not in self._cache:
            ev = self.evaluation
            train: ImageTensors = load_dataset(
                ev.dataset, root=ev.data_root, resolution=resolution, seed=ev.seed
            ).train  # type: ignore[assignment]
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(ev.seed))
            self._cache[resolution] = train.batch(order[: self.batch_size])
        return self._cache[resolution]


def score_row(
    family_name: str, point: Mapping[str, Any], batches: Batches, names: Sequence[str]
) -> dict[str, float]:
    """The proxies ``names`` of the (untrained, seeded) network of ``point``."""
    import torch

    from scalesearch.proxies.scores import scores
    from scalesearch.registry import get_family

    family = get_family(family_name)
    seed = batches.evaluation.seed
    resolution = int(point.get("resolution", batches.evaluation.resolution))
    x, y = batches(resolution)
    torch.manual_seed(seed)
    model = family.build(point)
    return scores(model, x, y, names, seed)


def baselines(family_name: str, point: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, float]:
    """Params, FLOPs and activations of a trial: its recorded costs, else the family's exact counts."""
    recorded = {b: row.get(b) for b in BASELINES}
    if all(isinstance(v, (int, float)) and math.isfinite(v) for v in recorded.values()):
        return {b: float(v) for b, v in recorded.items()}  # type: ignore[arg-type]
    from scalesearch.registry import get_family

    counts = get_family(family_name).complexity(point).as_dict()
    return {b: float(counts[b]) for b in BASELINES}


def top_precision(
    score: Sequence[float] | np.ndarray,
    accuracy: Sequence[float] | np.ndarray,
    fraction: float = TOP_FRACTION,
) -> float:
    """Fraction of the top ``fraction`` by score (NaN last) that is in the top ``fraction`` by accuracy."""
    s = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf)
    a = np.asarray(accuracy, dtype=float)
    k = max(1, math.ceil(fraction * len(a)))
    by_score = set(np.argsort(-s, kind="stable")[:k].tolist())
    by_accuracy = set(np.argsort(-a, kind="stable")[:k].tolist())
    return len(by_score & by_accuracy) / k


def correlation(name: str, values: Sequence[float], accuracy: Sequence[float]) -> dict[str, Any]:
    """Spearman, Kendall (over the points whose score is a number) and top-10 % precision."""
    from scipy import stats

    v, a = np.asarray(values, dtype=float), np.asarray(accuracy, dtype=float)
    ok = ~np.isnan(v)
    rho = tau = math.nan
    if ok.sum() >= MIN_POINTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a constant score: scipy warns and returns NaN
            rho = float(stats.spearmanr(v[ok], a[ok]).statistic)
            tau = float(stats.kendalltau(v[ok], a[ok]).statistic)
    return {
        "score": name,
        "kind": "baseline" if name in BASELINES else "proxy",
        "n": int(ok.sum()),
        "spearman": rho,
        "kendall": tau,
        "top10_precision": top_precision(v, a),
    }


def evaluate_run(
    run_dir: str | Path,
    names: Sequence[str] = PROXIES,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Per-trial scores and the correlation of every proxy and baseline with the trained accuracy
    (``progress(done, total)`` told after each network)."""
    from scalesearch.proxies.scores import check_names

    names = check_names(names)
    meta, done = trained_points(run_dir)
    ev = run_evaluation(meta)
    batches = Batches(ev, batch_size)
    points = []
    for row in done.to_dict(orient="records"):
        family, point = str(row["family"]), dict(row["point"])
        points.append(
            {
                "stage": row["stage"],
                "number": row["number"],
                "family": family,
                "accuracy": float(row["accuracy"]),
                **baselines(family, point, row),
                **score_row(family, point, batches, names),
            }
        )
        if progress is not None:
            progress(len(points), len(done))
    accuracy = [p["accuracy"] for p in points]
    rows = [correlation(n, [p[n] for p in points], accuracy) for n in (*names, *BASELINES)]
    return {
        "run": meta["name"],
        "trained": len(points),
        "dataset": ev.dataset,
        "resolution": ev.resolution,
        "batch_size": batch_size,
        "seed": ev.seed,
        "flop_convention": FLOP_CONVENTION,
        "correlations": rows,
        "points": [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in p.items()} for p in points
        ],
    }
