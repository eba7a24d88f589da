"""Train a model for a few epochs and measure it on the validation split: one trial's evaluation.

SGD (momentum 0.9, Nesterov) or AdamW, cosine learning-rate decay per step, cross entropy
(optionally label-smoothed). On CUDA the model runs channels-last under bf16 autocast
(where the GPU supports bf16); on CPU everything is fp32 and, for a given seed and thread
count, reproducible. The number of CPU threads is left as the caller set it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from scalesearch.device import resolve_device
from scalesearch.errors import ScalesearchError
from scalesearch.train.data import Data, ImageTensors

OPTIMIZERS = ("sgd", "adamw")
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
EpochHook = Callable[[int, dict[str, float]], None]


class TrialFailed(RuntimeError):
    """Training broke down (non-finite loss, out of memory): the trial is failed, not the search."""


def train_and_evaluate(
    model: nn.Module,
    data: Data,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float | None = None,
    label_smoothing: float = 0.0,
    device: str = "auto",
    seed: int = 0,
    on_epoch: EpochHook | None = None,
    max_batches_per_epoch: int | None = None,
    amp: bool = True,
) -> dict[str, float]:
    """Train ``model`` in place on ``data.train`` for ``epochs``; return validation metrics.

    Returns ``accuracy`` (top-1 on ``data.val``, in [0, 1]), ``val_loss`` (plain cross
    entropy), ``train_loss`` (mean over the last epoch), ``train_seconds`` (training steps
    only, evaluation excluded) and ``epochs`` (completed). ``weight_decay`` defaults to 5e-4
    for SGD and 0.05 for AdamW, and is not applied to biases and norm weights.
    ``on_epoch(epoch, metrics)`` runs after each epoch (1-based) with ``accuracy``,
    ``val_loss``, ``train_loss``, ``lr`` and ``train_seconds``; whatever it raises (a pruning
    signal, say) propagates. ``max_batches_per_epoch`` caps training steps per epoch (the
    validation split is always measured whole). ``seed`` seeds torch's global generator
    (dropout) and the shuffling; seed the model's construction yourself.

    Raises :class:`TrialFailed` when the loss becomes nan/inf or CUDA runs out of memory.
    """
    check_args(epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, max_batches_per_epoch)
    run = setup_run(
        model, data, epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, device, seed,
        max_batches_per_epoch, amp,
    )  # fmt: skip
    train_seconds, metrics = 0.0, {}
    for epoch in range(1, epochs + 1):
        seconds, train_loss, accuracy, val_loss = run_epoch(run, epoch)
        train_seconds += seconds
        if not math.isfinite(val_loss):
            raise TrialFailed(f"validation loss became {val_loss} at epoch {epoch}")
        metrics = {
            "accuracy": accuracy,
            "val_loss": val_loss,
            "train_loss": train_loss,
            "lr": run.opt.param_groups[0]["lr"],
            "train_seconds": train_seconds,
        }
        if on_epoch is not None:
            on_epoch(epoch, dict(metrics))
    return {
        "accuracy": metrics["accuracy"],
        "val_loss": metrics["val_loss"],
        "train_loss": metrics["train_loss"],
        "train_seconds": train_seconds,
        "epochs": epochs,
    }


# --------------------------------------------------------------------------- steps


@dataclass
class TrainingRun:
    """What every epoch of one training run needs: model, splits, optimiser, schedule, device."""

    model: nn.Module
    train_set: Dataset
    val_set: Dataset
    num_classes: int
    batch_size: int
    steps: int
    label_smoothing: float
    opt: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    shuffle: torch.Generator
    device: torch.device
    memory_format: torch.memory_format
    autocast: Callable[[], AbstractContextManager]
    check_every: int


def setup_run(
    model: nn.Module,
    data: Data,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    weight_decay: float | None,
    label_smoothing: float,
    device: str,
    seed: int,
    max_batches: int | None,
    amp: bool,
) -> TrainingRun:
    """Seed, move the model and splits to the device, build the optimiser and cosine schedule."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    cuda = dev.type == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    autocast = autocast_for(dev, amp)

    model.to(dev, memory_format=memory_format)  # type: ignore[call-overload]  # torch's stubs omit it
    train_set, val_set = _on_device(data.train, dev), _on_device(data.val, dev)
    steps = _steps_per_epoch(len(train_set), batch_size, max_batches)  # type: ignore[arg-type]
    opt = _optimizer(
        model, optimizer, lr, DEFAULT_WEIGHT_DECAY[optimizer] if weight_decay is None else weight_decay
    )
    total = epochs * steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / total))
    )
    # Checking the loss forces a host sync; on CUDA do it every few steps, then find the culprit.
    check_every = 25 if cuda else 1
    return TrainingRun(
        model, train_set, val_set, data.num_classes, batch_size, steps, label_smoothing, opt, schedule,
        shuffle, dev, memory_format, autocast, check_every,
    )  # fmt: skip


def autocast_for(dev: torch.device, amp: bool) -> Callable[[], AbstractContextManager]:
    """bf16 autocast on a CUDA device that supports it when ``amp``; else nothing (fp32)."""
    if dev.type == "cuda" and amp and torch.cuda.is_bf16_supported():
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext


def run_epoch(run: TrainingRun, epoch: int) -> tuple[float, float, float, float]:
    """Train one epoch, then evaluate: train seconds, train loss, accuracy and validation loss.

    CUDA running out of memory fails the trial (after freeing what the run holds).
    """
    try:
        seconds, train_loss = _train_epoch(run, epoch)
        accuracy, val_loss = _evaluate(
            run.model, run.val_set, max(run.batch_size, 256), run.device, run.memory_format, run.autocast
        )
        return seconds, train_loss, accuracy, val_loss
    except torch.cuda.OutOfMemoryError:
        pass  # raised below, outside the handler, so the traceback's tensors can be freed
    _free(run.model, run.opt, run.device)
    raise TrialFailed(
        f"CUDA ran out of memory at epoch {epoch} with batch_size={run.batch_size} on {run.device}; "
        "use a smaller batch_size, resolution or model"
    )


def _train_epoch(run: TrainingRun, epoch: int) -> tuple[float, float]:
    """One epoch of training steps: its seconds (steps only) and mean loss."""
    model, cuda = run.model, run.device.type == "cuda"
    model.train()
    if cuda:
        torch.cuda.synchronize(run.device)
    start = time.perf_counter()
    losses: list[Tensor] = []
    checked = 0
    for x, y in _batches(run.train_set, run.batch_size, run.steps, run.shuffle, run.device):
        with run.autocast():
            logits = model(_layout(x, run.memory_format))
        if epoch == 1 and not losses:
            _check_logits(logits, run.num_classes)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=run.label_smoothing)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.schedule.step()
        losses.append(loss.detach())
        if len(losses) - checked >= run.check_every:
            _check_finite(losses, checked, epoch)
            checked = len(losses)
    _check_finite(losses, checked, epoch)
    if cuda:
        torch.cuda.synchronize(run.device)
    return time.perf_counter() - start, torch.stack(losses).mean().item()


# --------------------------------------------------------------------------- helpers


def check_args(
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    weight_decay: float | None,
    label_smoothing: float,
    max_batches: int | None,
) -> None:
    if epochs < 1 or batch_size < 1:
        raise ScalesearchError(
            f"epochs >= 1 and batch_size >= 1 must hold, but got epochs={epochs}, batch_size={batch_size}"
        )
    if not lr > 0:
        raise ScalesearchError(f"lr > 0 must hold, but got lr={lr}")
    if optimizer not in OPTIMIZERS:
        raise ScalesearchError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got optimizer={optimizer}"
        )
    if weight_decay is not None and weight_decay < 0:
        raise ScalesearchError(f"weight_decay >= 0 must hold, but got weight_decay={weight_decay}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ScalesearchError(
            f"0 <= label_smoothing < 1 must hold, but got label_smoothing={label_smoothing}"
        )
    if max_batches is not None and max_batches < 1:
        raise ScalesearchError(
            f"max_batches_per_epoch >= 1 must hold, but got max_batches_per_epoch={max_batches}"
        )


def _optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ScalesearchError("the model has no trainable parameters")
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)


def _on_device(dataset: Dataset, device: torch.device) -> Dataset:
    """In-memory splits move to the device once, so batches are gathered there."""
    return dataset.to(device) if isinstance(dataset, ImageTensors) else dataset


def _steps_per_epoch(n: int, batch_size: int, max_batches: int | None) -> int:
    """Full batches only (a last partial batch is dropped), unless the split is smaller than one batch."""
    if n == 0:
        raise ScalesearchError("the training split is empty")
    steps = max(1, n // batch_size)
    return min(steps, max_batches) if max_batches is not None else steps


def _batches(
    dataset: Dataset, batch_size: int, steps: int, shuffle: torch.Generator, device: torch.device
) -> Iterator[tuple[Tensor, Tensor]]:
    """``steps`` shuffled batches of ``batch_size`` on ``device``."""
    if isinstance(dataset, ImageTensors):
        order = torch.randperm(len(dataset), generator=shuffle)
        for i in range(steps):
            yield dataset.batch(order[i * batch_size : (i + 1) * batch_size])
        return
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=shuffle)
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        yield x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)


def _eval_batches(dataset: Dataset, batch_size: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(dataset, ImageTensors):
        for start in range(0, len(dataset), batch_size):
            yield dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
        return
    for x, y in DataLoader(dataset, batch_size=batch_size):
        yield x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int,
    device: torch.device,
    memory_format: torch.memory_format,
    autocast: Callable[[], AbstractContextManager],
) -> tuple[float, float]:
    """Top-1 accuracy and mean cross entropy over the whole split."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    n = 0
    for x, y in _eval_batches(dataset, batch_size, device):
        with autocast():
            logits = model(_layout(x, memory_format))
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        correct += (logits.argmax(dim=1) == y).sum()
        n += len(y)
    if n == 0:
        raise ScalesearchError("the validation split is empty")
    return correct.item() / n, loss_sum.item() / n


def _layout(x: Tensor, memory_format: torch.memory_format) -> Tensor:
    return x.contiguous(memory_format=memory_format) if x.ndim == 4 else x


def _free(model: nn.Module, opt: torch.optim.Optimizer, device: torch.device) -> None:
    model.zero_grad(set_to_none=True)
    opt.state.clear()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _check_logits(logits: Tensor, num_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ScalesearchError(
            f"the model must output (batch, {num_classes}) logits for this dataset, "
            f"but got shape {tuple(logits.shape)}"
        )


def _check_finite(losses: list[Tensor], start: int, epoch: int) -> None:
    """Raise TrialFailed naming the first non-finite loss among ``losses[start:]``."""
    if start >= len(losses):
        return
    recent = torch.stack(losses[start:])
    bad = (~torch.isfinite(recent)).nonzero()
    if len(bad):
        i = int(bad[0, 0])
        value = "nan" if math.isnan(recent[i].item()) else "inf"
        raise TrialFailed(f"loss became {value} at epoch {epoch}, batch {start + i + 1}")
