"""One trial, whatever the backend: point → cost → budget verdict → (train + evaluate).

The budget is checked before any data is touched or any model trained; a rejected
point comes back as a :class:`Rejected` exception carrying its reasons.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scalesearch.cost.latency import LatencySpec
from scalesearch.cost.record import CostRecord, cost_of
from scalesearch.device import resolve_device
from scalesearch.errors import PointError
from scalesearch.experiment import COST_OBJECTIVES, Experiment, SearchSpace
from scalesearch.registry import get_family
from scalesearch.search.records import Verdict
from scalesearch.space import Point
from scalesearch.verdict.budget import Budget

EpochHook = Callable[[int, dict[str, float]], None]


class Rejected(Exception):
    """A point that is invalid or over budget: recorded with its reasons, never trained."""

    def __init__(
        self,
        kind: Verdict | str,
        reasons: list[str],
        costs: Mapping[str, Any] | None = None,
        point: Point | None = None,
    ) -> None:
        super().__init__("; ".join(reasons))
        self.kind = Verdict(kind)
        self.reasons = reasons
        self.costs = dict(costs or {})
        self.point = point


@dataclass
class Prepared:
    """A point that passed the budget check, with its costs."""

    point: Point
    costs: dict[str, Any]
    record: CostRecord


@dataclass
class Evaluator:
    """Prepares and trains points of one experiment stage. Holds the loaded data per resolution."""

    experiment: Experiment
    space: SearchSpace
    budget: Budget
    loaded: dict[int, Any] = field(default_factory=dict, repr=False)
    """Datasets loaded so far, by resolution (may be shared between evaluators)."""

    def base_values(self) -> dict[str, Any]:
        """Run-level fixed values: the evaluation resolution and the dataset's class count."""
        return {"resolution": self.experiment.evaluation.resolution, "num_classes": self.num_classes}

    @property
    def num_classes(self) -> int:
        return self.data(self.experiment.evaluation.resolution).num_classes

    def data(self, resolution: int) -> Any:
        if resolution not in self.loaded:
            from scalesearch.train.data import load_dataset

            ev = self.experiment.evaluation
            self.loaded[resolution] = load_dataset(
                ev.dataset, root=ev.data_root, resolution=resolution, seed=ev.seed
            )
        return self.loaded[resolution]

    def prepare(self, values: Mapping[str, Any]) -> Prepared:
        """Validate, cost and budget-check searched ``values``; raises Rejected."""
        try:
            point = self.space.values_to_point(values, self.base_values())
        except PointError as err:
            raise Rejected(Verdict.INVALID, [str(err)]) from None
        family = get_family(self.space.family)
        ev = self.experiment.evaluation
        wants_latency = (
            ev.latency or "latency_ms" in self.budget.metrics or "latency_ms" in self.experiment.objectives
        )
        spec = None
        if wants_latency and not ev.latency_profile:
            spec = LatencySpec(device=str(resolve_device(ev.device)), batch_size=ev.latency_batch_size)
        if ev.latency_profile:  # predicted by the profile; the winner is measured for real at the end
            from scalesearch.latency.predict import experiment_profile, explain, predicted_record

            profile = experiment_profile(ev.latency_profile, ev.latency_batch_size)
            record, prediction = predicted_record(family, point, "analytic", profile)
        else:
            record, prediction = cost_of(family, point, "analytic", latency=spec), None
        costs = {m: getattr(record, m) for m in COST_OBJECTIVES}
        verdict = self.budget.check(costs)
        if not verdict.feasible:
            reasons = explain(verdict.violations, prediction) if prediction else verdict.violations
            raise Rejected(Verdict.OVER_BUDGET, list(reasons), costs, point)
        return Prepared(point, costs, record)

    def train(self, prepared: Prepared, on_epoch: EpochHook | None = None) -> dict[str, float]:
        """Build the point's network and train it for real; returns the validation metrics."""
        import torch

        from scalesearch.train.loop import train_and_evaluate

        ev = self.experiment.evaluation
        data = self.data(prepared.point["resolution"])
        torch.manual_seed(ev.seed)  # initial weights from the seed alone, not from earlier trials
        model = get_family(self.space.family).build(prepared.point)
        start = time.perf_counter()
        metrics = train_and_evaluate(
            model,
            data,
            epochs=ev.epochs,
            batch_size=ev.batch_size,
            lr=ev.lr,
            optimizer=ev.optimizer,
            weight_decay=ev.weight_decay,
            label_smoothing=ev.label_smoothing,
            device=ev.device,
            seed=ev.seed,
            on_epoch=on_epoch,
            max_batches_per_epoch=ev.max_batches_per_epoch,
            amp=ev.amp,
        )
        metrics.setdefault("train_seconds", time.perf_counter() - start)
        return {k: float(v) for k, v in metrics.items()}

    def objective_values(self, prepared: Prepared, metrics: Mapping[str, float]) -> list[float]:
        out = []
        for name in self.experiment.objectives:
            value = metrics.get(name, prepared.costs.get(name))
            out.append(float("nan") if value is None else float(value))
        return out


def constraint_value(violations: list[str] | tuple[str, ...]) -> float:
    """Optuna's constraint convention: <= 0 feasible, > 0 infeasible."""
    return float(len(violations)) if violations else 0.0
