"""Parameter domains: the values one parameter may take, how to check, parse, sample and grid them.

Every domain has ``describe()`` (for messages), ``check(name, value)`` (validate a JSON value,
return it normalised), ``parse(name, text)`` (a command-line value), ``sample(rng)``,
``values()`` (the finite grid) and ``size``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scalesearch.errors import PointError


def fmt_value(value: Any) -> str:
    """A value as written on the command line (lists as ``a,b,c``)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


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
            raise PointError(
                f"{name} must be an integer ({self.describe()}), but got {name}={fmt_value(value)!s}"
            )
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
                f"{name} must be a finite number ({self.describe()}), but got {name}={fmt_value(value)}"
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
            grid = _float_grid(self.low, self.high, self.step)
            return grid[rng.randrange(len(grid))]
        return rng.uniform(self.low, self.high)

    def values(self) -> list[float]:
        if not self.step:
            raise ValueError(f"a continuous domain ({self.describe()}) has no finite grid; give it a step")
        return list(_float_grid(self.low, self.high, self.step))

    @property
    def size(self) -> float:
        return len(_float_grid(self.low, self.high, self.step)) if self.step else math.inf


@lru_cache(maxsize=256, typed=True)
def _float_grid(low: float, high: float, step: float) -> tuple[float, ...]:
    """A stepped Float domain's values, computed once (sampling draws from it for every point)."""
    n = int(round((high - low) / step)) + 1
    return tuple(round(low + i * step, 10) for i in range(n))


@dataclass(frozen=True)
class Choice:
    """One of a fixed tuple of values (ints, floats, strings, bools)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("a Choice needs at least one value")

    def describe(self) -> str:
        return "one of {" + ", ".join(fmt_value(c) for c in self.choices) + "}"

    def check(self, name: str, value: Any) -> Any:
        for c in self.choices:
            if value == c and isinstance(value, bool) == isinstance(c, bool):
                return c
        raise PointError(f"{name} must be {self.describe()}, but got {name}={fmt_value(value)}")

    def parse(self, name: str, text: str) -> Any:
        for c in self.choices:
            if fmt_value(c) == text or (
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
            raise PointError(f"{name} must be {self.describe()}, but got {name}={fmt_value(value)}")
        if not self.min_len <= len(value) <= self.max_len or not all(
            self.low <= v <= self.high for v in value
        ):
            raise PointError(f"{name} must be {self.describe()}, but got {name}={fmt_value(value)}")
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
