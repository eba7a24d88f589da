"""Search-space specs: parameter domains, constraints, and points.

A *point* is a plain dict of JSON values (int, float, str, bool, list of int),
validated against a :class:`Space`. Everything else (Optuna distributions, Ray Tune
param spaces, grids, model construction, cost) derives from the one spec.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scalesearch.errors import PointError

Point = dict[str, Any]


def point_key(point: Mapping[str, Any]) -> str:
    """Canonical JSON text of a point: equal points give equal keys."""
    return json.dumps(dict(point), sort_keys=True, separators=(",", ":"))


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------- domains


@dataclass(frozen=True)
class Int:
    """Integers in ``[low, high]`` on a ``step`` grid; ``log`` for log-uniform sampling."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, but got low={self.low}, high={self.high}")
        if self.log and self.low < 1:
            raise ValueError(f"a log domain needs low >= 1, but got low={self.low}")

    def describe(self) -> str:
        step = f", step {self.step}" if self.step != 1 else ""
        log = ", log" if self.log else ""
        return f"int in [{self.low}, {self.high}]{step}{log}"

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, float) and not math.isfinite(value):
            raise PointError(f"{name} must be a finite integer ({self.describe()}), but got {name}={value}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise PointError(f"{name} must be an integer ({self.describe()}), but got {name}={_fmt(value)!s}")
        value = int(value)
        if not self.low <= value <= self.high or (value - self.low) % self.step:
            raise PointError(f"{name} must be an {self.describe()}, but got {name}={value}")
        return value

    def parse(self, name: str, text: str) -> int:
        try:
            number = float(text)
        except ValueError:
            raise PointError(
                f"{name} must be an integer ({self.describe()}), but got {name}={text}"
            ) from None
        if not math.isfinite(number):
            raise PointError(f"{name} must be a finite integer ({self.describe()}), but got {name}={text}")
        return self.check(name, number)

    def sample(self, rng: random.Random) -> int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            value = min(self.high, int(value))
            return self.low + (value - self.low) // self.step * self.step
        return rng.randrange(self.low, self.high + 1, self.step)

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    @property
    def size(self) -> float:
        return (self.high - self.low) // self.step + 1


@dataclass(frozen=True)
class Float:
    """Reals in ``[low, high]``; optional ``step`` grid; ``log`` for log-uniform sampling."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, but got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log domain needs low > 0, but got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("a Float domain cannot be both log and stepped")

    def describe(self) -> str:
        step = f", step {self.step}" if self.step else ""
        log = ", log" if self.log else ""
        return f"float in [{self.low}, {self.high}]{step}{log}"

    def check(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PointError(
                f"{name} must be a finite number ({self.describe()}), but got {name}={_fmt(value)}"
            )
        value = float(value)
        tol = 1e-9 * max(1.0, abs(self.high))
        if not self.low - tol <= value <= self.high + tol:
            raise PointError(f"{name} must be a {self.describe()}, but got {name}={value}")
        if self.step:
            k = round((value - self.low) / self.step)
            if abs(self.low + k * self.step - value) > tol:
                raise PointError(f"{name} must be a {self.describe()}, but got {name}={value}")
            value = round(self.low + k * self.step, 10)
        return value

    def parse(self, name: str, text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            raise PointError(f"{name} must be a number ({self.describe()}), but got {name}={text}") from None
        if not math.isfinite(number):
            raise PointError(f"{name} must be a finite number ({self.describe()}), but got {name}={text}")
        return self.check(name, number)

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.step:
            return self.values()[rng.randrange(int(self.size))]
        return rng.uniform(self.low, self.high)

    def values(self) -> list[float]:
        if not self.step:
            raise ValueError(f"a continuous domain ({self.describe()}) has no finite grid; give it a step")
        n = int(round((self.high - self.low) / self.step)) + 1
        return [round(self.low + i * self.step, 10) for i in range(n)]

    @property
    def size(self) -> float:
        return len(self.values()) if self.step else math.inf


@dataclass(frozen=True)
class Choice:
    """One of a fixed tuple of values (ints, floats, strings, bools)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("a Choice needs at least one value")

    def describe(self) -> str:
        return "one of {" + ", ".join(_fmt(c) for c in self.choices) + "}"

    def check(self, name: str, value: Any) -> Any:
        for c in self.choices:
            if value == c and isinstance(value, bool) == isinstance(c, bool):
                return c
        raise PointError(f"{name} must be {self.describe()}, but got {name}={_fmt(value)}")

    def parse(self, name: str, text: str) -> Any:
        for c in self.choices:
            if _fmt(c) == text or (
                isinstance(c, (int, float)) and not isinstance(c, bool) and _num(text) == c
            ):
                return c
        raise PointError(f"{name} must be {self.describe()}, but got {name}={text}")

    def sample(self, rng: random.Random) -> Any:
        return self.choices[rng.randrange(len(self.choices))]

    def values(self) -> list[Any]:
        return list(self.choices)

    @property
    def size(self) -> float:
        return len(self.choices)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class IntList:
    """A list of integers, each in ``[low, high]``, of length in ``[min_len, max_len]``."""

    low: int
    high: int
    min_len: int = 1
    max_len: int = 8

    def describe(self) -> str:
        lens = f"{self.min_len}" if self.min_len == self.max_len else f"{self.min_len} to {self.max_len}"
        return f"a list of {lens} integers in [{self.low}, {self.high}], written a,b,c"

    def check(self, name: str, value: Any) -> list[int]:
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise PointError(f"{name} must be {self.describe()}, but got {name}={_fmt(value)}")
        if not self.min_len <= len(value) <= self.max_len or not all(
            self.low <= v <= self.high for v in value
        ):
            raise PointError(f"{name} must be {self.describe()}, but got {name}={_fmt(value)}")
        return [int(v) for v in value]

    def parse(self, name: str, text: str) -> list[int]:
        parts = text.replace(" ", "").strip("[]()").split(",")
        try:
            items = [int(t) for t in parts]  # an empty item (6,,12 or a trailing comma) is an error
        except ValueError:
            raise PointError(f"{name} must be {self.describe()}, but got {name}={text}") from None
        return self.check(name, items)

    def sample(self, rng: random.Random) -> list[int]:
        n = rng.randint(self.min_len, self.max_len)
        return [rng.randint(self.low, self.high) for _ in range(n)]

    def values(self) -> list[list[int]]:
        raise ValueError(f"{self.describe()} has no grid; fix it or list the choices with Choice")

    @property
    def size(self) -> float:
        return math.inf


Domain = Int | Float | Choice | IntList


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Param:
    """One parameter: its name (as in the paper), domain, default and meaning.

    ``default=None`` means "derived from other parameters" (the family's ``resolve``
    fills it in). ``when`` makes the parameter conditional: it is active only when
    each named parameter takes one of the listed values. ``search`` is the default
    search domain (narrower than the valid ``domain``) used when a space is screened
    or searched without explicit domains; None keeps the parameter at its default.
    """

    name: str
    domain: Domain
    default: Any
    help: str = ""
    when: Mapping[str, tuple[Any, ...]] | None = None
    search: Domain | None = None

    def active(self, point: Mapping[str, Any]) -> bool:
        return not self.when or all(point.get(k) in vs for k, vs in self.when.items())


@dataclass(frozen=True)
class Constraint:
    """A rule between parameters. ``check`` returns True when the point satisfies it."""

    rule: str
    params: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], bool]

    def message(self, point: Mapping[str, Any]) -> str:
        got = ", ".join(f"{p}={_fmt(point.get(p))}" for p in self.params)
        return f"{self.rule}, but got {got}"


@dataclass(frozen=True)
class Space:
    """The parameters of a family and the rules between them."""

    name: str
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...] = ()
    resolve: Callable[[Point], Point] | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: parameter names must be unique, but got {names}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise PointError(f"{self.name} has no parameter {name!r}; valid parameters: {', '.join(self.names)}")

    def parse(self, items: Iterable[str]) -> Point:
        """Parse ``key=value`` strings (as on the command line) into raw values."""
        values: Point = {}
        texts: dict[str, str] = {}
        for item in items:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise PointError(f"a parameter must be written key=value, but got {item!r}")
            param = self.param(key)
            value = None if text.lower() == "none" else param.domain.parse(key, text)
            if value is None:
                self._check_none(param)
            if key in values and values[key] != value:
                raise PointError(
                    f"{key} is given twice with different values: {key}={texts[key]} and {key}={text}"
                )
            values[key], texts[key] = value, text
        return values

    def _check_none(self, param: Param) -> None:
        """``none`` (derived) is only for parameters the family derives or switches off."""
        if param.default is not None and param.when is None:
            raise PointError(
                f"{param.name} is not derived, so it cannot be none; it must be "
                f"{param.domain.describe()} (default {_fmt(param.default)}), but got {param.name}=none"
            )

    def complete(self, values: Mapping[str, Any] | None = None) -> Point:
        """Validate ``values``, fill defaults and derived values, check the constraints."""
        values = dict(values or {})
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise PointError(
                f"{self.name} has no parameter {unknown[0]!r}; valid parameters: {', '.join(self.names)}"
            )
        point: Point = {}
        for p in self.params:
            value = values.get(p.name, p.default)
            if value is None:
                self._check_none(p)
            point[p.name] = None if value is None else p.domain.check(p.name, value)
        if self.resolve is not None:
            point = self.resolve(point)
        for p in self.params:
            if point.get(p.name) is not None:
                point[p.name] = p.domain.check(p.name, point[p.name])
            if not p.active(point):
                point[p.name] = None
        for c in self.constraints:
            if not c.check(point):
                raise PointError(f"{self.name}: {c.message(point)}")
        return point

    def search_domains(self, fixed: Mapping[str, Any] | None = None) -> dict[str, Domain]:
        """The default search domains of the parameters not in ``fixed``."""
        fixed = fixed or {}
        return {p.name: p.search for p in self.params if p.search is not None and p.name not in fixed}

    def is_valid(self, values: Mapping[str, Any]) -> bool:
        try:
            self.complete(values)
        except PointError:
            return False
        return True

    def sample(
        self,
        rng: random.Random,
        domains: Mapping[str, Domain],
        fixed: Mapping[str, Any] | None = None,
        max_tries: int = 1000,
    ) -> Point:
        """A random valid point: each name in ``domains`` drawn from its (search) domain,
        the rest from ``fixed`` or the defaults. Search domains may be narrower than the
        family's; drawn values are still checked against the family's own domains.

        Gives up after ``max_tries`` rejected draws with a PointError naming the last
        broken rule, instead of spinning on a space with no valid point.
        """
        for name in domains:
            self.param(name)
        last: PointError | None = None
        for _ in range(max_tries):
            values = dict(fixed or {})
            for name, domain in domains.items():
                values[name] = domain.sample(rng)
            try:
                return self.complete(values)
            except PointError as err:
                last = err
        raise PointError(f"{self.name}: no valid point in {max_tries} random draws; last rejection: {last}")

    def grid(self, axes: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any] | None = None) -> list[Point]:
        """Every valid point of the product of ``axes`` (invalid combinations skipped)."""
        names = list(axes)
        points = []
        for combo in itertools.product(*(axes[n] for n in names)):
            values = {**dict(fixed or {}), **dict(zip(names, combo, strict=True))}
            try:
                points.append(self.complete(values))
            except PointError:
                continue
        return points


@dataclass(frozen=True)
class Table:
    """Rows of a stage table kept as data (e.g. MobileNetV2's t, c, n, s)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...] = field(default_factory=tuple)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]
