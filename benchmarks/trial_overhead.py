"""Framework overhead per trial: `scalesearch run` vs a hand-written Optuna + PyTorch loop.

Run by hand: ``python benchmarks/trial_overhead.py [--rounds 3]``. Both sides train the same WRN
grid (4 points) on the digits data the same way (same model, data, optimiser, epochs, seed,
SQLite storage); the hand-written side is the loop a user would write with Optuna directly. The
two are run alternately in one process, several rounds, and the ratio of their median wall times
is printed. Target: ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.progress import Progress
from scalesearch.registry import get_family
from scalesearch.runner import run_optuna
from scalesearch.space import Choice
from scalesearch.train.data import load_dataset
from scalesearch.train.loop import train_and_evaluate

EVAL = Evaluation(dataset="digits", resolution=16, epochs=2, batch_size=64, lr=0.05, max_batches_per_epoch=8)
GRID = {"widen_factor": [1, 2], "dropout": [0.0, 0.1]}


def framework(tmp: Path) -> float:
    exp = Experiment(
        name="overhead",
        space=SearchSpace("wrn", {k: Choice(tuple(v)) for k, v in GRID.items()}, fixed={"depth": 10}),
        strategy="grid", pruner="none", trials=None, evaluation=EVAL,
    )
    with open(os.devnull, "w") as quiet:
        start = time.perf_counter()
        run_optuna(exp, tmp / "framework", progress=Progress(live=False, stream=quiet))
        return time.perf_counter() - start


def hand_written(tmp: Path) -> float:
    start = time.perf_counter()
    data = load_dataset("digits", resolution=EVAL.resolution, seed=EVAL.seed)
    wrn = get_family("wrn")

    def objective(trial: optuna.Trial) -> float:
        k = trial.suggest_categorical("widen_factor", GRID["widen_factor"])
        p = trial.suggest_categorical("dropout", GRID["dropout"])
        model = wrn.build({"depth": 10, "widen_factor": k, "dropout": p, "resolution": EVAL.resolution,
                           "num_classes": data.num_classes})
        return train_and_evaluate(model, data, epochs=EVAL.epochs, batch_size=EVAL.batch_size, lr=EVAL.lr,
                                  seed=EVAL.seed, max_batches_per_epoch=EVAL.max_batches_per_epoch)["accuracy"]

    study = optuna.create_study(storage=f"sqlite:///{tmp / 'hand.db'}", direction="maximize",
                                sampler=optuna.samplers.GridSampler(GRID))
    study.optimize(objective, n_trials=4)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fw, hw = [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            order = (framework, hand_written) if r % 2 == 0 else (hand_written, framework)
            for fn in order:
                (fw if fn is framework else hw).append(fn(tmp))
    f, h = statistics.median(fw), statistics.median(hw)
    print(f"4 trials x {EVAL.epochs} epochs, {args.rounds} rounds alternated; medians:")
    print(f"scalesearch run:        {f:7.2f} s   rounds {[round(x, 2) for x in fw]}")
    print(f"hand-written Optuna:    {h:7.2f} s   rounds {[round(x, 2) for x in hw]}")
    print(f"overhead per trial:     {(f - h) / 4 * 1000:7.0f} ms")
    print(f"ratio scalesearch/hand: {f / h:7.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
