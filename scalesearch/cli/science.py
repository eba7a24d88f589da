"""Design-space science over finished runs: ``edf`` (error EDFs, complexity EDFs) and ``fit``
(scaling laws extrapolated to a target). Every check runs before any file is written."""

from __future__ import annotations

import argparse
from typing import Any

from scalesearch.cli.common import format_arg, out
from scalesearch.errors import UsageError
from scalesearch.formatting import format_metric, to_json


def _frames(run_dirs: list[str]) -> Any:
    """The runs' results tables as one table (its ``run`` column names each run)."""
    import pandas as pd

    from scalesearch.analysis.results import load_results, load_run_meta

    frames = []
    for d in run_dirs:
        meta = load_run_meta(d)
        df = load_results(d)
        df["run"] = meta["name"] if sum(x == d for x in run_dirs) == 1 else d
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    if len({*table["run"]}) < len(run_dirs):  # two runs of the same name: tell them apart by path
        table["run"] = [d for d, f in zip(run_dirs, frames, strict=True) for _ in range(len(f))]
    return table


def edf_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="trained runs (error EDFs)")
    p.add_argument(
        "--by",
        help="population column: run, family, stage or a parameter (default: run "
        "when several runs are given, else family)",
    )
    p.add_argument("--complexity", default="flops", help="flops, params or activations")
    p.add_argument("--no-reweight", action="store_true", help="plain EDFs, no complexity matching")
    p.add_argument("--bins", type=int, default=8, help="log-complexity bins of the reweighting")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the bands (0: none)")
    p.add_argument(
        "--family",
        action="append",
        default=[],
        help="complexity EDF of this family's space "
        "from screening samples, no training (repeatable; instead of RUN_DIRs)",
    )
    p.add_argument("--samples", type=int, default=1000, help="points screened per --family")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling and the bootstrap")
    p.add_argument("--out", help="figure: .png, .svg or .html (plotly)")
    format_arg(p)


def _check_counts(args: argparse.Namespace) -> None:
    """Counts that must be whole numbers of at least 0 (bootstrap) or 1 (bins, samples)."""
    for name, low in (("bootstrap", 0), ("bins", 1), ("samples", 1)):
        value = getattr(args, name, low)
        if value < low:
            raise UsageError(f"--{name} must be >= {low}, but got {name}={value}")


def _edf_result(args: argparse.Namespace) -> Any:
    from scalesearch.analysis.edf import COMPLEXITIES, edf_result, screened_complexity, trained_populations

    if args.complexity not in COMPLEXITIES:
        raise UsageError(f"unknown complexity column {args.complexity!r}; valid: {', '.join(COMPLEXITIES)}")
    if args.family and args.run_dirs:
        raise UsageError("give RUN_DIRs (error EDFs) or --family (complexity EDFs), not both")
    if args.family:
        pops = {}
        for name in args.family:
            values = screened_complexity(name, args.samples, args.complexity, args.seed)
            pops[name] = (values, values)
        return edf_result(
            pops, args.complexity, args.complexity, False, n_boot=args.bootstrap, seed=args.seed
        )
    if not args.run_dirs:
        raise UsageError("give at least one RUN_DIR, or --family F for a complexity EDF")
    by = args.by or ("run" if len(args.run_dirs) > 1 else "family")
    pops = trained_populations(_frames(args.run_dirs), by, args.complexity)
    return edf_result(
        pops, "error", args.complexity, not args.no_reweight, args.bins, args.bootstrap, seed=args.seed
    )


def cmd_edf(args: argparse.Namespace) -> int:
    from scalesearch.analysis import science_plots

    _check_counts(args)
    if args.out:
        science_plots.check_out(args.out)
    result = _edf_result(args)
    rows = result.rows()
    if args.format == "json":
        print(
            to_json(
                {
                    "quantity": result.quantity,
                    "complexity": result.complexity,
                    "reweighted": result.reweighted,
                    "populations": rows,
                    "ks": result.ks,
                    "notes": result.notes,
                }
            )
        )
    else:
        shown = [{k: _show(result.quantity, k, v) for k, v in r.items()} for r in rows]
        out("table", shown)
        for r in result.ks:
            print(
                f"KS({r['a']}, {r['b']}) = {r['ks']:.4f}"
                + (" (complexity-matched)" if result.reweighted else "")
            )
        for note in result.notes:
            print(f"note: {note}")
    if args.out:
        path = science_plots.save(
            args.out, lambda: science_plots.edf_figure(result), lambda: science_plots.edf_plotly(result)
        )
        print(f"wrote {path}")
    return 0


def _show(quantity: str, key: str, value: Any) -> Any:
    if key in ("mean", "p10", "median", "p90") and isinstance(value, float):
        return f"{value:.2f}%" if quantity == "error" else format_metric(quantity, value)
    if key == "ks_vs_first" and isinstance(value, float):
        return f"{value:.4f}"
    return value


def fit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--complexity", default="flops", help="flops, params, activations or latency_ms")
    p.add_argument(
        "--target", action="append", default=[], help="extrapolate to this budget, e.g. flops=8G (repeatable)"
    )
    p.add_argument("--by", default="family", help="one fit per: family, stage or run")
    p.add_argument(
        "--on",
        default="front",
        choices=["front", "all"],
        help="fit each family's Pareto front of error vs complexity, or every trained point",
    )
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the intervals")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--out", help="figure: .png, .svg or .html (plotly)")
    format_arg(p)


def parse_target(text: str, complexity: str) -> float:
    """``flops=8G`` or ``8G`` as a number of the fitted complexity column."""
    from scalesearch.verdict.budget import parse_number

    metric, _, value = text.rpartition("=")
    if metric and metric.strip() != complexity:
        raise UsageError(f"--target {text}: the fit is on {complexity}, so write {complexity}=VALUE")
    try:
        number = parse_number(value)
    except ValueError:
        raise UsageError(f"--target {text}: {value!r} is not a number such as 8G or 2.5e9") from None
    if number <= 0:
        raise UsageError(f"--target must be > 0, but got {text}")
    return number


def cmd_fit(args: argparse.Namespace) -> int:
    from scalesearch.analysis import science_plots
    from scalesearch.analysis.fits import FIT_COLUMNS, fit_run, run_points

    if args.complexity not in FIT_COLUMNS:
        raise UsageError(f"unknown complexity column {args.complexity!r}; valid: {', '.join(FIT_COLUMNS)}")
    _check_counts(args)
    if args.out:
        science_plots.check_out(args.out)
    targets = [parse_target(t, args.complexity) for t in args.target]
    points = run_points(_frames(args.run_dirs), args.complexity, args.by, args.on)
    fits = fit_run(points, args.complexity, targets, args.bootstrap, args.seed)
    if args.format == "json":
        fits_json = [{**f.row(), "predictions": f.predictions} for f in fits]
        print(to_json({"complexity": args.complexity, "on": args.on, "fits": fits_json}))
    else:
        rows = []
        for f in fits:
            for p in f.predictions or [{}]:
                shown = {k: v for k, v in p.items() if k != "target"}
                if p:
                    shown = {"target": format_metric(args.complexity, p["target"]), **shown}
                row = f.row()
                status = row.pop("status")
                rows.append({**row, **shown, "status": status})
        out("table", rows, list(dict.fromkeys(k for r in rows for k in r)))
    if args.out:
        path = science_plots.save(
            args.out,
            lambda: science_plots.fit_figure(fits, targets),
            lambda: science_plots.fit_plotly(fits, targets),
        )
        print(f"wrote {path}")
    return 0
