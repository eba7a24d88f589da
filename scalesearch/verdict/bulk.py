"""Analytic counts of many points at once, identical to ``family.complexity`` point by point.

Screening a population (complexity EDFs, scaling fits) costs millions of points. Two things make
it fast without a line of family code changing:

- the walk keeps counts only (:func:`~scalesearch.cost.analytic.counts_only`: no tags by layer
  type, which screening never reads);
- points that differ only in ``resolution`` share one walk: the family's own ``complexity`` runs
  once with a numpy array of resolutions, every Tally method being elementwise arithmetic on the
  side of the input. A walk that branches on the resolution (``if size > 7``, ``range(size)``)
  raises on an array and falls back to one walk per point, and every shared walk is checked
  against the point-by-point walk on one of its points, so the counts are always the exact ones
  (tests/verdict/test_bulk_screen.py checks them equal on random points of every family).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from scalesearch.cost.analytic import Counts, counts_only
from scalesearch.family import Family
from scalesearch.space import Choice, Domain, Int, Point
from scalesearch.space.sampling import MEMO_SIZE, Sampler
from scalesearch.verdict.budget import Budget, Verdict

SHARED_MIN = 3
"""Points of one structure needed before their resolutions may share a walk (below it, walk each)."""

_COST_RATIO: dict[str, float] = {}
"""Per family, the time of a walk over an array of resolutions in walks of one point (measured
on each shared walk, against its check): a shared walk is worth it for more points than that."""
DEFAULT_RATIO = 4.0


def _worth_sharing(family: Family, points: int) -> bool:
    """Whether one shared walk plus its one-point check beats ``points`` walks of one point."""
    return points >= SHARED_MIN and points > _COST_RATIO.get(family.name, DEFAULT_RATIO) + 1


_UNSHAREABLE: set[str] = set()
"""Families whose walk failed to run on, or to agree over, an array of resolutions: walked per point."""


def _freeze(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


def structure_key(point: Point) -> Hashable:
    """Everything of a point but its resolution (points with equal keys build the same layers)."""
    return tuple((k, _freeze(v)) for k, v in point.items() if k != "resolution")


def _walk(family: Family, point: Point) -> Counts:
    with counts_only():
        return family.complexity_fn(point)


def _as_ints(value: Any, n: int) -> list[int] | None:
    """``n`` Python ints from a count that is an int or an integer array over the points; None for
    anything else (a float count is left to the per-point walk, which keeps its type)."""
    array = np.broadcast_to(np.asarray(value), (n,))
    return [int(v) for v in array] if array.dtype.kind in "iu" else None


def _shared_walk(family: Family, points: Sequence[Point]) -> list[Counts] | None:
    """Counts of points differing only in resolution from one walk over an array of resolutions;
    None when the family's walk cannot run on an array or disagrees with the per-point walk."""
    resolutions = [p["resolution"] for p in points]
    if not all(type(r) is int for r in resolutions):
        return None
    start = time.perf_counter()
    try:
        with np.errstate(all="raise"):
            shared = _walk(family, {**points[0], "resolution": np.array(resolutions, dtype=np.int64)})
    except Exception:  # any failure of the family's code on an array means: walk point by point
        return None
    middle = time.perf_counter()
    n = len(points)
    params, flops, activations = (_as_ints(getattr(shared, m), n) for m in ("params", "flops", "activations"))
    if params is None or flops is None or activations is None:
        return None
    counts = [Counts(*row) for row in zip(params, flops, activations, strict=True)]
    if counts[0] != _walk(family, points[0]):  # the safety net: one point per walk checked exactly
        _UNSHAREABLE.add(family.name)
        return None
    ratio = (middle - start) / max(time.perf_counter() - middle, 1e-9)
    _COST_RATIO[family.name] = 0.7 * _COST_RATIO.get(family.name, DEFAULT_RATIO) + 0.3 * ratio
    return counts


class Counter:
    """``family.complexity`` of completed points, remembering the counts of every structure by
    resolution (bounded: emptied past :data:`MEMO_SIZE` entries).

    ``resolutions``: where given, a structure seen for the first time is costed at all of them in
    the same walk (a screen whose resolution domain is small next to its sample count meets most
    of them later).
    """

    def __init__(self, family: Family, resolutions: Sequence[int] = ()) -> None:
        self.family = family
        self.resolutions = tuple(resolutions)
        self._tables: dict[Hashable, dict[int, Counts]] = {}
        self._size = 0

    def _remember(self, key: Hashable, points: Sequence[Point], counts: Sequence[Counts]) -> None:
        if self._size + len(points) > MEMO_SIZE:
            self._tables.clear()
            self._size = 0
        table = self._tables.setdefault(key, {})
        for p, c in zip(points, counts, strict=True):
            table[p["resolution"]] = c
        self._size += len(points)

    def _structure(self, key: Hashable, base: Point, wanted: Sequence[int]) -> list[Counts]:
        """The counts of ``base`` at each of the ``wanted`` resolutions, remembered (with the extra
        resolutions too on a structure's first walk)."""
        extra = () if key in self._tables else self.resolutions
        for axis in ([*wanted, *extra], wanted) if extra else (wanted,):
            todo = [{**base, "resolution": r} for r in dict.fromkeys(axis)]
            shareable = _worth_sharing(self.family, len(todo)) and self.family.name not in _UNSHAREABLE
            shared = _shared_walk(self.family, todo) if shareable else None
            if shared is not None:
                self._remember(key, todo, shared)
                return shared[: len(wanted)]
        if _worth_sharing(self.family, len(wanted)):
            _UNSHAREABLE.add(self.family.name)
        counts = [_walk(self.family, {**base, "resolution": r}) for r in wanted]
        self._remember(key, [{"resolution": r} for r in wanted], counts)
        return counts

    def counts(self, points: Sequence[Point]) -> list[Counts]:
        """The counts of each point, in order."""
        out: list[Counts | None] = [None] * len(points)
        missing: dict[Hashable, dict[int, list[int]]] = {}  # structure -> resolution -> indices
        for i, p in enumerate(points):
            if self.family.name in _UNSHAREABLE or type(p.get("resolution")) is not int:
                out[i] = _walk(self.family, p)
                continue
            key = structure_key(p)
            out[i] = self._tables.get(key, {}).get(p["resolution"])
            if out[i] is None:
                missing.setdefault(key, {}).setdefault(p["resolution"], []).append(i)
        for key, wanted in missing.items():
            base = points[next(iter(wanted.values()))[0]]
            for indices, c in zip(wanted.values(), self._structure(key, base, list(wanted)), strict=True):
                for i in indices:
                    out[i] = c
        return out  # type: ignore[return-value]


def costs_many(family: Family, points: Sequence[Point]) -> list[Counts]:
    """``family.complexity(p)`` for each completed point ``p`` (from ``family.point``), in order."""
    return Counter(family).counts(points)


def _resolution_axis(family: Family, domains: Mapping[str, Domain], samples: int) -> tuple[int, ...]:
    """The resolutions worth costing with each new structure: the whole (finite) resolution domain
    when the sample is large enough that each structure will meet enough of them to share a walk."""
    resolution = domains.get("resolution")
    if not isinstance(resolution, (Int, Choice)) or resolution.size > 4096:
        return ()
    values = resolution.values()
    structures = math.prod(d.size for name, d in domains.items() if name != "resolution")
    met = len(values) * -math.expm1(-samples / structures / len(values))  # distinct resolutions met
    if not all(type(v) is int for v in values) or not _worth_sharing(family, int(met)):
        return ()
    return tuple(values)


CHUNK = 4096
"""Points drawn before they are costed together (the unit of sharing; memory stays bounded by it)."""


def screened_counts(
    family: Family,
    budget: Budget,
    samples: int,
    domains: Mapping[str, Domain],
    fixed: Mapping[str, Any] | None,
    seed: int,
) -> Iterator[tuple[Point, Counts, Verdict]]:
    """``samples`` points drawn as :meth:`Space.sample` draws them from ``random.Random(seed)``, each
    with its analytic counts and budget verdict (params, flops, activations; no latency)."""
    sampler = Sampler(family.space, domains, fixed)
    counter = Counter(family, _resolution_axis(family, domains, samples))
    rng = random.Random(seed)
    known: dict[Hashable, tuple[Point, Counts, Verdict]] = {}
    done = 0
    while done < samples:
        keys, new = [], {}
        for _ in range(min(CHUNK, samples - done, max(64, done))):
            key, point = sampler.draw_shared(rng)
            if key not in known:
                new[key] = point
            keys.append(key)
        if len(known) + len(new) > MEMO_SIZE:
            known = {k: known[k] for k in keys if k in known}
        for (key, point), c in zip(new.items(), counter.counts(list(new.values())), strict=True):
            costs = {"params": c.params, "flops": c.flops, "activations": c.activations, "latency_ms": None}
            known[key] = (point, c, budget.check(costs))
        for key in keys:
            point, c, verdict = known[key]
            yield dict(point), c, verdict
        done += len(keys)
