"""Train one network to completion: resumable epochs, per-epoch logs, a summary of the final model.

:func:`train_final` trains the point of a :class:`TrainSpec` with the training steps of
:mod:`scalesearch.train.loop`, into an output directory holding

- ``train.json``: the command it trains (family, point, evaluation fields, init, head, freezing);
  a different command on the same directory is refused;
- ``checkpoint.pt``: written atomically after every epoch (see :mod:`.checkpoint`); running the
  same command again resumes from it, and on CPU ends with the metrics of an uninterrupted run;
- ``metrics.csv`` and ``tensorboard/`` (event files): the metrics of every epoch;
- ``model.pt`` (the final state dict) and ``summary.json``: accuracy, params, FLOPs (fvcore's
  convention) and latency of the final model on the training device.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from scalesearch.analysis.results import write_json_atomic
from scalesearch.atomic import atomic_path, write_atomic
from scalesearch.errors import ScalesearchError, UsageError
from scalesearch.experiment import Evaluation
from scalesearch.metrics import FLOP_CONVENTION
from scalesearch.progress import Progress
from scalesearch.registry import get_family
from scalesearch.tracking.store import HINT as TRACKING_HINT
from scalesearch.train import checkpoint, init
from scalesearch.train.data import Data, load_dataset
from scalesearch.train.loop import TrainingRun, TrialFailed, check_args, run_epoch, setup_run

if TYPE_CHECKING:
    from scalesearch.tracking import TrainTracker

COMMAND_FILE, CHECKPOINT, METRICS_CSV, SUMMARY, WEIGHTS, TENSORBOARD = (
    "train.json",
    "checkpoint.pt",
    "metrics.csv",
    "summary.json",
    "model.pt",
    "tensorboard",
)
COLUMNS = ("epoch", "accuracy", "val_loss", "train_loss", "lr", "train_seconds")


class TrainingError(ScalesearchError):
    """Training broke down (non-finite loss, out of memory); the last checkpoint is kept."""


@dataclass(frozen=True)
class TrainSpec:
    """What to train: a family point, how (the evaluation fields), and from where.

    ``point`` is built at the evaluation resolution (:func:`network_point`). With ``init``, its
    ``num_classes`` must fit the file's weights, and ``num_classes`` then replaces the classifier;
    without, the network gets ``num_classes`` (default: the dataset's) classes directly.
    ``freeze_backbone`` trains the classifier only.
    """

    family: str
    point: Mapping[str, Any]
    evaluation: Evaluation = field(default_factory=Evaluation)
    target: str = ""
    init: str | None = None
    num_classes: int | None = None
    freeze_backbone: bool = False

    def command(self) -> dict[str, Any]:
        """What makes two trainings the same (JSON-normalised): never the label of the target."""
        data = {
            "family": self.family,
            "point": dict(self.point),
            "evaluation": dataclasses.asdict(self.evaluation),
            "init": str(Path(self.init).resolve()) if self.init else None,
            "num_classes": self.num_classes,
            "freeze_backbone": self.freeze_backbone,
        }
        normalised: dict[str, Any] = json.loads(json.dumps(data, default=str))
        return normalised


# --------------------------------------------------------------------------- output directory


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping) and key != "point":
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} there, {json.dumps(b)} here")
    return out


def check_out_dir(out: Path, command: dict[str, Any]) -> bool:
    """``out`` may receive this training: new (returns False) or holding this same command (returns
    True: resume). Another command's directory is refused, its files kept (unless it never completed
    an epoch)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    path = out / COMMAND_FILE
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))["command"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise UsageError(f"{path}: damaged or another tool's file; choose another --out") from None
        diffs = _differences(stored, command)
        if diffs and not (out / CHECKPOINT).exists():
            return False  # that command never completed an epoch: this one takes the directory over
        if diffs:
            more = f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else ""
            raise UsageError(
                f"--out {out} holds another training ({'; '.join(diffs[:3])}{more}); "
                "its files are kept: choose another --out or rerun its own command"
            )
        return True
    if (out / CHECKPOINT).exists() or (out / "run.json").exists():
        raise UsageError(
            f"--out {out} holds files of something else (no {COMMAND_FILE}); choose another --out"
        )
    return False


# --------------------------------------------------------------------------- model


def network_point(spec: TrainSpec, dataset_classes: int) -> dict[str, Any]:
    """The point built: ``spec.point`` at the evaluation resolution, with (no ``init``) as many
    classes as ``--num-classes`` or the dataset says."""
    family = get_family(spec.family)
    point = {**dict(spec.point), "resolution": spec.evaluation.resolution}
    if spec.init is None:
        point["num_classes"] = spec.num_classes or dataset_classes
    return dict(family.point({k: v for k, v in point.items() if k in family.space.names}))


def output_classes(spec: TrainSpec, point: Mapping[str, Any]) -> int:
    """Classes of the trained network: ``--num-classes`` where given, else the point's."""
    return int(spec.num_classes or point.get("num_classes") or 0)


def build_model(
    spec: TrainSpec, point: Mapping[str, Any], init_state: Mapping[str, torch.Tensor] | None = None
) -> nn.Module:
    """The network of ``point``, seeded by the evaluation seed, with init weights (``init_state``, else
    read from ``spec.init``), classifier and freezing applied in that order."""
    torch.manual_seed(spec.evaluation.seed)
    model = get_family(spec.family).build(point)
    if spec.init:
        state = init.read_state_dict(spec.init) if init_state is None else init_state
        init.load_strict(model, state, spec.init)
        if spec.num_classes is not None and spec.num_classes != point.get("num_classes"):
            init.replace_classifier(model, spec.num_classes)
    if spec.freeze_backbone:
        init.freeze_backbone(model)
    return model


def _check_classes(classes: int, data: Data, spec: TrainSpec) -> None:
    if classes != data.num_classes:
        raise UsageError(
            f"the network has {classes} outputs but dataset {spec.evaluation.dataset} has "
            f"{data.num_classes} classes; pass --num-classes {data.num_classes}"
        )


# --------------------------------------------------------------------------- logs


def _summary_writer() -> Any:
    """TensorBoard's ``SummaryWriter`` class; missing tensorboard is one line naming the extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError(f"TensorBoard logs need the tensorboard package: {TRACKING_HINT}") from None
    return SummaryWriter


@contextmanager
def tensorboard(log_dir: Path) -> Iterator[Any]:
    """A TensorBoard ``SummaryWriter`` on ``log_dir``, closed at the end."""
    writer = _summary_writer()(log_dir=str(log_dir))
    try:
        yield writer
    finally:
        writer.close()


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, buf.getvalue())


# --------------------------------------------------------------------------- training


def _apply_threads(threads: int | None) -> None:
    from scalesearch.search.runs import choose_threads

    torch.set_num_threads(choose_threads(threads))


def _setup_run(spec: TrainSpec, model: nn.Module, data: Data) -> TrainingRun:
    ev = spec.evaluation
    wd = ev.weight_decay
    args = (ev.epochs, ev.batch_size, ev.lr, ev.optimizer, wd, ev.label_smoothing, ev.max_batches_per_epoch)
    check_args(*args)
    return setup_run(
        model, data, ev.epochs, ev.batch_size, ev.lr, ev.optimizer, wd, ev.label_smoothing, ev.device,
        ev.seed, ev.max_batches_per_epoch, ev.amp,
    )  # fmt: skip


def _train_epoch(run: TrainingRun, epoch: int, history: list[dict[str, float]]) -> dict[str, float]:
    try:
        seconds, train_loss, accuracy, val_loss = run_epoch(run, epoch)
    except TrialFailed as err:
        raise TrainingError(f"{err}; the checkpoint of epoch {epoch - 1} is kept") from None
    if not math.isfinite(val_loss):
        raise TrainingError(f"validation loss became {val_loss} at epoch {epoch}")
    before = history[-1]["train_seconds"] if history else 0.0
    return {
        "epoch": epoch,
        "accuracy": accuracy,
        "val_loss": val_loss,
        "train_loss": train_loss,
        "lr": run.opt.param_groups[0]["lr"],
        "train_seconds": before + seconds,
    }


def train_final(
    spec: TrainSpec, out: str | Path, progress: Progress | None = None, tracker: TrainTracker | None = None
) -> dict[str, Any]:
    """Train ``spec`` into ``out`` (resuming from its checkpoint when one is there); returns the summary.
    ``tracker`` logs it to MLflow: the command, every epoch, the summary, ``model.pt`` and ``summary.json``."""
    out, ev = Path(out), spec.evaluation
    progress = progress or Progress()
    command = spec.command()
    resuming = check_out_dir(out, command)
    _summary_writer()  # a missing extra fails before any work
    _apply_threads(ev.threads)
    init_state = init.read_state_dict(spec.init) if spec.init else None
    data = load_dataset(ev.dataset, root=ev.data_root, resolution=ev.resolution, seed=ev.seed)
    point = network_point(spec, data.num_classes)
    model = build_model(spec, point, init_state)
    _check_classes(output_classes(spec, point), data, spec)
    run = _setup_run(spec, model, data)
    if not resuming:  # claimed once the command proved it can start
        write_json_atomic(out / COMMAND_FILE, {"command": command})
    done = 0
    history: list[dict[str, float]] = []
    if resuming and (out / CHECKPOINT).exists():
        done, history = checkpoint.restore(run, checkpoint.load_checkpoint(out / CHECKPOINT))
        progress.say(f"resuming from epoch {done}/{ev.epochs} ({out / CHECKPOINT})")
    if tracker is not None:
        tracker.start_training(out, command, spec.target or spec.family, progress.say)
    progress.stage_name, progress.total = "train", 1
    progress.current = f" | {spec.target or spec.family}"
    with tensorboard(out / TENSORBOARD) as board:
        for epoch in range(done + 1, ev.epochs + 1):
            metrics = _train_epoch(run, epoch, history)
            history.append(metrics)
            for name, value in metrics.items():
                if name != "epoch":
                    board.add_scalar(name, value, epoch)
            board.flush()
            checkpoint.save_checkpoint(out / CHECKPOINT, checkpoint.capture(run, epoch, history))
            write_metrics_csv(out / METRICS_CSV, history)
            if tracker is not None:
                tracker.log_epochs(history)
            progress.epoch(epoch, ev.epochs, metrics)
    progress.end_line()
    summary = summarize(spec, point, run, history, out)
    write_json_atomic(out / SUMMARY, summary)
    if tracker is not None:
        tracker.finish_training(history, summary, [out / SUMMARY, out / WEIGHTS])
    return summary


def summarize(
    spec: TrainSpec, point: Mapping[str, Any], run: TrainingRun, history: list[dict[str, float]], out: Path
) -> dict[str, Any]:
    """The final model's accuracy, params, FLOPs and latency on the training device; saves ``model.pt``."""
    from scalesearch.cost.fvcore_count import count
    from scalesearch.cost.latency import LatencySpec, measure

    if not history:
        raise TrainingError(f"{out / CHECKPOINT} records no completed epoch")
    model, ev, last = run.model, spec.evaluation, history[-1]
    with atomic_path(out / WEIGHTS) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    channels = get_family(spec.family).input_channels(point)
    counts = count(model.cpu(), ev.resolution, channels)
    spec_ = LatencySpec(device=str(run.device), batch_size=ev.latency_batch_size)
    latency = measure(model, ev.resolution, spec_, channels=channels)
    return {
        "target": spec.target,
        "family": spec.family,
        "point": dict(point),
        "num_classes": output_classes(spec, point),
        "init": spec.init,
        "freeze_backbone": spec.freeze_backbone,
        "dataset": ev.dataset,
        "resolution": ev.resolution,
        "epochs": int(last["epoch"]),
        **{k: last[k] for k in ("accuracy", "val_loss", "train_loss", "train_seconds")},
        "params": counts.params,
        "flops": counts.flops,
        "flop_convention": FLOP_CONVENTION,
        "unsupported": counts.unsupported,
        "latency_ms": latency.median_ms,
        "latency_spread_ms": latency.spread_ms,
        "latency": {
            "device": str(run.device),
            "device_name": latency.device_name,
            "batch_size": ev.latency_batch_size,
            "dtype": "fp32",
            "threads": torch.get_num_threads(),
            "runs": latency.runs,
        },
        "weights": str(out / WEIGHTS),
    }
