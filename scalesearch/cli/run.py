"""Commands over experiments and runs: run (resumes when run again) and results (the trials table)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from scalesearch.cli.common import format_arg, out, set_arg
from scalesearch.errors import UsageError
from scalesearch.formatting import compact, table, to_json

if TYPE_CHECKING:
    from scalesearch.experiment import Experiment
    from scalesearch.tracking import SearchTracker


def run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="experiment file, e.g. experiments/efficientnet_grid.py")
    set_arg(p, "override an experiment field (dataset, epochs, resolution, budget, ...)")
    p.add_argument(
        "--trials", type=int, help="cap the number of trials per stage (a grid stops after N points)"
    )
    p.add_argument("--out", help="run directory (default runs/<experiment name>)")
    p.add_argument(
        "--storage", help="Optuna storage URL (any SQLAlchemy URL; default SQLite in the run directory)"
    )
    p.add_argument("--backend", choices=["optuna", "ray"], default="optuna")
    p.add_argument("--address", help="Ray cluster address (ray backend), e.g. 127.0.0.1:6379 or auto")
    p.add_argument(
        "--cpus-per-trial", type=float, default=1.0, help="CPUs Ray reserves for each trial (ray backend)"
    )
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        help="GPUs Ray reserves for each trial; fractions share a GPU (ray backend)",
    )
    p.add_argument("--max-concurrent", type=int, help="trials running at once (ray backend)")
    mlflow_arg(p, "a parent run for the run directory, a nested run per trial")


def mlflow_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--mlflow",
        metavar="URI",
        help=f"log to MLflow ({what}): a directory or file: URI (file:./mlruns), a tracking server "
        "(http://host:5000) or a database (sqlite:///mlflow.db); needs pip install 'scalesearch[tracking]'",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from scalesearch.experiment import apply_overrides, load_experiment
    from scalesearch.tracking import SearchTracker, tracking

    if args.trials is not None and args.trials < 1:
        raise UsageError(f"--trials must be >= 1, but got --trials {args.trials}")
    with tracking(args.mlflow, SearchTracker) as tracker:  # a bad URI is refused before any work
        exp = apply_overrides(load_experiment(args.file), args.overrides)
        _run(args, exp, Path(args.out or Path("runs") / exp.name), tracker)
    return 0


def _run(args: argparse.Namespace, exp: Experiment, run_dir: Path, tracker: SearchTracker | None) -> None:
    """The search on the chosen backend; Ray runs are logged to MLflow when they end."""
    if args.backend == "ray":
        from scalesearch.search.ray_backend import run_ray
        from scalesearch.tracking import track_finished_run

        run_ray(
            exp,
            run_dir,
            address=args.address,
            trials=args.trials,
            source=args.file,
            overrides=args.overrides,
            cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial,
            max_concurrent=args.max_concurrent,
        )
        if tracker is not None:
            track_finished_run(tracker, run_dir)
    else:
        from scalesearch.search.optuna_backend import run_optuna
        from scalesearch.tracking import NO_TRACKING

        run_optuna(
            exp,
            run_dir,
            storage_url=args.storage,
            trials=args.trials,
            source=str(Path(args.file)),
            overrides=args.overrides,
            tracker=tracker or NO_TRACKING,
        )


def results_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory written by `scalesearch run`")
    p.add_argument(
        "--storage",
        help="the run's storage URL with its password (run.json keeps storage URLs without passwords)",
    )
    format_arg(p, ("table", "csv", "json"))


def cmd_results(args: argparse.Namespace) -> int:
    from scalesearch.analysis.results import json_rows, load_results, load_run_meta

    meta = load_run_meta(args.run_dir)
    df = load_results(args.run_dir, storage=_storage(args.storage, meta))
    rows = json_rows(df)
    if args.format == "json":
        objs = []
        for r in rows:
            obj = {k: v for k, v in r.items() if k not in ("accuracy",)}
            obj["accuracy"] = r.get("accuracy")
            objs.append(obj)
        print(to_json(objs))
        return 0
    if args.format == "csv":
        out("csv", rows, list(df.columns))
        return 0
    print(
        f"run {meta['name']} ({meta['backend']}), family {meta['family']}, budget {meta['budget'] or '(none)'}; "
        f"FLOPs: fvcore convention (1 multiply-add = 1 flop)"
    )
    shown = []
    for r in rows:
        shown.append(
            {
                "stage": r["stage"],
                "#": r["number"],
                "state": r["state"],
                "values": compact(r["values"]),
                "params": r["params"],
                "flops": r["flops"],
                "accuracy": r["accuracy"],
                "verdict": r["verdict"] if not r["violations"] else f"{r['verdict']}: {r['violations']}",
                "s": r["duration_s"],
            }
        )
    print(table(shown))
    summary = _summary(meta, df)
    if summary:
        print("\n" + summary)
    return 0


def _storage(url: str | None, meta: dict) -> str | None:
    """``--storage`` for reading a run: the URL run.json names, password included."""
    from scalesearch.search.storage import check_url, masked

    if url is None:
        return None
    check_url(url)
    if masked(url) != masked(meta["storage"]):
        raise UsageError(f"--storage {masked(url)}: this run's trials are in {masked(meta['storage'])}")
    return url


def _summary(meta: dict, df) -> str | None:
    """The experiment's own summary, when its file is still where the run found it."""
    from scalesearch.experiment import apply_overrides, load_experiment

    source = meta.get("experiment_file")
    if not source or not Path(source).exists() or df.empty:
        return None
    exp = apply_overrides(load_experiment(source), meta.get("overrides") or [])
    return exp.summarize(df, exp) if exp.summarize else None
