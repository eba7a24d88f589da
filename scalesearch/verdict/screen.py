"""Screening a space before any training: sample points, cost them, check the budget.

Also the fail-fast feasibility check that every search runs first, and budget solving
(one free parameter matched to a target cost).
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalesearch.cost.record import METRICS, CostRecord, cost_of
from scalesearch.errors import BudgetError, PointError
from scalesearch.family import Family
from scalesearch.space import Choice, Domain, Float, Int, Point, point_key
from scalesearch.verdict.budget import Budget, format_number

if TYPE_CHECKING:
    from scalesearch.latency.profile import Profile


@dataclass
class Screened:
    record: CostRecord
    feasible: bool
    violations: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        r = self.record
        return {
            "point": r.point,
            "params": r.params,
            "flops": r.flops,
            "activations": r.activations,
            "latency_ms": r.latency_ms,
            "feasible": self.feasible,
            "violations": list(self.violations),
            **({"latency": r.latency} if r.latency else {}),
        }


@dataclass
class ScreenResult:
    """Running tallies of a screen: counts and the extreme points, never every point (memory stays flat)."""

    family: str
    method: str
    budget: str
    screened: int
    feasible: int
    seconds: float
    sort_metric: str
    cheapest: Screened | None = None
    dearest: Screened | None = None
    cheapest_feasible: Screened | None = None

    @property
    def points_per_second(self) -> float:
        return self.screened / self.seconds if self.seconds > 0 else math.inf

    def add(self, s: Screened) -> None:
        """Count one screened point; keep it only if it is a new extreme (first one wins ties)."""
        cost = getattr(s.record, self.sort_metric)
        self.screened += 1
        if self.cheapest is None or cost < getattr(self.cheapest.record, self.sort_metric):
            self.cheapest = s
        if self.dearest is None or cost >= getattr(self.dearest.record, self.sort_metric):
            self.dearest = s
        if s.feasible:
            self.feasible += 1
            if self.cheapest_feasible is None or cost < getattr(
                self.cheapest_feasible.record, self.sort_metric
            ):
                self.cheapest_feasible = s

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "method": self.method,
            "budget": self.budget,
            "screened": self.screened,
            "feasible": self.feasible,
            "seconds": round(self.seconds, 4),
            "points_per_second": round(self.points_per_second, 1),
            "sort_metric": self.sort_metric,
            "cheapest": self.cheapest and self.cheapest.summary(),
            "dearest": self.dearest and self.dearest.summary(),
            "cheapest_feasible": self.cheapest_feasible and self.cheapest_feasible.summary(),
        }


def _sort_metric(budget: Budget) -> str:
    for b in budget.bounds:
        if b.metric != "latency_ms":
            return b.metric
    return "flops"


def _assess_one(
    family: Family, point: Point, budget: Budget, method: str, profile: Profile | None = None
) -> Screened:
    if profile is not None:  # latency_ms predicted by a calibrated device profile
        from scalesearch.latency.predict import explain, predicted_record

        rec, prediction = predicted_record(family, point, method, profile)
        verdict = budget.check({m: getattr(rec, m) for m in METRICS})
        return Screened(rec, verdict.feasible, explain(verdict.violations, prediction))
    rec = cost_of(family, point, method)
    verdict = budget.check({m: getattr(rec, m) for m in METRICS})
    return Screened(rec, verdict.feasible, verdict.violations)


def _assess(family: Family, points: list[Point], budget: Budget, method: str) -> list[Screened]:
    return [_assess_one(family, p, budget, method) for p in points]


def screened_points(
    family: Family,
    budget: Budget,
    samples: int,
    fixed: Mapping[str, Any] | None = None,
    domains: Mapping[str, Domain] | None = None,
    method: str = "analytic",
    seed: int = 0,
    latency_profile: Profile | None = None,
) -> Iterator[Screened]:
    """``samples`` valid points drawn one at a time (default search domains of the unfixed parameters), costed
    (``latency_ms`` predicted by ``latency_profile`` where one is given).

    Analytic counts without a profile take the bulk path (:mod:`scalesearch.verdict.bulk`): the same
    points from the same seed, the same counts, each distinct draw validated and costed once.
    """
    if samples < 1:
        raise PointError(f"--samples must be >= 1, but got samples={samples}")
    if "latency_ms" in budget.metrics and latency_profile is None:
        raise BudgetError(
            "screening counts params, flops and activations; a latency bound needs a measured run "
            "or a calibrated device profile (--latency-profile NAME; see scalesearch latency calibrate)"
        )
    domains = dict(domains if domains is not None else family.space.search_domains(fixed))
    if method == "analytic" and latency_profile is None:  # the fast path: same points, same counts
        from scalesearch.verdict.bulk import screened_counts

        for point, c, verdict in screened_counts(family, budget, samples, domains, fixed, seed):
            rec = CostRecord(
                family.name, point, point["resolution"], method, c.params, c.flops, c.activations
            )
            yield Screened(rec, verdict.feasible, verdict.violations)
        return
    rng = random.Random(seed)
    for _ in range(samples):
        yield _assess_one(family, family.space.sample(rng, domains, fixed), budget, method, latency_profile)


def screen(
    family: Family,
    budget: Budget,
    samples: int,
    fixed: Mapping[str, Any] | None = None,
    domains: Mapping[str, Domain] | None = None,
    method: str = "analytic",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    latency_profile: Profile | None = None,
) -> ScreenResult:
    """Screen ``samples`` points (see :func:`screened_points`) keeping running tallies only.

    ``progress(done, total)`` is called after each point.
    """
    result = ScreenResult(family.name, method, budget.text, 0, 0, 0.0, _sort_metric(budget))
    start = time.perf_counter()
    for s in screened_points(family, budget, samples, fixed, domains, method, seed, latency_profile):
        result.add(s)
        if progress is not None:
            progress(result.screened, samples)
    result.seconds = time.perf_counter() - start
    return result


def _corner_values(domain: Domain) -> list[Any]:
    if isinstance(domain, Choice):
        return list(domain.choices)
    if isinstance(domain, (Int, Float)):
        return [domain.low, domain.high] if domain.low != domain.high else [domain.low]
    return []


def ensure_feasible(
    family: Family,
    budget: Budget,
    fixed: Mapping[str, Any] | None = None,
    domains: Mapping[str, Domain] | None = None,
    method: str = "analytic",
    samples: int = 300,
    seed: int = 0,
    max_corners: int = 512,
    points: Sequence[Point] | None = None,
    where: str | None = None,
) -> Screened | None:
    """Fail fast when no point of the space can meet ``budget`` (the one feasibility check: the
    ``screen`` command and every search run use it).

    Examines ``points`` when given (a run's stage space, its derive applied), else the corners
    of the search domains (where the extreme costs of these monotone families lie) and
    ``samples`` random points; returns the first feasible point, or raises BudgetError naming
    the cheapest cost the space reached.
    """
    if not budget or budget.metrics <= {"latency_ms"}:
        return None
    budget = Budget(tuple(b for b in budget.bounds if b.metric != "latency_ms"))
    if points is None:
        points = _domain_points(family, fixed, domains, samples, seed, max_corners)
    seen: dict[str, Point] = {point_key(p): p for p in points}
    if not seen:
        seen = {"": family.point(fixed)}
    assessed = []
    for s in _assess_each(family, seen.values(), budget, method):
        if s.feasible:
            return s
        assessed.append(s)
    metric = _sort_metric(budget)
    best = min(assessed, key=lambda s: len(s.violations) * 1e30 + getattr(s.record, metric))
    costs = ", ".join(
        f"{m}={format_number(getattr(best.record, m))}" for m in ("params", "flops", "activations")
    )
    raise BudgetError(
        f"no point of the {where or family.name + ' space'} can meet the budget {budget.text}: the cheapest of "
        f"{len(assessed)} points examined (domain corners included) has {costs} "
        f"({best.violations[0]}) at {best.record.point}"
    )


def _domain_points(
    family: Family,
    fixed: Mapping[str, Any] | None,
    domains: Mapping[str, Domain] | None,
    samples: int,
    seed: int,
    max_corners: int,
) -> list[Point]:
    """The corners of the search domains (valid ones) and ``samples`` random points."""
    domains = dict(domains if domains is not None else family.space.search_domains(fixed))
    names = list(domains)
    corners = []
    for combo in itertools.islice(
        itertools.product(*(_corner_values(domains[n]) for n in names)), max_corners
    ):
        values = {**dict(fixed or {}), **dict(zip(names, combo, strict=True))}
        if family.space.is_valid(values):
            corners.append(family.point(values))
    rng = random.Random(seed)
    return corners + ([family.space.sample(rng, domains, fixed) for _ in range(samples)] if domains else [])


def _assess_each(family: Family, points: Iterable[Point], budget: Budget, method: str) -> Iterator[Screened]:
    for p in points:
        yield _assess(family, [p], budget, method)[0]


@dataclass
class Solution:
    free: str
    value: Any
    metric: str
    target: float
    achieved: float
    point: Point
    examined: int

    @property
    def relative_error(self) -> float:
        return (self.achieved - self.target) / self.target if self.target else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "free": self.free,
            "value": self.value,
            "metric": self.metric,
            "target": _count(self.target),
            "achieved": _count(self.achieved),
            "relative_error": round(self.relative_error, 6),
            "point": self.point,
            "examined": self.examined,
        }


def _count(value: float) -> float | int:
    """Counts are integers in JSON (``25557032``, not ``25557032.0``)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def solve(
    family: Family,
    fixed: Mapping[str, Any],
    free: str,
    metric: str,
    target: float,
    method: str = "analytic",
    max_enumerate: int = 4096,
    latency_profile: Profile | None = None,
) -> Solution:
    """The value of ``free`` (others fixed) whose ``metric`` is closest to ``target``.

    Finite domains up to ``max_enumerate`` values are enumerated; larger ones are
    bisected, which assumes the cost grows monotonically with the free parameter.
    ``latency_ms`` is matched as predicted by ``latency_profile``.
    """
    param = family.space.param(free)
    if free in fixed:
        raise PointError(f"{free} cannot be both fixed ({free}={fixed[free]}) and free")
    if metric not in ("params", "flops", "activations") and not (metric == "latency_ms" and latency_profile):
        raise BudgetError(
            "solve matches params, flops or activations (latency_ms with a latency profile), "
            f"but got metric={metric}"
        )
    domain = param.domain

    def cost(value: Any) -> float | None:
        try:
            if metric == "latency_ms" and latency_profile is not None:
                return latency_profile.predict(family, {**fixed, free: value}).ms
            return float(getattr(cost_of(family, {**fixed, free: value}, method), metric))
        except PointError:
            return None

    if isinstance(domain, (Choice, Int)) or (isinstance(domain, Float) and domain.step):
        values = domain.values() if domain.size <= max_enumerate else None
    elif isinstance(domain, Float):
        values = None
    else:
        raise PointError(f"{free} ({domain.describe()}) cannot be solved for; choose a numeric parameter")
    examined = 0
    if values is not None:
        best: tuple[float, Any, float] | None = None
        for v in values:
            c = cost(v)
            examined += 1
            if c is not None and (best is None or abs(c - target) < best[0]):
                best = (abs(c - target), v, c)
        if best is None:
            raise PointError(f"no value of {free} gives a valid {family.name} point with {dict(fixed)}")
        _, value, achieved = best
    else:
        assert not isinstance(domain, Choice)  # choices are enumerated above
        lo, hi = domain.low, domain.high
        for _ in range(64):
            mid = (lo + hi) / 2 if isinstance(domain, Float) else (lo + hi) // 2
            c = cost(mid)
            examined += 1
            if c is None:
                raise PointError(f"{free}={mid} gives no valid {family.name} point; narrow its domain")
            if c < target:
                lo = mid if isinstance(domain, Float) else mid + 1
            else:
                hi = mid
            if hi - lo <= (1e-9 * max(1.0, abs(hi)) if isinstance(domain, Float) else 0):
                break
        candidates = (
            [v for v in {lo, hi, lo - 1, hi + 1} if domain.low <= v <= domain.high]
            if isinstance(domain, Int)
            else [lo, hi]
        )
        scored = [(abs(c - target), v, c) for v in candidates if (c := cost(v)) is not None]
        examined += len(candidates)
        _, value, achieved = min(scored)
    return Solution(free, value, metric, target, achieved, family.point({**fixed, free: value}), examined)
