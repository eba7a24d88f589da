"""``scalesearch proxies``: zero-cost proxies beside their baselines (params, FLOPs, activations).

``scalesearch proxies RUN_DIR``: how well each proxy and each baseline ranks the run's trained
networks (Spearman, Kendall, top-10 % precision), saved to RUN_DIR/proxies.json once every network
is scored (the report's "Zero-cost proxies" section). ``scalesearch proxies --family F``: a sample
of the family's points ranked, untrained, by one proxy or baseline, the top K printed.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from scalesearch.cli.common import Ticker, format_arg, out, set_arg
from scalesearch.errors import UsageError
from scalesearch.formatting import to_json
from scalesearch.proxies import BASELINES, PROXIES, SCORES


def proxies_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a run with trained points")
    p.add_argument("--proxies", default=",".join(PROXIES), help="proxies to compute, comma-separated")
    p.add_argument("--batch-size", type=int, default=64, help="images of the one batch each proxy sees")
    p.add_argument("--family", help="rank a sample of this family's points instead (no RUN_DIR)")
    p.add_argument("--samples", type=int, default=200, help="points of --family sampled")
    p.add_argument("--top", type=int, default=10, help="best points of --family printed")
    p.add_argument("--proxy", default="synflow", help=f"what ranks the --family sample: {', '.join(SCORES)}")
    p.add_argument("--seed", type=int, default=0, help="seed of the --family sample")
    set_arg(p, "evaluation field of --family (dataset, resolution, seed, data_root)")
    format_arg(p)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) and math.isfinite(value) else _finite(value)


def _check(args: argparse.Namespace) -> list[str]:
    """Every option checked before anything is loaded; returns the proxy names."""
    from scalesearch.proxies.scores import check_names

    if args.batch_size < 2:
        raise UsageError(
            f"--batch-size must be >= 2 (proxies compare images), but got --batch-size {args.batch_size}"
        )
    if (args.run_dir is None) == (args.family is None):
        raise UsageError(
            "give a RUN_DIR (proxies against its accuracies) or --family F (rank a sample), not both"
        )
    if args.family is None:
        return check_names([n.strip() for n in args.proxies.split(",") if n.strip()])
    for name in ("samples", "top"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, but got --{name} {getattr(args, name)}")
    check_names([args.proxy], SCORES)
    return [args.proxy]


def cmd_proxies(args: argparse.Namespace) -> int:
    names = _check(args)
    if args.family is not None:
        return _rank_family(args)
    from scalesearch.proxies.evaluate import evaluate_run
    from scalesearch.proxies.saved import json_safe, save_report

    ticker = Ticker("proxies: networks scored")
    try:
        report = json_safe(evaluate_run(args.run_dir, names, args.batch_size, ticker))
    finally:
        ticker.close()
    path = save_report(args.run_dir, report)  # only now: an error above leaves the old file, or none
    saved = f"wrote {path} (atomically, after every network was scored); `scalesearch report` shows it"
    if args.format == "json":
        print(to_json(report))
        print(saved, file=sys.stderr)
        return 0
    print(
        f"run {report['run']}: {report['trained']} trained networks; each proxy on one batch of "
        f"{report['batch_size']} {report['dataset']} images at each point's resolution (run: "
        f"{report['resolution']} px), untrained weights seeded by the run's seed {report['seed']}"
    )
    rows = [{k: _round(v) for k, v in r.items()} for r in report["correlations"]]
    out("table", rows, ["score", "kind", "n", "spearman", "kendall", "top10_precision"])
    print(
        f"baselines: {', '.join(BASELINES)} (FLOPs: {report['flop_convention']}); "
        "a proxy is worth its cost only where it beats them"
    )
    print(saved)
    return 0


def _rank_family(args: argparse.Namespace) -> int:
    from scalesearch.cli.train import evaluation_of
    from scalesearch.proxies.rank import family_sample, score_points, top_k
    from scalesearch.registry import get_family
    from scalesearch.train.data import load_dataset

    family = get_family(args.family)
    ev = evaluation_of({}, args.overrides)
    classes = load_dataset(ev.dataset, root=ev.data_root, resolution=ev.resolution, seed=ev.seed).num_classes
    fixed = {
        k: v for k, v in (("resolution", ev.resolution), ("num_classes", classes)) if k in family.space.names
    }
    points = family_sample(family.name, args.samples, fixed, args.seed)
    ticker = Ticker("proxies: points scored")
    try:
        scores = score_points(family.name, points, args.proxy, ev, args.batch_size, ticker)
    finally:
        ticker.close()
    rows = []
    for rank, r in enumerate(top_k(scores, args.top), 1):
        counts = family.complexity(points[r.index]).as_dict()
        rows.append({"rank": rank, args.proxy: _finite(r.score), **counts, "point": dict(points[r.index])})
    if args.format == "table":
        print(
            f"{family.name}: the {len(rows)} best of {len(points)} sampled points by {args.proxy}, untrained"
        )
    out(args.format, rows, ["rank", *dict.fromkeys([args.proxy, *BASELINES]), "point"])
    return 0
