"""A designed calibration sample: per family, points from small to large that cover its layer types.

Candidates come from the family's test domains (small networks) and its search domains at small
input resolutions (larger ones); those above a FLOP cap (the time a point may take) are dropped.
The sample takes candidates at evenly spaced quantiles of log FLOPs, then, for any layer-type
group the candidates have and the sample lacks, the candidate where that group weighs most.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from scalesearch.errors import PointError
from scalesearch.family import Family
from scalesearch.latency.features import GROUPS, PointFeatures, point_features
from scalesearch.space import Point, point_key

RESOLUTIONS = (32, 48, 64, 96, 128)
"""Input resolutions tried for search-domain candidates (timing stays short on a CPU)."""


@dataclass(frozen=True)
class SamplePoint:
    family: str
    point: Point
    features: PointFeatures


def _search_candidate(family: Family, rng: random.Random) -> Point:
    domains = family.space.search_domains()
    names = family.space.names
    if "resolution" in names:
        for r in rng.sample(RESOLUTIONS, len(RESOLUTIONS)):
            fixed = {"resolution": r}
            try:
                return family.space.sample(
                    rng, {k: d for k, d in domains.items() if k != "resolution"}, fixed
                )
            except PointError:
                continue
    return family.space.sample(rng, domains)


def candidates(
    family: Family, rng: random.Random, count: int, max_flops: float, batch_size: int = 1
) -> list[SamplePoint]:
    """Up to ``count`` distinct valid points with at most ``max_flops`` FLOPs (batch 1)."""
    found: dict[str, SamplePoint] = {}
    for i in range(4 * count):
        if len(found) >= count:
            break
        try:
            point = family.small_point(rng) if i % 2 == 0 else _search_candidate(family, rng)
            feats = point_features(family, point, batch_size)
        except PointError:
            continue
        if feats.counts.flops <= max_flops:
            found.setdefault(point_key(point), SamplePoint(family.name, point, feats))
    return sorted(found.values(), key=lambda s: s.features.counts.flops)


def _group_flops(s: SamplePoint) -> dict[str, float]:
    named = s.features.named()
    return {g: named[f"flops_{g}"] for g in GROUPS}


def design(pool: list[SamplePoint], n: int) -> list[SamplePoint]:
    """``n`` points of ``pool`` (sorted by FLOPs) spread evenly over log FLOPs, plus coverage of
    every layer-type group the pool holds; returned small to large."""
    if len(pool) <= n:
        return list(pool)
    logs = [math.log(max(s.features.counts.flops, 1)) for s in pool]
    chosen: dict[int, SamplePoint] = {}
    for k in range(n):
        target = logs[0] + (logs[-1] - logs[0]) * k / max(n - 1, 1)
        best = min((i for i in range(len(pool)) if i not in chosen), key=lambda i: abs(logs[i] - target))
        chosen[best] = pool[best]
    for g in GROUPS:
        if any(_group_flops(s)[g] > 0 for s in chosen.values()):
            continue
        share = [(_group_flops(s)[g] / max(s.features.counts.flops, 1), i) for i, s in enumerate(pool)]
        top, i = max(share)
        if top > 0:
            chosen[i] = pool[i]
    return [chosen[i] for i in sorted(chosen)]


def spread_order(points: list[SamplePoint]) -> list[SamplePoint]:
    """Ends first, then midpoints (bisection order), so a sample cut short still spans the range."""
    if len(points) <= 2:
        return list(points)
    order, seen = [0, len(points) - 1], {0, len(points) - 1}
    spans = [(0, len(points) - 1)]
    while spans:
        nxt = []
        for lo, hi in spans:
            mid = (lo + hi) // 2
            if mid not in seen:
                seen.add(mid)
                order.append(mid)
            if mid - lo > 1:
                nxt.append((lo, mid))
            if hi - mid > 1:
                nxt.append((mid, hi))
        spans = nxt
    return [points[i] for i in order]


def sample_family(
    family: Family, n: int, max_flops: float, seed: int = 0, batch_size: int = 1
) -> list[SamplePoint]:
    """The designed sample of ``family``, in measuring order (:func:`spread_order`)."""
    rng = random.Random(f"{seed}:{family.name}")
    return spread_order(design(candidates(family, rng, 6 * n, max_flops, batch_size), n))
