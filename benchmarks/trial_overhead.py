"""Framework overhead per trial: `scalesearch run` vs a hand-written Optuna + PyTorch loop.

Run by hand: ``python benchmarks/trial_overhead.py [--rounds 5]``. Both sides train the same WRN
grid (4 points) on the digits data the same way (same model, data, optimiser, epochs, seed,
SQLite storage); the hand-written side is the loop a user would write with Optuna directly. The
two are run alternately in one process, several rounds, and the ratio of their median wall times
is printed, for two trial lengths: full epochs of the digits data (as the main job trains) and
epochs cut to 8 batches (sub-second trials, where the fixed cost per trial shows most).
Target: ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.progress import Progress
from scalesearch.registry import get_family
from scalesearch.search.optuna_backend import run_optuna
from scalesearch.space import Choice
from scalesearch.train.data import load_dataset
from scalesearch.train.loop import train_and_evaluate

FULL = Evaluation(dataset="digits", resolution=16, epochs=2, batch_size=64, lr=0.05)
SHORT = dataclasses.replace(FULL, max_batches_per_epoch=8)
GRID = {"widen_factor": [1, 2], "dropout": [0.0, 0.1]}


def framework(tmp: Path, ev: Evaluation) -> float:
    exp = Experiment(
        name="overhead",
        space=SearchSpace("wrn", {k: Choice(tuple(v)) for k, v in GRID.items()}, fixed={"depth": 10}),
        strategy="grid",
        pruner="none",
        trials=None,
        evaluation=ev,
    )
    with open(os.devnull, "w") as quiet:
        start = time.perf_counter()
        run_optuna(exp, tmp / "framework", progress=Progress(live=False, stream=quiet))
        return time.perf_counter() - start


def hand_written(tmp: Path, ev: Evaluation) -> float:
    start = time.perf_counter()
    data = load_dataset("digits", resolution=ev.resolution, seed=ev.seed)
    wrn = get_family("wrn")

    def objective(trial: optuna.Trial) -> float:
        k = trial.suggest_categorical("widen_factor", GRID["widen_factor"])
        p = trial.suggest_categorical("dropout", GRID["dropout"])
        model = wrn.build(
            {
                "depth": 10,
                "widen_factor": k,
                "dropout": p,
                "resolution": ev.resolution,
                "num_classes": data.num_classes,
            }
        )
        return train_and_evaluate(
            model,
            data,
            epochs=ev.epochs,
            batch_size=ev.batch_size,
            lr=ev.lr,
            seed=ev.seed,
            max_batches_per_epoch=ev.max_batches_per_epoch,
        )["accuracy"]

    study = optuna.create_study(
        storage=f"sqlite:///{tmp / 'hand.db'}",
        direction="maximize",
        sampler=optuna.samplers.GridSampler(GRID),
    )
    study.optimize(objective, n_trials=4)
    return time.perf_counter() - start


def compare(ev: Evaluation, rounds: int, label: str) -> None:
    """Both sides alternately, ``rounds`` times; prints the medians and their ratio."""
    fw, hw = [], []
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            order = (framework, hand_written) if r % 2 == 0 else (hand_written, framework)
            for fn in order:
                (fw if fn is framework else hw).append(fn(tmp, ev))
    f, h = statistics.median(fw), statistics.median(hw)
    print(f"{label}: 4 trials x {ev.epochs} epochs, {rounds} rounds alternated; medians:")
    print(f"  scalesearch run:        {f:7.2f} s   rounds {[round(x, 2) for x in fw]}")
    print(f"  hand-written Optuna:    {h:7.2f} s   rounds {[round(x, 2) for x in hw]}")
    print(f"  trial length (hand):    {h / 4 * 1000:7.0f} ms")
    print(f"  overhead per trial:     {(f - h) / 4 * 1000:7.0f} ms")
    print(f"  ratio scalesearch/hand: {f / h:7.3f} (target <= 1.05)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as d:  # imports, data and first-trace warm-up, not timed
        framework(Path(d), SHORT)
    compare(FULL, args.rounds, "full epochs (as the main job)")
    compare(SHORT, args.rounds, "epochs cut to 8 batches")


if __name__ == "__main__":
    main()
