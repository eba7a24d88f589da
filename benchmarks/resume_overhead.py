"""What resumability costs `scalesearch train` per epoch: checkpoint + logs vs the epoch itself.

Run by hand: ``python benchmarks/resume_overhead.py [--family wrn depth=10 widen_factor=2] [--rounds 5]``.
One run of the training loop is set up as ``scalesearch train`` sets it up; each round times one
epoch (training steps and validation), then what ``train`` adds after every epoch (the checkpoint:
model, optimiser, schedule and generators, written atomically; metrics.csv; TensorBoard scalars),
then a resume (reading the checkpoint with ``weights_only=True`` and restoring it). Medians and
their ratios to the epoch are printed side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from scalesearch.experiment import Evaluation
from scalesearch.registry import get_family
from scalesearch.train import checkpoint
from scalesearch.train.data import load_dataset
from scalesearch.train.final import (
    TrainSpec,
    _setup_run,
    build_model,
    network_point,
    tensorboard,
    write_metrics_csv,
)
from scalesearch.train.loop import _epoch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", nargs="+", default=["wrn", "depth=10", "widen_factor=2"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--resolution", type=int, default=16)
    args = ap.parse_args()
    family = get_family(args.family[0])
    ev = Evaluation(
        epochs=args.rounds, resolution=args.resolution, device="cpu", threads=torch.get_num_threads()
    )
    spec = TrainSpec(family.name, family.space.parse(args.family[1:]), ev)
    data = load_dataset(ev.dataset, resolution=ev.resolution, seed=ev.seed)
    point = network_point(spec, data.num_classes)
    run = _setup_run(spec, build_model(spec, point), data)
    epochs, saves, resumes, history = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, tensorboard(Path(tmp) / "tb") as board:
        for epoch in range(1, args.rounds + 1):
            start = time.perf_counter()
            seconds, train_loss, accuracy, val_loss = _epoch(run, epoch)
            epochs.append(time.perf_counter() - start)
            history.append(
                {"epoch": epoch, "accuracy": accuracy, "val_loss": val_loss, "train_loss": train_loss}
            )
            start = time.perf_counter()
            for name, value in history[-1].items():
                board.add_scalar(name, value, epoch)
            board.flush()
            checkpoint.save_checkpoint(Path(tmp) / "checkpoint.pt", checkpoint.capture(run, epoch, history))
            write_metrics_csv(Path(tmp) / "metrics.csv", history)
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            checkpoint.restore(run, checkpoint.load_checkpoint(Path(tmp) / "checkpoint.pt"))
            resumes.append(time.perf_counter() - start)
        size = (Path(tmp) / "checkpoint.pt").stat().st_size
    params = sum(p.numel() for p in run.model.parameters())
    epoch_s, save_s, resume_s = (statistics.median(x) for x in (epochs, saves, resumes))
    print(
        f"{' '.join(args.family)} at {ev.resolution}px on {ev.dataset}, CPU, {torch.get_num_threads()} threads: "
        f"{params:,} params, checkpoint {size / 1e6:.1f} MB, {args.rounds} rounds (medians)"
    )
    print(f"epoch (train + validate)        {epoch_s * 1000:9.1f} ms   1.0000")
    print(f"checkpoint + logs per epoch     {save_s * 1000:9.1f} ms   {save_s / epoch_s:.4f}")
    print(f"resume (load + restore)         {resume_s * 1000:9.1f} ms   {resume_s / epoch_s:.4f}")


if __name__ == "__main__":
    main()
