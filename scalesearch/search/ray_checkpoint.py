"""Ray Tune trials that checkpoint every epoch and resume from their last checkpoint.

A trial's checkpoint is the ``train`` command's (:mod:`scalesearch.train.checkpoint`: model,
optimiser, scheduler and every RNG state, loadable with ``weights_only=True``) plus the trial's
number and its hyper-parameter schedule. It is handed to Tune with each epoch's report
(``tune.report(metrics, checkpoint=...)``), which copies it under the run's storage path
(``RUN_DIR/ray/<study>/trial_*/checkpoint_*``, on the cluster's shared filesystem). A trial Tune
retries after its worker or node died starts from ``tune.get_checkpoint()``: its last completed
epoch, not epoch 0. Population-based training (``pruner="pbt"``) starts an exploiting trial from
another trial's checkpoint with new ``lr`` / ``weight_decay``; the schedule records which.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from scalesearch.registry import get_family
from scalesearch.search.trial import Evaluator, Prepared
from scalesearch.train import checkpoint
from scalesearch.train.loop import (
    DEFAULT_WEIGHT_DECAY,
    TrainingRun,
    TrialFailed,
    check_args,
    run_epoch,
    setup_run,
)

FILE = "checkpoint.pt"
EpochReport = Callable[[int, dict[str, float], list[dict[str, Any]], "dict[str, Any] | None"], None]
"""``report(epoch, metrics, schedule, state)``: one Tune report (``state``: the checkpoint, or None)."""


@dataclass
class Hyper:
    """The training hyper-parameters a trial runs with (its config's, else the evaluation's)."""

    lr: float
    weight_decay: float

    @classmethod
    def of(cls, evaluator: Evaluator, values: Mapping[str, Any]) -> Hyper:
        ev = evaluator.experiment.evaluation
        wd = values.get("weight_decay", ev.weight_decay)
        return cls(
            float(values.get("lr", ev.lr)), float(DEFAULT_WEIGHT_DECAY[ev.optimizer] if wd is None else wd)
        )


@dataclass
class Start:
    """Where a trial starts: epoch 0, or a checkpoint (its own after a failure, another's under PBT)."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    """One row per trained epoch: ``epoch``, ``lr``, ``weight_decay`` and ``trial`` (whose run it was)."""
    source: int | None = None
    """The trial number the checkpoint belongs to."""


def tune_checkpoint() -> dict[str, Any] | None:
    """The state of the checkpoint Tune hands this trial (``tune.get_checkpoint()``), or None."""
    from ray import tune

    found = tune.get_checkpoint()
    if found is None:
        return None
    with found.as_directory() as folder:
        return checkpoint.load_checkpoint(Path(folder) / FILE)


def load_start(run: TrainingRun, hyper: Hyper, state: Mapping[str, Any] | None) -> Start:
    """Restore ``run`` from a checkpoint ``state`` (None: start at epoch 0); then apply ``hyper``."""
    start = Start()
    if state is not None:
        epoch, history = checkpoint.restore(run, dict(state))
        start = Start(epoch, history, [dict(r) for r in state.get("schedule", [])], state.get("trial"))
    set_hyper(run, hyper)
    return start


def set_hyper(run: TrainingRun, hyper: Hyper) -> None:
    """Make ``run`` train on with ``hyper``: the cosine schedule rescaled to the new base lr, and the
    new weight decay on the weights (biases and norms keep none)."""
    groups = run.opt.param_groups
    run.schedule.base_lrs = [hyper.lr] * len(groups)
    factor = run.schedule.lr_lambdas[0](run.schedule.last_epoch)
    for group in groups:
        group["initial_lr"] = hyper.lr
        group["lr"] = hyper.lr * factor
        if any(p.ndim > 1 for p in group["params"]):
            group["weight_decay"] = hyper.weight_decay


def build_run(evaluator: Evaluator, prepared: Prepared, hyper: Hyper) -> TrainingRun:
    """The point's network (seeded as ``Evaluator.train`` seeds it) and its training state."""
    ev = evaluator.experiment.evaluation
    data = evaluator.data(prepared.point["resolution"])
    torch.manual_seed(ev.seed)
    model = get_family(evaluator.space.family).build(prepared.point)
    args = (ev.epochs, ev.batch_size, hyper.lr, ev.optimizer, hyper.weight_decay, ev.label_smoothing)
    check_args(*args, ev.max_batches_per_epoch)
    return setup_run(
        model, data, ev.epochs, ev.batch_size, hyper.lr, ev.optimizer, hyper.weight_decay, ev.label_smoothing,
        ev.device, ev.seed, ev.max_batches_per_epoch, ev.amp,
    )  # fmt: skip


def train_epochs(
    run: TrainingRun,
    start: Start,
    epochs: int,
    number: int,
    hyper: Hyper,
    report: EpochReport,
    keep_last: bool = False,
) -> None:
    """Train ``run`` from ``start`` to the last epoch, reporting each epoch with its checkpoint state
    (the last epoch's only when ``keep_last``: nothing is left to resume). Each epoch's metrics are
    those of ``train_and_evaluate``'s ``on_epoch``; ``train_seconds`` counts the epochs before a resume."""
    history, schedule = list(start.history), list(start.schedule)
    for epoch in range(start.epoch + 1, epochs + 1):
        seconds, train_loss, accuracy, val_loss = run_epoch(run, epoch)
        if not math.isfinite(val_loss):
            raise TrialFailed(f"validation loss became {val_loss} at epoch {epoch}")
        before = history[-1]["train_seconds"] if history else 0.0
        metrics = {
            "accuracy": accuracy,
            "val_loss": val_loss,
            "train_loss": train_loss,
            "lr": run.opt.param_groups[0]["lr"],
            "train_seconds": before + seconds,
        }
        history.append({"epoch": epoch, **metrics})
        schedule.append({"epoch": epoch, "lr": hyper.lr, "weight_decay": hyper.weight_decay, "trial": number})
        state = None
        if epoch < epochs or keep_last:
            state = {**checkpoint.capture(run, epoch, history), "trial": number, "schedule": schedule}
        report(epoch, metrics, schedule, state)


def tune_report(metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
    """``tune.report`` with ``state`` as the trial's checkpoint (Tune copies it to the run's storage)."""
    from ray import tune

    if state is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="scalesearch-ckpt-") as folder:
        checkpoint.save_checkpoint(Path(folder) / FILE, state)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
