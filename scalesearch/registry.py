"""Families and canonical networks by name.

Families come from three sources, looked up lazily on first use and cached:

1. every module of the :mod:`searchspaces` package that defines a module-level ``FAMILY``
   (helper modules such as ``blocks`` define none), listed by the year of the family's paper;
2. the entry-point group ``scalesearch.families``: a package adds its own family with
   ``[project.entry-points."scalesearch.families"] toy = "toy_family:FAMILY"`` in its
   ``pyproject.toml`` (the entry point gives a :class:`Family`, or a module defining ``FAMILY``);
3. :func:`register_family`, at run time.

A name defined twice is an error naming both sources.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from scalesearch.errors import PointError, ScalesearchError
from scalesearch.family import Canonical, Family

ENTRY_POINT_GROUP = "scalesearch.families"

_registered: dict[str, tuple[Family, str]] = {}
"""Families added by :func:`register_family`, with where they came from."""


def _family_of(obj: object) -> Family | None:
    """``obj`` itself if it is a Family, else a module's ``FAMILY``."""
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "FAMILY", None)
    return obj if isinstance(obj, Family) else None


def _package_families() -> list[tuple[Family, str]]:
    import searchspaces

    found = []
    for info in pkgutil.iter_modules(searchspaces.__path__, "searchspaces."):
        if info.name.rpartition(".")[2].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        if not hasattr(module, "FAMILY"):
            continue
        family = _family_of(module)
        if family is None:
            raise ScalesearchError(
                f"module {info.name}: FAMILY must be a scalesearch Family, but got "
                f"{type(module.FAMILY).__name__}"
            )
        found.append((family, f"module {info.name}"))
    # by the year of the family's paper, then by name; families with no year last
    return sorted(found, key=lambda entry: (entry[0].year is None, entry[0].year or 0, entry[0].name))


def _entry_point_family(ep: EntryPoint) -> tuple[Family, str]:
    where = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP})"
    try:
        obj = ep.load()
    except Exception as err:  # any failure of a plugin's import is reported the same way
        raise ScalesearchError(f"{where} failed to load: {type(err).__name__}: {err}") from err
    family = _family_of(obj)
    if family is None:
        raise ScalesearchError(
            f"{where} must give a scalesearch Family or a module defining FAMILY, but gave {type(obj).__name__}"
        )
    return family, where


def _add(found: dict[str, tuple[Family, str]], family: Family, source: str) -> None:
    if family.name in found:
        raise ScalesearchError(
            f"family names must be unique, but {family.name!r} is defined by {found[family.name][1]} "
            f"and by {source}"
        )
    found[family.name] = (family, source)


@cache
def _discovered() -> dict[str, tuple[Family, str]]:
    found: dict[str, tuple[Family, str]] = {}
    for family, source in _package_families():
        _add(found, family, source)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        _add(found, *_entry_point_family(ep))
    return found


def _all() -> dict[str, tuple[Family, str]]:
    found = dict(_discovered())
    for family, source in _registered.values():
        _add(found, family, source)
    return found


def clear_cache() -> None:
    """Forget the discovered families, so the next lookup discovers them again (runtime
    registrations stay)."""
    _discovered.cache_clear()


def register_family(family: Family) -> Family:
    """Add ``family`` at run time (for families that are neither in :mod:`searchspaces` nor
    installed with an entry point); its name must be new. Returns the family."""
    if not isinstance(family, Family):
        raise ScalesearchError(
            f"register_family() needs a scalesearch Family, but got {type(family).__name__}"
        )
    _add(_all(), family, "register_family()")
    _registered[family.name] = (family, "register_family()")
    return family


def family_names() -> list[str]:
    """Family names: the package's by paper year, then entry points by name, then registrations."""
    return list(_all())


def get_family(name: str) -> Family:
    """The family called ``name`` (``resnet``, ``wrn``, ``densenet``, ``mbconv``, ``efficientnet``...)."""
    found = _all()
    if name not in found:
        raise PointError(f"unknown family {name!r}; valid families: {', '.join(found)}")
    return found[name][0]


def families() -> list[Family]:
    return [family for family, _ in _all().values()]


def canonical_names() -> list[str]:
    return [c.name for f in families() for c in f.canonical]


def find_canonical(name: str) -> tuple[Family, Canonical]:
    """The family and canonical entry of a named network such as ``resnet50``."""
    for fam in families():
        for c in fam.canonical:
            if c.name == name:
                return fam, c
    raise PointError(f"unknown network {name!r}; canonical networks: {', '.join(canonical_names())}")
