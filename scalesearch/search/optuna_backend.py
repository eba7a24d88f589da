"""Optuna backend: one study per stage in an RDB storage (SQLite under the run directory by default).

- Distributions come from the stage's search domains (no second copy of the space).
- grid: every constrained-grid point is enqueued once (``skip_if_exists``), so re-runs and
  several workers on one storage never repeat a point; random/TPE/NSGA-II: Optuna samplers
  with the budget as each trial's constraint (``Trial.set_constraint``).
- The budget is checked before training; a rejected point is a PRUNED trial whose user
  attributes carry the reasons.
- Resume: completed trials stay; trials left RUNNING by a killed process are failed and
  re-queued (at once when this process owns the run directory, else by Optuna's heartbeat).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from scalesearch.analysis.results import load_results
from scalesearch.errors import ExperimentError
from scalesearch.experiment import Experiment, SearchSpace, Stage, UserCodeError
from scalesearch.progress import Progress
from scalesearch.search.conclusion import final_lines
from scalesearch.search.interrupts import (
    deferred,
    interrupted_error,
    interruptible,
    raise_if_pending,
    resume_command,
    signal_interrupts,
    stopped_line,
)
from scalesearch.search.optuna_sampling import sampler, suggest
from scalesearch.search.optuna_store import choose_store, recover_interrupted, storage_for
from scalesearch.search.records import Verdict, from_optuna
from scalesearch.search.runs import (
    RunLock,
    apply_threads,
    check_run_dir,
    checked_stage,
    choose_threads,
    distinct_networks,
    stage_space,
    stage_total,
    study_name,
    threads_reason,
    trial_cap,
    write_meta,
)
from scalesearch.search.storage import recorded
from scalesearch.search.trial import Evaluator, Rejected, constraint_value
from scalesearch.search.validate import validate_run
from scalesearch.space import point_key
from scalesearch.tracking import NO_TRACKING, SearchTracker
from scalesearch.verdict.budget import Budget, parse_budget

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings(
    "ignore", message="The constraint value is ignored"
)  # a re-queued trial keeps its own

DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def _pruner(exp: Experiment) -> optuna.pruners.BasePruner:
    if exp.multi_objective or exp.pruner == "none":
        return optuna.pruners.NopPruner()
    if exp.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if exp.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=exp.evaluation.epochs)


def _counted(study: optuna.Study) -> int:
    """Trials that count toward --trials: finished ones and failures that were not interruptions."""
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in DONE or (
            t.state == TrialState.FAIL and "interrupted" not in str(t.user_attrs.get("error"))
        ):
            n += 1
    return n


def _params(t: FrozenTrial) -> dict[str, Any]:
    """A trial's parameters; a WAITING (enqueued) trial keeps them as fixed params."""
    return dict(t.params) or dict(t.system_attrs.get("fixed_params", {}))


def _enqueue_grid(study: optuna.Study, space: SearchSpace, limit: int | None) -> int:
    """Queue the grid points no trial has taken yet; returns how many trials wait to run."""
    grid = space.grid()
    if not grid:
        raise ExperimentError(f"the grid of stage space {dict(space.search)} is empty after its constraints")
    existing = {_key(_params(t)) for t in study.get_trials(deepcopy=False)}
    total = len(grid) if limit is None else min(limit, len(grid))
    for values in grid[:total]:
        if _key(values) not in existing:
            study.enqueue_trial(values, skip_if_exists=True)
    return sum(1 for _ in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


def run_stage(
    exp: Experiment,
    stage: Stage,
    space: SearchSpace,
    budget: Budget,
    storage: RDBStorage,
    owns_storage: bool,
    trials_cap: int | None,
    progress: Progress,
    evaluator: Evaluator | None = None,
    tracker: SearchTracker = NO_TRACKING,
) -> optuna.Study:
    """Run one stage to completion (or to its trial cap); returns the study."""
    study = optuna.create_study(
        storage=storage,
        study_name=study_name(exp, stage),
        directions=[
            optuna.study.StudyDirection.MAXIMIZE if d == "maximize" else optuna.study.StudyDirection.MINIMIZE
            for d in exp.objectives.values()
        ],
        sampler=sampler(stage, exp.seed),
        pruner=_pruner(exp),
        load_if_exists=True,
    )
    study.set_user_attr("stage", stage.name)
    study.set_user_attr("objectives", list(exp.objectives))
    study.set_user_attr("family", space.family)
    if owns_storage:
        recover_interrupted(study)
    cap = trial_cap(stage, trials_cap)
    evaluator = evaluator or Evaluator(exp, space, budget)
    note = ""
    if stage.strategy == "grid":
        remaining = _enqueue_grid(study, space, cap)
        if cap is not None:
            remaining = min(remaining, max(0, cap - _counted(study)))
        grid = space.grid()[:cap]
        distinct = distinct_networks(space, evaluator, grid)
        note = f"; the grid holds {len(grid)} points, {distinct} distinct networks" + (
            f" (each trained once: {len(grid) - distinct} points reuse a twin's result)"
            if distinct < len(grid)
            else ""
        )
    else:
        if cap is None:
            raise ExperimentError(
                f"stage {stage.name}: a {stage.strategy} search needs a trial count (--trials N)"
            )
        remaining = max(0, cap - _counted(study))
    progress.stage(stage.name, done=_counted(study), total=_counted(study) + remaining, note=note)
    if remaining == 0:
        return study
    stop: list[BaseException] = []
    objective = _objective(exp, stage, space, study, evaluator, progress, stop, tracker)

    def after(study: optuna.Study, t: FrozenTrial) -> None:
        progress.trial_finished(t, _best_value(study))
        tracker.log_trial(from_optuna(t, list(exp.objectives), stage.name, space.family))

    try:
        study.optimize(objective, n_trials=remaining, catch=(Exception,), callbacks=[after])
    except KeyboardInterrupt as err:  # stopped between a trial's start and its objective, or at its end
        if owns_storage:
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                study._storage.set_trial_user_attr(t._trial_id, "error", interrupted_error(err))
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        raise
    if stop:
        raise stop[0]
    return study


def _objective(
    exp: Experiment,
    stage: Stage,
    space: SearchSpace,
    study: optuna.Study,
    evaluator: Evaluator,
    progress: Progress,
    stop: list[BaseException],
    tracker: SearchTracker = NO_TRACKING,
) -> Callable[[optuna.Trial], Any]:
    def objective(trial: optuna.Trial) -> float | list[float]:
        if trial.user_attrs.get("error"):  # a re-queued trial starts without its predecessor's error
            trial.set_user_attr("error", None)
        values = {name: suggest(trial, name, d) for name, d in space.search.items()}
        if stage.strategy == "grid":
            twin = _taken_by_other(study, trial.number, values)
            if twin is not None:  # two workers queued the same grid point at once
                trial.set_user_attr("verdict", Verdict.DUPLICATE)
                trial.set_user_attr("violations", [f"duplicate of trial {twin}"])
                raise optuna.TrialPruned(f"grid point already taken by trial {twin}")
        start = time.perf_counter()
        try:
            prepared = evaluator.prepare(values)
        except Rejected as rej:
            _record_rejection(trial, rej)
            raise optuna.TrialPruned(f"{rej.kind}: {rej}") from None
        except UserCodeError as err:  # the experiment file's code: stop, keep the trial for the rerun
            trial.set_user_attr("error", f"interrupted: {err}")
            stop.append(err)
            study.stop()
            raise
        trial.set_user_attr("point", prepared.point)
        trial.set_user_attr("verdict", Verdict.FEASIBLE)
        trial.set_constraint("budget", 0.0)
        for k, v in prepared.costs.items():
            trial.set_user_attr(k, v)
        same = _same_network(study, trial.number, prepared.point)
        if same is not None:  # this network was trained already: its result stands for this point
            trial.set_user_attr("metrics", same.user_attrs.get("metrics"))
            trial.set_user_attr("note", f"same network as trial {same.number}: its result is reused")
            trial.set_user_attr("duration_s", 0.0)
            return same.values[0] if len(same.values) == 1 else list(same.values)
        progress.trial_started(trial.number, values)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            progress.epoch(epoch, exp.evaluation.epochs, metrics)
            tracker.epoch(stage.name, trial.number, epoch, metrics)
            if not exp.multi_objective:
                first = next(iter(exp.objectives))
                if first in metrics and math.isfinite(metrics[first]):
                    with deferred():
                        trial.report(metrics[first], epoch)
                        prune = trial.should_prune()
                    if prune:
                        trial.set_user_attr("pruned_at_epoch", epoch)
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        try:
            with interruptible():
                metrics = evaluator.train(prepared, on_epoch)
        except optuna.TrialPruned:
            raise
        except Exception as err:  # recorded as FAIL with its reason; the study goes on
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            raise
        finally:
            trial.set_user_attr("duration_s", time.perf_counter() - start)
        trial.set_user_attr("metrics", metrics)
        result = evaluator.objective_values(prepared, metrics)
        return result[0] if len(result) == 1 else result

    def stoppable(trial: optuna.Trial) -> float | list[float]:
        try:
            return objective(trial)
        except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM: FAIL now, re-queued by the next run
            trial.set_user_attr("error", interrupted_error(err))
            raise

    return stoppable


def _record_rejection(trial: optuna.Trial, rej: Rejected) -> None:
    trial.set_user_attr("verdict", rej.kind)
    trial.set_user_attr("violations", rej.reasons)
    trial.set_constraint("budget", constraint_value(rej.reasons))
    if rej.point is not None:
        trial.set_user_attr("point", rej.point)
    for k, v in rej.costs.items():
        trial.set_user_attr(k, v)


def _same_network(study: optuna.Study, number: int, point: Mapping[str, Any]) -> FrozenTrial | None:
    """A finished trial of this study that trained the same network (the point after ``derive``)."""
    key = point_key(point)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if (
            t.number != number
            and t.values is not None
            and t.user_attrs.get("point") is not None
            and point_key(t.user_attrs["point"]) == key
        ):
            return t
    return None


def _taken_by_other(study: optuna.Study, number: int, values: Mapping[str, Any]) -> int | None:
    """The number of another trial (running or finished) of this grid point, if any."""
    key = _key(values)
    for t in study.get_trials(
        deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    ):
        if (
            t.number != number
            and _key(t.params) == key
            and t.user_attrs.get("verdict") != Verdict.DUPLICATE
            and (t.state != TrialState.RUNNING or t.number < number)
        ):
            return t.number
    return None


def _best_value(study: optuna.Study) -> float | None:
    if len(study.directions) != 1:
        return None
    vals = [
        t.value
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None
    ]
    if not vals:
        return None
    return max(vals) if study.direction == optuna.study.StudyDirection.MAXIMIZE else min(vals)


def run_optuna(
    exp: Experiment,
    run_dir: Path,
    storage_url: str | None = None,
    trials: int | None = None,
    source: str | None = None,
    overrides: list[str] | None = None,
    progress: Progress | None = None,
    tracker: SearchTracker = NO_TRACKING,
) -> pd.DataFrame:
    """Run every stage with Optuna; re-running the same command resumes; ``tracker`` logs to MLflow."""
    if exp.pruner == "pbt":
        raise ExperimentError(
            "pruner=pbt (population-based training) needs the Ray backend: run with --backend ray"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    progress = progress or Progress()
    stages = exp.all_stages()
    meta = check_run_dir(run_dir, exp, "optuna")  # before anything is written, as the checks below
    url, owns = choose_store(run_dir, storage_url, meta, {study_name(exp, s) for s in stages})
    data: dict[int, Any] = {}  # loaded once, shared by the stages
    validate_run(exp, trials, data)
    budget = parse_budget(exp.budget)
    evaluator = Evaluator(exp, stages[0].space, budget, data)
    threads = choose_threads(exp.evaluation.threads, workers=1)
    apply_threads(threads)
    progress.say(
        f"run {exp.name}: {len(stages)} stage(s), {threads} CPU thread(s) per trial "
        f"({threads_reason(exp.evaluation.threads)}), results in {run_dir}"
    )
    progress.plan(sum(_planned(s, trials) for s in stages))
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        storage = storage_for(url)
        val_size = len(evaluator.data(exp.evaluation.resolution).val)
        meta = write_meta(
            run_dir,
            exp,
            "optuna",
            recorded(url, run_dir),
            [{"stage": s.name, "study": study_name(exp, s)} for s in stages],
            source,
            list(overrides or []),
            evaluator.num_classes,
            extra={"threads": threads, "val_size": val_size},
        )
        tracker.start_search(run_dir, meta, progress.say, storage)
        with signal_interrupts():
            for stage in stages:
                space = stage_space(stage, exp, lambda: load_results(run_dir, storage))
                stage_evaluator = Evaluator(exp, space, budget, data)
                stage, space = checked_stage(exp, stage, space, budget, stage_evaluator, progress.say)
                run_stage(
                    exp, stage, space, budget, storage, owns, trials, progress, stage_evaluator, tracker
                )
                raise_if_pending()  # a signal that came while the last trial was being recorded
        results = load_results(run_dir, storage)
    except KeyboardInterrupt as err:
        command = resume_command(source, run_dir, overrides, storage_url)
        progress.say(stopped_line(exp.name, err, command))
        raise
    finally:
        lock.release()
    if exp.summarize is not None and not results.empty:
        progress.say(exp.summarize(results, exp))
    progress.close(final_lines(exp, results, run_dir, val_size))
    return results


def _planned(stage: Stage, trials: int | None) -> int:
    """A stage's trial count as far as it is known before the run (a later stage's grid before fix_from)."""
    try:
        return stage_total(stage, stage.space, trials)
    except Exception:
        return 0
