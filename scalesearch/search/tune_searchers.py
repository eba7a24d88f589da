"""Tune searchers of a stage: grid/random point lists or Optuna's samplers, behind the budget filter;
and the Tune scheduler an experiment's pruner names."""

from __future__ import annotations

import json
import math
import pickle
import time
from collections.abc import Mapping
from typing import Any

from ray.tune.search import Searcher as _SearcherBase

from scalesearch.errors import ExperimentError
from scalesearch.experiment import Experiment, Stage
from scalesearch.search.ray_records import NUMBER_KEY, RESULT_KEY, StageRun, rejected_record, say
from scalesearch.search.records import Verdict
from scalesearch.search.trial import Rejected, constraint_value


class PointList(_SearcherBase):
    """Suggests a fixed list of points in order (the constrained grid, or random draws made up front)."""

    def __init__(self, points: list[dict[str, Any]]) -> None:
        super().__init__()
        self.points = [dict(p) for p in points]
        self.next = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]  # FINISHED is a str
        if self.next >= len(self.points):
            return _SearcherBase.FINISHED
        number = self.next
        self.next += 1
        return {**self.points[number], NUMBER_KEY: number}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"points": self.points, "next": self.next}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        self.points, self.next = state["points"], state["next"]


class DefineByRun:
    """The Optuna define-by-run space of a stage: ``suggest()`` per active domain, budget as constraint."""

    def __init__(self, ctx: StageRun) -> None:
        self.ctx = ctx

    def __call__(self, trial: Any) -> dict[str, Any]:
        from scalesearch.search.optuna_sampling import suggest
        from scalesearch.search.tune_space import is_active

        values: dict[str, Any] = {}
        for name, domain in self.ctx.space.search.items():
            if is_active(self.ctx.space, name, values):
                values[name] = suggest(trial, name, domain)
        try:
            self.ctx.prepare(values)
            trial.set_constraint("budget", 0.0)
        except Rejected as rej:
            trial.set_constraint("budget", constraint_value(rej.reasons))
        return {NUMBER_KEY: trial.number}


class BudgetFilter(_SearcherBase):
    """Checks every suggested point against the budget before Tune schedules it.

    A rejected point is recorded (PRUNED, with its reasons) and reported back to the inner
    searcher as pruned; the filter then asks again. Every suggestion consumes one trial
    number, so a stage never exceeds its trial count and rejection cannot loop forever.
    """

    def __init__(
        self,
        searcher: Any,
        ctx: StageRun,
        metric: str | list[str] | None = None,
        mode: str | list[str] | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)  # type: ignore[arg-type]  # lists: several objectives
        self.searcher = searcher  # the name Tune's state saving follows through wrappers
        self.ctx = ctx
        self.epochs = ctx.exp.evaluation.epochs
        self._inner: dict[str, str] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # configured at construction

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]  # FINISHED is a str
        from scalesearch.search.tune_space import to_values

        attempt = 0
        while True:
            inner_id = f"{trial_id}-{attempt}"
            attempt += 1
            config = self.searcher.suggest(inner_id)
            if config is None or config == _SearcherBase.FINISHED:
                return config
            config = dict(config)
            number = int(config.pop(NUMBER_KEY))
            if number >= self.ctx.total:
                self.searcher.on_trial_complete(inner_id, None, error=True)
                return _SearcherBase.FINISHED
            if self.ctx.records.has(self.ctx.stage, number):  # recorded before a driver restart
                self.searcher.on_trial_complete(inner_id, None, error=True)
                continue
            values = to_values(self.ctx.space, config)
            start = time.perf_counter()
            try:
                self.ctx.prepare(values)
            except Rejected as rej:
                self.ctx.records.write(
                    rejected_record(self.ctx, number, values, rej, time.perf_counter() - start)
                )
                say(f"[{self.ctx.stage}] trial {number} PRUNED before launch ({rej.kind}): {rej}")
                self.searcher.on_trial_complete(inner_id, None, error=False)
                continue
            self._inner[trial_id] = inner_id
            return {**config, NUMBER_KEY: number}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        inner_id = self._inner.get(trial_id)
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        if inner_id is not None and all(m in result for m in metrics):
            self.searcher.on_trial_result(inner_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        inner_id = self._inner.pop(trial_id, None)
        if inner_id is None:
            return
        payload = _payload(result)
        if error or payload.get("error") or payload.get("verdict", Verdict.FEASIBLE) != Verdict.FEASIBLE:
            self.searcher.on_trial_complete(inner_id, None, error=True)
        elif int(payload.get("epoch") or 0) < self.epochs:  # stopped early by the scheduler
            self.searcher.on_trial_complete(inner_id, None, error=False)
        else:
            self.searcher.on_trial_complete(inner_id, result, error=False)

    def get_state(self) -> dict[str, Any]:
        return {"inner": dict(self._inner)}

    def set_state(self, state: dict[str, Any]) -> None:
        self._inner = dict(state.get("inner", {}))

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)


def optuna_search_class() -> type:
    """Tune's OptunaSearch, saving its state with cloudpickle (the space and sampler hold closures)."""
    import ray.cloudpickle as cloudpickle
    from ray.tune.search.optuna import OptunaSearch

    class CloudpickledOptunaSearch(OptunaSearch):
        def save(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "wb") as f:
                cloudpickle.dump(self.__dict__.copy(), f)

        def restore(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "rb") as f:
                self.__dict__.update(cloudpickle.load(f))

    return CloudpickledOptunaSearch


def _payload(result: Mapping[str, Any] | None) -> dict[str, Any]:
    if not result or RESULT_KEY not in result:
        return {}
    try:
        return json.loads(result[RESULT_KEY])
    except (TypeError, json.JSONDecodeError):
        return {}


def make_searcher(ctx: StageRun, stage: Stage, seed: int) -> BudgetFilter:
    """The stage's searcher, wrapped by the budget filter."""
    exp = ctx.exp
    names = list(exp.objectives)
    modes = ["max" if d == "maximize" else "min" for d in exp.objectives.values()]
    metric: str | list[str] = names if exp.multi_objective else names[0]
    mode: str | list[str] = modes if exp.multi_objective else modes[0]
    if stage.strategy == "grid":
        from scalesearch.search.tune_space import grid_points

        points = grid_points(ctx.space, ctx.total)
        if not points:
            raise ExperimentError(
                f"the grid of stage space {dict(ctx.space.search)} is empty after its constraints"
            )
        inner: Any = PointList(points)
    elif stage.strategy == "random":
        import numpy as np

        from scalesearch.search.tune_space import sample, to_tune

        param_space = to_tune(ctx.space)
        rng = np.random.default_rng(seed)
        inner = PointList([sample(param_space, rng) for _ in range(ctx.total)])
    else:
        import optuna

        from scalesearch.search.optuna_sampling import sampler

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        inner = optuna_search_class()(
            space=DefineByRun(ctx), metric=metric, mode=mode, sampler=sampler(stage, seed)
        )
    return BudgetFilter(inner, ctx, metric, mode)


def make_scheduler(exp: Experiment) -> Any:
    """ASHA / async HyperBand / median stopping on the first objective per epoch; None otherwise (pbt:
    :func:`scalesearch.search.tune_pbt.make_pbt`)."""
    if exp.multi_objective or exp.pruner in ("none", "pbt") or exp.evaluation.epochs < 2:
        return None
    from ray.tune.schedulers import ASHAScheduler, AsyncHyperBandScheduler, MedianStoppingRule

    name, direction = next(iter(exp.objectives.items()))
    mode = "max" if direction == "maximize" else "min"
    epochs = exp.evaluation.epochs
    if exp.pruner == "asha":
        return ASHAScheduler(
            time_attr="epoch", metric=name, mode=mode, max_t=epochs, grace_period=1, reduction_factor=3
        )
    if exp.pruner == "hyperband":
        brackets = max(1, min(3, int(math.log(epochs, 3)) + 1))
        return AsyncHyperBandScheduler(
            time_attr="epoch",
            metric=name,
            mode=mode,
            max_t=epochs,
            grace_period=1,
            reduction_factor=3,
            brackets=brackets,
        )
    return MedianStoppingRule(
        time_attr="epoch", metric=name, mode=mode, grace_period=1, min_samples_required=2
    )
