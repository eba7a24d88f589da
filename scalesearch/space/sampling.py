"""Drawing many points of a space fast: :meth:`Space.sample`'s draws, with validation memoised.

A :class:`Sampler` consumes the random stream exactly as :meth:`Space.sample` does (same seed,
same points), but validates each distinct drawn combination once: a screen of a million points
over a grid of a few thousand combinations completes a few thousand points, not a million.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from scalesearch.errors import PointError
from scalesearch.space.domains import Choice, Domain, IntList
from scalesearch.space.spec import Point, Space

Key = tuple[Any, ...]
"""A draw: one value per domain (a choice by its index, a list as a tuple)."""

MEMO_SIZE = 1 << 16
"""Distinct drawn combinations remembered at most (the memo is emptied when full: memory stays bounded)."""


class Sampler:
    """Valid random points of ``space``: each name in ``domains`` drawn from its domain, the rest
    from ``fixed`` or the defaults (:meth:`Space.sample`'s rule and random stream)."""

    def __init__(
        self,
        space: Space,
        domains: Mapping[str, Domain],
        fixed: Mapping[str, Any] | None = None,
        max_tries: int = 1000,
    ) -> None:
        for name in domains:
            space.param(name)
        self.space = space
        self.names = tuple(domains)
        self.domains = tuple(domains.values())
        self.fixed = dict(fixed or {})
        self.max_tries = max_tries
        self._memo: dict[Key, tuple[Key, Point | PointError]] = {}

    def _draw_key(self, rng: random.Random) -> Key:
        """One draw per domain, as ``domain.sample(rng)`` would make it, as a hashable key
        (a choice by its index, so ``1``, ``1.0`` and ``True`` never share a key)."""
        key: list[Any] = []
        for d in self.domains:
            if isinstance(d, Choice):
                key.append(rng.randrange(len(d.choices)))
            elif isinstance(d, IntList):
                key.append(tuple(d.sample(rng)))
            else:
                key.append(d.sample(rng))
        return tuple(key)

    def _values(self, key: Key) -> dict[str, Any]:
        values = dict(self.fixed)
        for name, d, k in zip(self.names, self.domains, key, strict=True):
            if isinstance(d, Choice):
                values[name] = d.choices[k]
            elif isinstance(d, IntList):
                values[name] = list(k)
            else:
                values[name] = k
        return values

    def draw_shared(self, rng: random.Random) -> tuple[Key, Point]:
        """A valid point and the key of its draw (equal keys, equal points; one key object for
        all draws alike). The point is shared with later draws of the same key: copy it before
        changing it."""
        last: PointError | None = None
        for _ in range(self.max_tries):
            key = self._draw_key(rng)
            memo = self._memo.get(key)
            if memo is None:
                try:
                    memo = (key, self.space.complete(self._values(key)))
                except PointError as err:
                    memo = (key, err)
                if len(self._memo) >= MEMO_SIZE:
                    self._memo.clear()
                self._memo[key] = memo
            key, hit = memo
            if isinstance(hit, PointError):
                last = hit
                continue
            return key, hit
        raise PointError(
            f"{self.space.name}: no valid point in {self.max_tries} random draws; last rejection: {last}"
        )

    def draw(self, rng: random.Random) -> Point:
        """A valid point: what ``space.sample(rng, domains, fixed)`` returns for the same ``rng`` state."""
        return dict(self.draw_shared(rng)[1])
