"""Running an experiment: feasibility first, then each stage in order, results in the run directory."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.analysis.results import load_results, write_json_atomic
from scalesearch.errors import BudgetError, PointError
from scalesearch.experiment import Experiment, SearchSpace, Stage
from scalesearch.progress import Progress
from scalesearch.search.trial import Evaluator, Rejected
from scalesearch.verdict.budget import Budget, parse_budget


def check_feasible(exp: Experiment, space: SearchSpace, budget: Budget, evaluator: Evaluator,
                   samples: int = 200) -> None:
    """Fail fast when no point of the stage space meets the budget, naming the cheapest one reached."""
    if not budget or budget.metrics <= {"latency_ms"}:
        return
    cost_budget = Budget(tuple(b for b in budget.bounds if b.metric != "latency_ms"))
    probe = dataclasses.replace(evaluator, budget=cost_budget)
    probe.experiment = dataclasses.replace(exp, evaluation=dataclasses.replace(exp.evaluation, latency=False))
    rng = random.Random(exp.seed)
    try:
        grid = space.grid() if _grid_size(space) <= 2000 else []
    except ValueError:
        grid = []
    candidates = space.corners() + grid + [space.sample(rng) for _ in range(0 if grid else samples)]
    cheapest: tuple[float, Rejected] | None = None
    for values in candidates:
        try:
            probe.prepare(values)
            return
        except Rejected as rej:
            if rej.kind == "over budget":
                metric = next(b.metric for b in cost_budget.bounds)
                cost = rej.costs.get(metric, float("inf"))
                if cheapest is None or cost < cheapest[0]:
                    cheapest = (cost, rej)
    if cheapest is None:
        raise PointError(f"no valid point in the {space.family} search space of this experiment "
                         f"({len(candidates)} examined); check its domains and constraints")
    rej = cheapest[1]
    costs = ", ".join(f"{k}={v:.4g}" for k, v in rej.costs.items() if v is not None)
    raise BudgetError(
        f"no point of the search space can meet the budget {budget.text}: the cheapest of "
        f"{len(candidates)} points examined (domain corners included) has {costs} ({rej.reasons[0]})"
        f" at {rej.point}")


def _grid_size(space: SearchSpace) -> float:
    size = 1.0
    for d in space.search.values():
        size *= d.size
    return size


def stage_space(stage: Stage, exp: Experiment, results: Callable[[], pd.DataFrame]) -> SearchSpace:
    """The stage's space with the values fixed from earlier stages' results (loaded only if needed)."""
    if stage.fix_from is None:
        return stage.space
    fixed = dict(stage.fix_from(results(), exp))
    return dataclasses.replace(stage.space, fixed={**dict(stage.space.fixed), **fixed})


def write_meta(run_dir: Path, exp: Experiment, backend: str, storage: str, studies: list[dict[str, str]],
               source: str | None, overrides: list[str], num_classes: int | None = None) -> dict[str, Any]:
    stages = exp.all_stages()
    meta = {
        "name": exp.name, "backend": backend, "storage": storage, "studies": studies,
        "family": exp.family, "free": sorted({n for s in stages for n in s.space.search}),
        "budget": parse_budget(exp.budget).text if exp.budget else "",
        "objectives": dict(exp.objectives), "resolution": exp.evaluation.resolution,
        "dataset": exp.evaluation.dataset, "num_classes": num_classes, "references": list(exp.references),
        "experiment_file": source, "overrides": overrides,
        "evaluation": dataclasses.asdict(exp.evaluation), "options": exp.options,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(run_dir / "run.json", meta)
    return meta


def run_optuna(exp: Experiment, run_dir: Path, storage_url: str | None = None, trials: int | None = None,
               source: str | None = None, overrides: list[str] | None = None,
               progress: Progress | None = None) -> pd.DataFrame:
    """Run every stage with Optuna; re-running the same command resumes."""
    import optuna

    from scalesearch.search import optuna_backend as ob

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir.mkdir(parents=True, exist_ok=True)
    budget = parse_budget(exp.budget)
    owns = storage_url is None
    url = storage_url or ob.default_storage(run_dir)
    progress = progress or Progress()
    lock = ob.RunLock(run_dir)
    lock.acquire()
    try:
        storage = ob.storage_for(url)
        stages = exp.all_stages()
        studies = [{"stage": s.name, "study": ob.study_name(exp, s)} for s in stages]
        data: dict[int, Any] = {}  # loaded once, shared by the stages
        num_classes = Evaluator(exp, stages[0].space, budget, data).num_classes
        write_meta(run_dir, exp, "optuna", url, studies, source, list(overrides or []), num_classes)
        for stage in stages:
            space = stage_space(stage, exp, lambda: load_results(run_dir, storage))
            evaluator = Evaluator(exp, space, budget, data)
            check_feasible(exp, space, budget, evaluator)
            ob.run_stage(exp, stage, space, budget, storage, owns, trials, progress, evaluator)
        results = load_results(run_dir, storage)
    finally:
        lock.release()
    if exp.summarize is not None and not results.empty:
        print(exp.summarize(results, exp))
    counts = results["state"].value_counts().to_dict() if not results.empty else {}
    progress.close(f"{exp.name}: {len(results)} trials ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
                   f"results: scalesearch results {run_dir}")
    return results
