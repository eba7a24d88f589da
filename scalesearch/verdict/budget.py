"""Budgets: bounds on cost metrics, absolute or relative to a canonical network.

Grammar (bounds separated by commas)::

    flops<=4.2e9            params<30M           latency_ms<=5
    flops<=1.05*resnet50    params>=0.5*resnet18
    params~resnet50±2%      flops~4.1G+-5%       (``+-`` may stand for ``±``)

Numbers take K, M, G, T suffixes (10^3 ... 10^12). A check returns a :class:`Verdict`
with one reason per violated bound; nothing is dropped silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from scalesearch.errors import BudgetError, PointError
from scalesearch.formatting import format_number
from scalesearch.metrics import COST_METRICS as METRICS

OPS = ("<=", ">=", "<", ">", "~")
_SUFFIX = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BOUND = re.compile(r"^\s*(?P<metric>[A-Za-z_]+)\s*(?P<op><=|>=|<|>|~)\s*(?P<rhs>.*?)\s*$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[KMGT]?"
_REL = re.compile(
    rf"^(?:(?P<f1>{_NUMBER})\s*\*\s*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\s*\*\s*(?P<f2>{_NUMBER}))?$"
)
_TOL = re.compile(rf"^(?P<target>.+?)\s*(?:±|\+-|\+/-)\s*(?P<tol>{_NUMBER})\s*%$")

Resolver = Callable[[str, str], float]
"""(network name, metric) -> that network's cost."""


def parse_number(text: str) -> float:
    text = text.strip()
    if not re.fullmatch(_NUMBER, text):
        raise ValueError(text)
    scale = _SUFFIX.get(text[-1], 1.0)
    value = float(text[:-1] if text[-1] in _SUFFIX else text) * scale
    if not math.isfinite(value):  # 1e400 parses as inf: not a usable cost
        raise ValueError(text)
    return value


@dataclass(frozen=True)
class Bound:
    """``metric op value`` (or ``metric ~ value ± tolerance``), with its text as written."""

    metric: str
    op: str
    value: float
    text: str
    tolerance: float = 0.0
    reference: str | None = None

    def violation(self, cost: float) -> str | None:
        """None when ``cost`` satisfies the bound, else the reason."""
        v = self.value
        if self.op == "~":
            low, high = v * (1 - self.tolerance), v * (1 + self.tolerance)
            if low <= cost <= high:
                return None
            limit = f"[{format_number(low)}, {format_number(high)}]"
        else:
            ok = {"<=": cost <= v, "<": cost < v, ">=": cost >= v, ">": cost > v}[self.op]
            if ok:
                return None
            limit = format_number(v)
        return f"{self.metric}={format_number(cost)} breaks {self.text} (limit {limit})"


@dataclass(frozen=True)
class Verdict:
    feasible: bool
    violations: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.violations)


@dataclass(frozen=True)
class Budget:
    bounds: tuple[Bound, ...] = ()

    @property
    def text(self) -> str:
        return ",".join(b.text for b in self.bounds)

    @property
    def metrics(self) -> set[str]:
        return {b.metric for b in self.bounds}

    def __bool__(self) -> bool:
        return bool(self.bounds)

    def check(self, costs: Mapping[str, float | None]) -> Verdict:
        reasons = []
        for b in self.bounds:
            cost = costs.get(b.metric)
            if cost is None:
                reasons.append(f"{b.metric} was not measured, so {b.text} cannot be checked")
                continue
            reason = b.violation(float(cost))
            if reason:
                reasons.append(reason)
        return Verdict(not reasons, tuple(reasons))


def canonical_resolver(method: str = "analytic") -> Resolver:
    """Costs of canonical networks at their canonical point (analytic equals fvcore, tests prove it)."""
    from scalesearch.cost.record import cost_of
    from scalesearch.registry import find_canonical

    def resolve(name: str, metric: str) -> float:
        family, canonical = find_canonical(name)
        if metric == "latency_ms":
            raise BudgetError(
                f"a latency bound relative to a network ({name}) needs a measured latency; "
                "give an absolute bound such as latency_ms<=5"
            )
        return float(getattr(cost_of(family, family.point(canonical.values), method), metric))

    return resolve


def _rhs_value(rhs: str, metric: str, text: str, resolve: Resolver) -> tuple[float, str | None]:
    try:
        return parse_number(rhs), None
    except ValueError:
        pass
    m = _REL.match(rhs)
    if not m or (m["f1"] and m["f2"]):
        raise BudgetError(
            f"bound {text!r}: the right side must be a number (4.2e9, 30M) or [factor*]network "
            f"(1.05*resnet50), but got {rhs!r}"
        )
    try:
        factor = parse_number(m["f1"] or m["f2"] or "1")
    except ValueError:
        raise BudgetError(
            f"bound {text!r}: the factor must be a finite number, but got {m['f1'] or m['f2']}"
        ) from None
    try:
        base = resolve(m["name"], metric)
    except PointError as err:
        raise BudgetError(f"bound {text!r}: {err}") from None
    return factor * base, m["name"]


def parse_bound(text: str, resolve: Resolver | None = None) -> Bound:
    m = _BOUND.match(text)
    if not m or not m["rhs"]:
        raise BudgetError(
            f"a bound must be written METRIC OP VALUE with OP one of {' '.join(OPS)} "
            f"(e.g. flops<=4.2e9, params~resnet50±2%), but got {text!r}"
        )
    metric, op, rhs = m["metric"], m["op"], m["rhs"]
    if metric not in METRICS:
        raise BudgetError(f"unknown metric {metric!r} in {text!r}; valid metrics: {', '.join(METRICS)}")
    resolve = resolve or canonical_resolver()
    tolerance = 0.0
    if op == "~":
        t = _TOL.match(rhs)
        if not t:
            raise BudgetError(
                f"bound {text!r}: '~' needs a tolerance, e.g. params~resnet50±2%, but got {rhs!r}"
            )
        try:
            rhs, tolerance = t["target"], parse_number(t["tol"]) / 100
        except ValueError:
            raise BudgetError(
                f"bound {text!r}: the tolerance must be a finite number, but got {t['tol']}%"
            ) from None
        if tolerance < 0:
            raise BudgetError(f"bound {text!r}: the tolerance must be >= 0%, but got {t['tol']}%")
    value, reference = _rhs_value(rhs.strip(), metric, text, resolve)
    if value < 0:
        raise BudgetError(
            f"bound {text!r}: a cost bound must be non-negative, but got {format_number(value)}"
        )
    return Bound(metric, op, value, text.strip().replace(" ", ""), tolerance, reference)


def parse_budget(spec: str | Iterable[str] | None, resolve: Resolver | None = None) -> Budget:
    """Parse ``"flops<=4.2e9,params<=30M"`` (or a list of such strings) into a Budget."""
    if spec is None:
        return Budget()
    parts = [spec] if isinstance(spec, str) else list(spec)
    texts = [t for part in parts for t in re.split(r"[,;]", part) if t.strip()]
    return Budget(tuple(parse_bound(t, resolve) for t in texts))
