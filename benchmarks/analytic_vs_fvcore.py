"""Analytic cost path vs fvcore on the EfficientNet space at native resolutions.

Run by hand: ``python benchmarks/analytic_vs_fvcore.py [--points 16]``. Measures both paths
side by side in one run on the same points (B0..B7 and random compound-scaled points, each at its
own resolution 224..600 px) and prints points per second, the speed ratio, and whether every
params/FLOPs/activations count is identical. Target: at least 1000x, identical counts.
"""

from __future__ import annotations

import argparse
import random
import time

from scalesearch.cost.fvcore_count import count
from scalesearch.registry import get_family
from searchspaces.efficientnet import compound_scaling


def points(n: int, seed: int = 0) -> list[dict]:
    fam = get_family("efficientnet")
    pts = [fam.point(c.values) for c in fam.canonical]
    rng = random.Random(seed)
    while len(pts) < n:
        phi = rng.uniform(0.0, 7.0)
        scaled = compound_scaling(phi, rng.uniform(1.1, 1.3), rng.uniform(1.05, 1.15), rng.uniform(1.1, 1.2))
        if scaled["resolution"] <= 600:
            pts.append(fam.point(scaled))
    return pts[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16, help="points to cost with fvcore (>= 8)")
    ap.add_argument("--analytic-repeats", type=int, default=200, help="passes of the analytic path")
    args = ap.parse_args()
    fam = get_family("efficientnet")
    pts = points(args.points)

    start = time.perf_counter()
    exact = []
    for p in pts:
        c = count(fam.build(p), p["resolution"])
        exact.append((c.params, c.flops, c.activations))
    fv_s = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(args.analytic_repeats):
        fast = [fam.complexity(p) for p in pts]
    an_s = time.perf_counter() - start
    identical = all((f.params, f.flops, f.activations) == e for f, e in zip(fast, exact, strict=True))

    fv_rate = len(pts) / fv_s
    an_rate = len(pts) * args.analytic_repeats / an_s
    res = sorted({p["resolution"] for p in pts})
    print(f"EfficientNet space, {len(pts)} points, resolutions {res[0]}..{res[-1]} px")
    print(f"fvcore (build + trace):  {fv_rate:10.2f} points/s  ({fv_s:.1f} s for {len(pts)} points)")
    print(
        f"analytic (Tally):        {an_rate:10.1f} points/s  ({an_s:.2f} s for {len(pts) * args.analytic_repeats})"
    )
    print(f"speed-up analytic/fvcore: {an_rate / fv_rate:,.0f}x (target >= 1000x)")
    print(f"counts identical on every point: {identical}")


if __name__ == "__main__":
    main()
