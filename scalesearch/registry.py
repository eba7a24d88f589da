"""Lookup of families and canonical networks by name, with clear errors."""

from __future__ import annotations

import importlib
from functools import cache

from scalesearch.errors import PointError
from scalesearch.family import Canonical, Family
from scalesearch.space import Point


def family_names() -> list[str]:
    from searchspaces import FAMILY_MODULES

    return list(FAMILY_MODULES)


@cache
def get_family(name: str) -> Family:
    """The family called ``name`` (``resnet``, ``wrn``, ``densenet``, ``mbconv``, ``efficientnet``)."""
    if name not in family_names():
        raise PointError(f"unknown family {name!r}; valid families: {', '.join(family_names())}")
    return importlib.import_module(f"searchspaces.{name}").FAMILY


def families() -> list[Family]:
    return [get_family(n) for n in family_names()]


def canonical_names() -> list[str]:
    return [c.name for f in families() for c in f.canonical]


def find_canonical(name: str) -> tuple[Family, Canonical]:
    """The family and canonical entry of a named network such as ``resnet50``."""
    for fam in families():
        for c in fam.canonical:
            if c.name == name:
                return fam, c
    raise PointError(f"unknown network {name!r}; canonical networks: {', '.join(canonical_names())}")


def canonical_point(name: str) -> tuple[Family, Point]:
    fam, c = find_canonical(name)
    return fam, fam.point(c.values)
