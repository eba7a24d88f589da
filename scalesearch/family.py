"""A block family: its space, how to build a network from a point, its canonical points."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalesearch.errors import PointError
from scalesearch.space import Point, Space

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


@dataclass(frozen=True)
class Family:
    """A parametric network family.

    ``build(point)`` returns an ``nn.Module``; ``complexity(point)`` returns the
    analytic params/FLOPs/activations, equal to fvcore's counts (tests prove it).
    """

    name: str
    summary: str
    space: Space
    build_fn: Callable[[Point], nn.Module]
    complexity_fn: Callable[[Point], Counts]
    canonical: tuple[Canonical, ...] = ()

    def point(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> Point:
        """Validate and complete a point of this family."""
        return self.space.complete({**dict(values or {}), **kwargs})

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
