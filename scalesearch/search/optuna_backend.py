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
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import ExperimentError
from scalesearch.experiment import Experiment, SearchSpace, Stage
from scalesearch.progress import Progress
from scalesearch.search.trial import Evaluator, Rejected, constraint_value
from scalesearch.space import Choice, Domain, Float, Int
from scalesearch.verdict.budget import Budget

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_S = 10
GRACE_S = 30


def storage_for(url: str, attempts: int = 5) -> RDBStorage:
    """An RDB storage with heartbeats. Workers starting together on a new database race to
    create its schema; the loser retries once the winner's tables exist."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return RDBStorage(
                url,
                engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def suggest(trial: optuna.Trial, name: str, domain: Domain) -> Any:
    if isinstance(domain, Int):
        return trial.suggest_int(name, domain.low, domain.high, step=domain.step, log=domain.log)
    if isinstance(domain, Float):
        return trial.suggest_float(name, domain.low, domain.high, step=domain.step, log=domain.log)
    if isinstance(domain, Choice):
        return trial.suggest_categorical(name, list(domain.choices))
    raise ExperimentError(f"{name}: {domain.describe()} cannot be searched; fix it or use a Choice of values")


def _sampler(stage: Stage, seed: int) -> optuna.samplers.BaseSampler:
    if stage.strategy in ("grid", "random"):
        return optuna.samplers.RandomSampler(seed=seed)
    if stage.strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)


def _pruner(exp: Experiment) -> optuna.pruners.BasePruner:
    if exp.multi_objective or exp.pruner == "none":
        return optuna.pruners.NopPruner()
    if exp.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if exp.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=exp.evaluation.epochs)


def study_name(exp: Experiment, stage: Stage) -> str:
    return exp.name if len(exp.all_stages()) == 1 else f"{exp.name}.{stage.name}"


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Fail the trials a dead process left RUNNING and queue their parameters again."""
    retry = RetryHeartbeatStaleTrialCallback(max_retry=3)
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted: its process died; re-queued")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        retry(study, study._storage.get_trial(t._trial_id))
        recovered.append(t.number)
    return recovered


def _counted(study: optuna.Study) -> int:
    """Trials that count toward --trials: finished ones and failures that were not interruptions."""
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in DONE or (t.state == TrialState.FAIL and "interrupted" not in t.user_attrs.get("error", "")):
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
) -> optuna.Study:
    """Run one stage to completion (or to its trial cap); returns the study."""
    directions = list(exp.objectives.values())
    study = optuna.create_study(
        storage=storage, study_name=study_name(exp, stage), directions=directions,
        sampler=_sampler(stage, exp.seed), pruner=_pruner(exp), load_if_exists=True,
    )
    study.set_user_attr("stage", stage.name)
    study.set_user_attr("objectives", list(exp.objectives))
    study.set_user_attr("family", space.family)
    if owns_storage:
        recover_interrupted(study)
    cap = min(x for x in (stage.trials, trials_cap) if x is not None) \
        if (stage.trials or trials_cap) else None
    if stage.strategy == "grid":
        remaining = _enqueue_grid(study, space, cap)
        if cap is not None:
            remaining = min(remaining, max(0, cap - _counted(study)))
    else:
        if cap is None:
            raise ExperimentError(f"stage {stage.name}: a {stage.strategy} search needs a trial count (--trials N)")
        remaining = max(0, cap - _counted(study))
    evaluator = evaluator or Evaluator(exp, space, budget)
    progress.stage(stage.name, done=_counted(study), total=_counted(study) + remaining)
    if remaining == 0:
        return study

    def objective(trial: optuna.Trial) -> float | list[float]:
        values = {name: suggest(trial, name, d) for name, d in space.search.items()}
        if stage.strategy == "grid":
            twin = _taken_by_other(study, trial.number, values)
            if twin is not None:  # two workers queued the same grid point at once
                trial.set_user_attr("verdict", "duplicate")
                trial.set_user_attr("violations", [f"duplicate of trial {twin}"])
                raise optuna.TrialPruned(f"grid point already taken by trial {twin}")
        start = time.perf_counter()
        try:
            prepared = evaluator.prepare(values)
        except Rejected as rej:
            trial.set_user_attr("verdict", rej.kind)
            trial.set_user_attr("violations", rej.reasons)
            trial.set_constraint("budget", constraint_value(rej.reasons))
            if rej.point is not None:
                trial.set_user_attr("point", rej.point)
            for k, v in rej.costs.items():
                trial.set_user_attr(k, v)
            raise optuna.TrialPruned(f"{rej.kind}: {rej}") from None
        trial.set_user_attr("point", prepared.point)
        trial.set_user_attr("verdict", "feasible")
        trial.set_constraint("budget", 0.0)
        for k, v in prepared.costs.items():
            trial.set_user_attr(k, v)
        progress.trial_started(trial.number, values)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            progress.epoch(epoch, exp.evaluation.epochs, metrics)
            if not exp.multi_objective:
                first = next(iter(exp.objectives))
                if first in metrics and math.isfinite(metrics[first]):
                    trial.report(metrics[first], epoch)
                    if trial.should_prune():
                        trial.set_user_attr("pruned_at_epoch", epoch)
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        try:
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

    def after(study: optuna.Study, t: FrozenTrial) -> None:
        progress.trial_finished(t, _best_value(study))

    study.optimize(objective, n_trials=remaining, catch=(Exception,), callbacks=[after])
    return study


def _taken_by_other(study: optuna.Study, number: int, values: Mapping[str, Any]) -> int | None:
    """The number of another trial (running or finished) of this grid point, if any."""
    key = _key(values)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)):
        if (t.number != number and _key(t.params) == key and t.user_attrs.get("verdict") != "duplicate"
                and (t.state != TrialState.RUNNING or t.number < number)):
            return t.number
    return None


def _best_value(study: optuna.Study) -> float | None:
    if len(study.directions) != 1:
        return None
    vals = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None]
    if not vals:
        return None
    return max(vals) if study.direction == optuna.study.StudyDirection.MAXIMIZE else min(vals)


def default_storage(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


class RunLock:
    """Marks a run directory as owned by this process; a dead owner's lock is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "run.lock"

    def acquire(self) -> None:
        if self.path.exists():
            try:
                pid = int(self.path.read_text().strip() or 0)
            except ValueError:
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise ExperimentError(
                    f"run directory {self.path.parent} is in use by process {pid}; wait for it or use --out")
        self.path.write_text(str(os.getpid()))

    def release(self) -> None:
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except FileNotFoundError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
