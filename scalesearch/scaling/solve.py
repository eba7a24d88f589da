"""Scale a base point by a rule so that its exact FLOPs land within 5 % of ``s``x the base.

The nominal exponents of a rule promise FLOPs ``∝ t``, but stems, heads, squeeze-excitation and
the family's rounding (``make_divisible``, ``ceil`` of stage depths, integer pixels) do not
follow ``d w² r²``: EfficientNet's ``alpha beta² gamma² ≈ 2`` candidates cost 2.2–4.1x the
base at 32 px. So the position ``t`` along the rule is solved against the family's analytic
counts (equal to fvcore's): bisection on ``log t`` for the crossing of ``s``x the base, then the
distinct rounded points around it are costed and the one nearest ``s``x is kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalesearch.cost.analytic import Counts
from scalesearch.errors import PointError, ScalesearchError
from scalesearch.family import Family
from scalesearch.registry import get_family
from scalesearch.scaling.knobs import Knob, Knobs, apply, describe, knobs_of
from scalesearch.scaling.rules import DIMENSIONS, Rule
from scalesearch.space import Point
from scalesearch.space.spec import point_key

TOLERANCE = 0.05
"""A scaled network's FLOPs must be within this fraction of ``s``x the base."""

BISECTIONS = 48
SCAN = np.exp(np.linspace(-0.3, 0.3, 61))
"""Positions ``t`` around the crossing (relative) whose rounded points are all costed."""
OFF_DIRECTION_STEPS = 11
"""Multipliers per dimension tried when no point along the rule lands within tolerance."""


class ScalingError(ScalesearchError):
    """A rule cannot scale a family (no knob for a dimension), or no rounding lands within tolerance."""


@dataclass(frozen=True)
class Scaled:
    """A base point scaled by a rule: the solved position ``t``, the point and both exact counts."""

    family: str
    rule: Rule
    factor: float
    t: float
    base: Point
    point: Point
    base_counts: Counts
    counts: Counts
    deviation: float = 0.0
    """Distance of the point's effective log-multipliers from the rule's direction (0: on it)."""
    off_path: bool = False
    """True when no rounding along the rule landed within tolerance and the dimensions were rounded
    separately (the point nearest the rule's direction among those within tolerance)."""

    @property
    def multipliers(self) -> dict[str, float]:
        """Nominal (d, w, r) at ``t``, before rounding."""
        return dict(zip(DIMENSIONS, self.rule.multipliers(self.t), strict=True))

    def ratio(self, metric: str = "flops") -> float:
        return float(getattr(self.counts, metric) / getattr(self.base_counts, metric))

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "rule": self.rule.name,
            "factor": self.factor,
            "t": self.t,
            "multipliers": self.multipliers,
            "deviation": self.deviation,
            "off_path": self.off_path,
            "point": dict(self.point),
            "base": dict(self.base),
            **{m: getattr(self.counts, m) for m in ("params", "flops", "activations")},
            **{f"base_{m}": getattr(self.base_counts, m) for m in ("params", "flops", "activations")},
            **{f"{m}_ratio": self.ratio(m) for m in ("params", "flops", "activations")},
        }


def check_applies(family: Family, rule: Rule) -> Knobs:
    """The family's knobs, or one line saying which dimension of the rule the family lacks."""
    knobs = knobs_of(family)
    missing = [d for d in rule.dimensions if d not in knobs]
    if missing:
        raise ScalingError(
            f"rule {rule.name} scales {', '.join(rule.dimensions)}, but family {family.name} has no "
            f"{' or '.join(missing)} knob (its knobs: {describe(knobs)})"
        )
    return knobs


class _Path:
    """Points along a rule from a base, their FLOPs memoised (invalid points: ``None``)."""

    def __init__(self, family: Family, base: Point, rule: Rule, knobs: Knobs) -> None:
        self.family, self.base, self.rule, self.knobs = family, base, rule, knobs
        self.cache: dict[str, tuple[Point, Counts]] = {}
        self.refused: str | None = None
        """Why the family refused the last point out of its domain."""
        self.invalid: str | None = None
        """Set when the search along the rule ran past the family's domain: why the point was refused."""

    def at(self, t: float) -> tuple[Point, Counts] | None:
        mults = dict(zip(DIMENSIONS, self.rule.multipliers(t), strict=True))
        return self.at_multipliers({d: mults[d] for d in self.rule.dimensions})

    def at_multipliers(self, mults: dict[str, float]) -> tuple[Point, Counts] | None:
        values = apply(dict(self.base), self.knobs, mults)
        try:
            point = self.family.point(values)
        except PointError as err:
            self.refused = str(err)
            return None
        key = point_key(point)
        if key not in self.cache:
            self.cache[key] = (point, self.family.complexity(point))
        return self.cache[key]

    def log_multipliers(self, point: Point) -> np.ndarray:
        """Effective log (d, w, r) of a point: the mean log-ratio of its knob values to the base's."""
        out = []
        for dim in DIMENSIONS:
            ratios = [
                np.log(_scaled_part(k, point[k.param]) / _scaled_part(k, self.base[k.param]))
                for k in self.knobs.get(dim, ())
            ]
            flat = np.concatenate([np.atleast_1d(r) for r in ratios]) if ratios else np.zeros(1)
            out.append(float(np.mean(flat[np.isfinite(flat)])) if np.isfinite(flat).any() else 0.0)
        return np.array(out)

    def position(self, point: Point) -> float:
        """``t`` of the projection of a point's log-multipliers on the rule's direction."""
        e = np.array(self.rule.exponents)
        return float(np.exp(self.log_multipliers(point) @ e / (e @ e)))

    def deviation(self, point: Point) -> float:
        """Distance of a point's log-multipliers from the rule's direction (0: on it)."""
        e = np.array(self.rule.exponents)
        v = self.log_multipliers(point)
        return float(np.linalg.norm(v - (v @ e) / (e @ e) * e))

    def above(self, t: float, target: float) -> bool:
        """Whether the point at ``t`` costs at least ``target`` (an invalid point: beyond the domain)."""
        found = self.at(t)
        if found is None:
            self.invalid = self.refused
            return t > 1
        return found[1].flops >= target


def _scaled_part(knob: Knob, value: Any) -> np.ndarray:
    """The part of a knob's value that scales (``n`` of a ``6n + 4`` depth)."""
    array = np.asarray(value, float)
    return (array - 4) / 6 if knob.kind == "6n+4" else array


def _bracket(path: _Path, factor: float, target: float) -> tuple[float, float]:
    """``lo < hi`` in ``t`` with the crossing of ``target`` between them."""
    lo, hi = (1.0, factor) if factor > 1 else (factor, 1.0)
    for _ in range(40):
        if factor > 1 and not path.above(hi, target):
            lo, hi = hi, hi * 2
        elif factor < 1 and path.above(lo, target):
            lo, hi = lo / 2, lo
        else:
            return lo, hi
    raise ScalingError(f"rule {path.rule.name} cannot reach {factor:g}x the FLOPs of this {path.family.name}")


def scale(
    family: Family | str,
    base: Mapping[str, Any],
    rule: Rule,
    factor: float,
    tolerance: float = TOLERANCE,
) -> Scaled:
    """``base`` scaled by ``rule`` to ``factor``x its FLOPs, exact counts within ``tolerance``."""
    fam = get_family(family) if isinstance(family, str) else family
    if not (math.isfinite(factor) and factor > 0):
        raise ScalingError(f"the scaling factor must be a positive number, but got --factor {factor}")
    knobs = check_applies(fam, rule)
    base_point = fam.point(base)
    path = _Path(fam, base_point, rule, knobs)
    base_counts = fam.complexity(base_point)
    target = factor * base_counts.flops
    if factor == 1:
        return Scaled(fam.name, rule, factor, 1.0, base_point, base_point, base_counts, base_counts)
    lo, hi = _bracket(path, factor, target)
    for _ in range(BISECTIONS):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if path.above(mid, target) else (mid, hi)
    best = _nearest(path, [lo, hi, *(hi * SCAN)], target)
    off_path = best is None or abs(best[2].flops / target - 1) > tolerance
    if off_path:
        best = _off_direction(path, factor, target, tolerance) or best
    if best is None or abs(best[2].flops / target - 1) > tolerance:
        got = "no valid point" if best is None else f"at best {best[2].flops / base_counts.flops:.3f}x"
        why = (
            f"past the family's domain: {path.invalid}"
            if path.invalid
            else "the family's rounding is too coarse here"
        )
        raise ScalingError(
            f"rule {rule.name} on {fam.name} reaches {got} the base FLOPs near {factor:g}x, "
            f"not within {tolerance:.0%} ({why})"
        )
    t, point, counts = best
    deviation = path.deviation(point)
    return Scaled(fam.name, rule, factor, t, base_point, point, base_counts, counts, deviation, off_path)


Candidate = tuple[float, Point, Counts]


def _nearest(path: _Path, ts: list[float], target: float) -> Candidate | None:
    """The point along the rule nearest ``target`` FLOPs among positions ``ts``."""
    best: Candidate | None = None
    for t in ts:
        found = path.at(t)
        if found and (best is None or abs(found[1].flops / target - 1) < abs(best[2].flops / target - 1)):
            best = (t, *found)
    return best


def _off_direction(path: _Path, factor: float, target: float, tolerance: float) -> Candidate | None:
    """When no rounding along the rule lands within tolerance (one pixel takes a 32 px network's last
    maps from 1x1 to 2x2), each dimension is rounded on its own: of the points within tolerance, the
    one nearest the rule's direction (in log-multipliers)."""
    grid = np.geomspace(min(1.0, factor) ** 1.5, max(1.0, factor) ** 1.5, OFF_DIRECTION_STEPS)
    mults = {d: sorted({_mult(path.rule, d, t) for t in grid}) for d in path.rule.dimensions}
    best: tuple[float, Candidate] | None = None
    for combo in itertools.product(*mults.values()):
        found = path.at_multipliers(dict(zip(mults, combo, strict=True)))
        if found is None or abs(found[1].flops / target - 1) > tolerance:
            continue
        deviation = path.deviation(found[0])
        if best is None or deviation < best[0]:
            best = (deviation, (path.position(found[0]), *found))
    return best[1] if best else None


def _mult(rule: Rule, dim: str, t: float) -> float:
    return float(t ** rule.exponents[DIMENSIONS.index(dim)])
