"""The spec of a search space: parameters, the rules between them, and points.

A *point* is a plain dict of JSON values validated against a :class:`Space`;
:func:`point_key` is its canonical JSON text.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from scalesearch.errors import PointError
from scalesearch.space.domains import Domain, fmt_value

Point = dict[str, Any]


def point_key(point: Mapping[str, Any]) -> str:
    """Canonical JSON text of a point: equal points give equal keys."""
    return json.dumps(dict(point), sort_keys=True, separators=(",", ":"))


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
        got = ", ".join(f"{p}={fmt_value(point.get(p))}" for p in self.params)
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

    @cached_property
    def _name_set(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params)

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
                f"{param.domain.describe()} (default {fmt_value(param.default)}), but got {param.name}=none"
            )

    def complete(self, values: Mapping[str, Any] | None = None) -> Point:
        """Validate ``values``, fill defaults and derived values, check the constraints."""
        values = dict(values or {})
        names = self._name_set
        unknown = [k for k in values if k not in names]
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
