"""A block family: its space, how to build a network from a point, its canonical points, and the
small test domains the conformance suite checks it on."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scalesearch.errors import PointError
from scalesearch.space import Domain, Point, Space

if TYPE_CHECKING:
    from torch import nn

    from scalesearch.cost.analytic import Counts


@dataclass(frozen=True)
class Reference:
    """Published counts for a canonical network and where they come from.

    ``params``/``flops`` are exact integers when a reference implementation exists
    (torchvision, counted with fvcore in eval mode at ``resolution``); ``paper_params``
    is the paper's printed figure (e.g. "36.5M") for networks only the paper defines.
    """

    source: str
    params: int | None = None
    flops: int | None = None
    paper_params: str | None = None
    paper_flops: str | None = None


@dataclass(frozen=True)
class Canonical:
    """A named fixed point of a family: values over the family defaults, and its reference."""

    name: str
    values: Mapping[str, Any]
    reference: Reference


REFERENCE_COLUMNS = ("params", "flops", "paper_params", "paper_flops")
TORCHVISION = (
    "torchvision 0.29.1 {name}(), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x{resolution}x{resolution}"
)
"""The ``source`` of figures measured on torchvision's network (the counts the tests pin)."""


def canonical_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    source: str | Callable[[Mapping[str, Any]], str],
    **shared: Any,
) -> tuple[Canonical, ...]:
    """A family's canonical networks from a table with one row per network.

    ``columns`` names the entries of each row: ``name``, the point values, and any of the
    reference figures ``params``/``flops`` (exact, from the reference implementation) and
    ``paper_params``/``paper_flops`` (as printed). ``source`` says where the figures come from:
    a ``str.format`` template over the row (``"torchvision {name}()"``) or a function of the row.
    ``shared`` point values apply to every row (and are seen by ``source``).
    """
    table = []
    for row in rows:
        record = {**shared, **dict(zip(columns, row, strict=True))}
        text = source(record) if callable(source) else source.format(**record)
        figures = {k: record.pop(k) for k in REFERENCE_COLUMNS if k in record}
        name = record.pop("name")
        table.append(Canonical(name, record, Reference(text, **figures)))
    return tuple(table)


@dataclass(frozen=True)
class Family:
    """A parametric network family.

    ``build(point)`` returns an ``nn.Module``; ``complexity(point)`` returns the
    analytic params/FLOPs/activations, equal to fvcore's counts (the conformance suite
    proves it on random points of ``test_domains``).
    """

    name: str
    summary: str
    space: Space
    build_fn: Callable[[Point], nn.Module]
    complexity_fn: Callable[[Point], Counts]
    canonical: tuple[Canonical, ...] = ()
    test_domains: Mapping[str, Domain] = field(default_factory=dict)
    """Small domains that still exercise every rule of the family (strides, groups, rounding...)
    while keeping fvcore's traces fast; the conformance suite samples its random points here."""
    test_structure: Callable[[random.Random], Point] | None = None
    """Draws structural values first (e.g. a form and the parameters that go with it); the
    remaining ``test_domains`` are sampled around them."""
    test_points: int = 200
    """How many random points of ``test_domains`` the conformance suite checks analytic == fvcore
    on (fewer for families whose smallest networks are still deep, so the suite stays quick)."""
    year: int | None = None
    """Year of the paper that introduced the family: families are listed by year, then name."""

    def __post_init__(self) -> None:
        for name in self.test_domains:
            self.space.param(name)
        names = [c.name for c in self.canonical]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: canonical names must be unique, but got {names}")

    def point(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> Point:
        """Validate and complete a point of this family."""
        return self.space.complete({**dict(values or {}), **kwargs})

    def input_channels(self, values: Mapping[str, Any]) -> int:
        """Channels of the input image: the point's ``in_channels`` where the family has one, else 3."""
        return int(values.get("in_channels", 3))

    def build(self, values: Mapping[str, Any]) -> nn.Module:
        return self.build_fn(self.point(values))

    def complexity(self, values: Mapping[str, Any]) -> Counts:
        return self.complexity_fn(self.point(values))

    def canonical_point(self, name: str) -> Point:
        for c in self.canonical:
            if c.name == name:
                return self.point(c.values)
        names = ", ".join(c.name for c in self.canonical)
        raise PointError(f"{self.name} has no canonical network {name!r}; known: {names}")

    def small_point(self, rng: random.Random) -> Point:
        """A random valid point of the test domains (structure first, where the family has one)."""
        fixed = dict(self.test_structure(rng)) if self.test_structure else {}
        domains = {k: d for k, d in self.test_domains.items() if k not in fixed}
        return self.space.sample(rng, domains, fixed)
