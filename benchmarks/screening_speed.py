"""Screening speed: today's point-by-point path beside the bulk path, on the same points.

    python benchmarks/screening_speed.py [--samples 200000] [--slow-samples 3000] [--family F ...]

Today's path draws one point with ``space.sample``, costs it with ``cost_of`` (a full Tally walk
with the breakdown by layer type) and checks the budget. The bulk path (``screen``) draws the same
points from the same seed, validates each distinct draw once, keeps counts only, and costs each
structure once over its whole resolution domain. The first ``--slow-samples`` points are screened
both ways and their counts and verdicts compared; the bulk path is then timed on ``--samples``.

Target (issue 14, item 5): a million points of a family in about a minute on 2 cores, i.e.
>= 16,000 points/s end to end for EfficientNet (today's path did about 2,900 on an idle machine).
The machine may be loaded: compare the ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import time

from scalesearch.family import Family
from scalesearch.formatting import table
from scalesearch.registry import get_family
from scalesearch.verdict.budget import Budget, parse_budget
from scalesearch.verdict.screen import (
    Screened,
    ScreenResult,
    _assess_one,
    _sort_metric,
    screen,
    screened_points,
)

FAMILIES = ("efficientnet", "mbconv", "mobilenet_v3", "resnet")


def todays_path(
    family: Family, budget: Budget, samples: int, seed: int
) -> tuple[ScreenResult, list[Screened]]:
    """The point-by-point screen (``space.sample`` + ``cost_of`` + budget), timed, with its points."""
    result = ScreenResult(family.name, "analytic", budget.text, 0, 0, 0.0, _sort_metric(budget))
    domains = family.space.search_domains()
    rng = random.Random(seed)
    kept = []
    start = time.perf_counter()
    for _ in range(samples):
        s = _assess_one(family, family.space.sample(rng, domains), budget, "analytic")
        result.add(s)
        kept.append(s)
    result.seconds = time.perf_counter() - start
    return result, kept


def same(slow: list[Screened], fast: list[Screened]) -> bool:
    def row(s: Screened) -> tuple[object, ...]:
        r = s.record
        return (r.point, r.params, r.flops, r.activations, s.feasible, s.violations)

    return len(slow) == len(fast) and all(row(a) == row(b) for a, b in zip(slow, fast, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200_000, help="points screened by the bulk path")
    parser.add_argument("--slow-samples", type=int, default=3000, help="points screened both ways")
    parser.add_argument("--family", action="append", help=f"default: {', '.join(FAMILIES)}")
    parser.add_argument("--budget", default="flops<=400M")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget = parse_budget(args.budget)
    rows = []
    for name in args.family or FAMILIES:
        family = get_family(name)
        slow, slow_points = todays_path(family, budget, args.slow_samples, args.seed)
        start = time.perf_counter()
        fast_points = list(screened_points(family, budget, args.slow_samples, seed=args.seed))
        small = args.slow_samples / (time.perf_counter() - start)
        fast = screen(family, budget, args.samples, seed=args.seed)
        n, m = f"{args.slow_samples:,}", f"{args.samples:,}"
        rows.append(
            {
                "family": name,
                f"today pts/s ({n})": round(slow.points_per_second),
                f"bulk pts/s ({n})": round(small),
                f"ratio ({n})": f"{small / slow.points_per_second:.1f}x",
                f"bulk pts/s ({m})": round(fast.points_per_second),
                f"ratio ({m})": f"{fast.points_per_second / slow.points_per_second:.1f}x",
                "1M points (s)": round(1e6 / fast.points_per_second),
                "same counts": "yes" if same(slow_points, fast_points) else "NO",
            }
        )
        print(f"{name}: done", flush=True)
    print(
        f"screening {args.budget}, seed {args.seed}, one process (the machine may be loaded: read the ratios)"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
