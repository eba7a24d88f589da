"""Screening a space before any training: sample points, cost them, check the budget.

Also the fail-fast feasibility check that every search runs first, and budget solving
(one free parameter matched to a target cost).
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scalesearch.cost.record import METRICS, CostRecord, cost_of
from scalesearch.errors import BudgetError, PointError
from scalesearch.family import Family
from scalesearch.space import Choice, Domain, Float, Int, Point, point_key
from scalesearch.verdict.budget import Budget, format_number


@dataclass
class Screened:
    record: CostRecord
    feasible: bool
    violations: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        r = self.record
        return {"point": r.point, "params": r.params, "flops": r.flops, "activations": r.activations,
                "latency_ms": r.latency_ms, "feasible": self.feasible, "violations": list(self.violations)}


@dataclass
class ScreenResult:
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
    points: list[Screened] = field(default_factory=list, repr=False)

    @property
    def points_per_second(self) -> float:
        return self.screened / self.seconds if self.seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family, "method": self.method, "budget": self.budget,
            "screened": self.screened, "feasible": self.feasible, "seconds": round(self.seconds, 4),
            "points_per_second": round(self.points_per_second, 1), "sort_metric": self.sort_metric,
            "cheapest": self.cheapest and self.cheapest.summary(),
            "dearest": self.dearest and self.dearest.summary(),
            "cheapest_feasible": self.cheapest_feasible and self.cheapest_feasible.summary(),
        }


def _sort_metric(budget: Budget) -> str:
    for b in budget.bounds:
        if b.metric != "latency_ms":
            return b.metric
    return "flops"


def _assess(family: Family, points: list[Point], budget: Budget, method: str) -> list[Screened]:
    out = []
    for p in points:
        rec = cost_of(family, p, method)
        verdict = budget.check({m: getattr(rec, m) for m in METRICS})
        out.append(Screened(rec, verdict.feasible, verdict.violations))
    return out


def screen(
    family: Family,
    budget: Budget,
    samples: int,
    fixed: Mapping[str, Any] | None = None,
    domains: Mapping[str, Domain] | None = None,
    method: str = "analytic",
    seed: int = 0,
) -> ScreenResult:
    """Sample ``samples`` valid points (default search domains of the unfixed parameters) and cost them."""
    if samples < 1:
        raise PointError(f"--samples must be >= 1, but got samples={samples}")
    if "latency_ms" in budget.metrics:
        raise BudgetError("screening counts params, flops and activations; a latency bound needs a measured run")
    domains = dict(domains if domains is not None else family.space.search_domains(fixed))
    rng = random.Random(seed)
    start = time.perf_counter()
    points = [family.space.sample(rng, domains, fixed) for _ in range(samples)]
    assessed = _assess(family, points, budget, method)
    seconds = time.perf_counter() - start
    metric = _sort_metric(budget)
    ranked = sorted(assessed, key=lambda s: getattr(s.record, metric))
    feasible = [s for s in ranked if s.feasible]
    return ScreenResult(
        family.name, method, budget.text, len(assessed), len(feasible), seconds, metric,
        ranked[0], ranked[-1], feasible[0] if feasible else None, assessed,
    )


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
) -> Screened | None:
    """Fail fast when no point of the space can meet ``budget``.

    Examines the corners of the search domains (where the extreme costs of these
    monotone families lie) and ``samples`` random points; returns a feasible point,
    or raises BudgetError naming the cheapest cost the space reached.
    """
    if not budget or budget.metrics <= {"latency_ms"}:
        return None
    domains = dict(domains if domains is not None else family.space.search_domains(fixed))
    budget = Budget(tuple(b for b in budget.bounds if b.metric != "latency_ms"))
    names = list(domains)
    corners = []
    for combo in itertools.islice(itertools.product(*(_corner_values(domains[n]) for n in names)), max_corners):
        values = {**dict(fixed or {}), **dict(zip(names, combo, strict=True))}
        if family.space.is_valid(values):
            corners.append(family.point(values))
    rng = random.Random(seed)
    randoms = [family.space.sample(rng, domains, fixed) for _ in range(samples)] if domains else []
    seen: dict[str, Point] = {point_key(p): p for p in corners + randoms}
    if not seen:
        seen = {"": family.point(fixed)}
    assessed = _assess(family, list(seen.values()), budget, method)
    for s in assessed:
        if s.feasible:
            return s
    metric = _sort_metric(budget)
    best = min(assessed, key=lambda s: len(s.violations) * 1e30 + getattr(s.record, metric))
    costs = ", ".join(f"{m}={format_number(getattr(best.record, m))}" for m in ("params", "flops", "activations"))
    raise BudgetError(
        f"no point of the {family.name} space can meet the budget {budget.text}: the cheapest of "
        f"{len(assessed)} points examined (domain corners included) has {costs} "
        f"({best.violations[0]}) at {best.record.point}"
    )


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
        return {"free": self.free, "value": self.value, "metric": self.metric, "target": self.target,
                "achieved": self.achieved, "relative_error": round(self.relative_error, 6),
                "point": self.point, "examined": self.examined}


def solve(
    family: Family,
    fixed: Mapping[str, Any],
    free: str,
    metric: str,
    target: float,
    method: str = "analytic",
    max_enumerate: int = 4096,
) -> Solution:
    """The value of ``free`` (others fixed) whose ``metric`` is closest to ``target``.

    Finite domains up to ``max_enumerate`` values are enumerated; larger ones are
    bisected, which assumes the cost grows monotonically with the free parameter.
    """
    param = family.space.param(free)
    if free in fixed:
        raise PointError(f"{free} cannot be both fixed ({free}={fixed[free]}) and free")
    if metric not in ("params", "flops", "activations"):
        raise BudgetError(f"solve matches params, flops or activations, but got metric={metric}")
    domain = param.domain

    def cost(value: Any) -> float | None:
        try:
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
        candidates = [v for v in {lo, hi, lo - 1, hi + 1} if domain.low <= v <= domain.high] \
            if isinstance(domain, Int) else [lo, hi]
        scored = [(abs(c - target), v, c) for v in candidates if (c := cost(v)) is not None]
        examined += len(candidates)
        _, value, achieved = min(scored)
    return Solution(free, value, metric, target, achieved, family.point({**fixed, free: value}), examined)
