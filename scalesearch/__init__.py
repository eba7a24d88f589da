"""scalesearch: search and scale CNN families under exact cost budgets.

The public surface, in timm's idiom::

    import scalesearch
    scalesearch.list_families()                      # ['resnet', 'wrn', ...]
    scalesearch.list_models("efficientnet*")         # canonical networks by name
    model = scalesearch.create_model("resnet50")     # a canonical network
    model = scalesearch.create_model("resnet", depth=50, cardinality=32, bottleneck_width=4)

Heavy modules (torch, fvcore, optuna, ray) are imported lazily by the functions that need them.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from scalesearch.errors import BudgetError, ExperimentError, PointError, ScalesearchError

if TYPE_CHECKING:
    from pandas import DataFrame
    from torch import nn

    from scalesearch.family import Family

__version__ = "0.3.0"
__all__ = [
    "BudgetError",
    "ExperimentError",
    "PointError",
    "ScalesearchError",
    "__version__",
    "create_model",
    "get_family",
    "list_families",
    "list_models",
    "load_results",
    "register_family",
]


def list_families() -> list[str]:
    """Names of every registered family (from searchspaces/, entry points and register_family)."""
    from scalesearch.registry import family_names

    return family_names()


def list_models(pattern: str = "*") -> list[str]:
    """Names of the canonical networks (e.g. ``resnet50``) matching a shell-style ``pattern``."""
    from scalesearch.registry import canonical_names

    return [n for n in canonical_names() if fnmatch.fnmatchcase(n, pattern)]


def get_family(name: str) -> Family:
    """The family called ``name``; a PointError lists the valid names."""
    from scalesearch.registry import get_family as _get

    return _get(name)


def register_family(family: Family) -> Family:
    """Add a family at run time (a package can instead declare the ``scalesearch.families`` entry point)."""
    from scalesearch.registry import register_family as _register

    return _register(family)


def create_model(name: str, **values: Any) -> nn.Module:
    """A canonical network by name (``values`` override its point) or any point of a family by family name."""
    from scalesearch.registry import family_names, find_canonical

    if name in family_names():
        return get_family(name).build(values)
    family, canonical = find_canonical(name)
    return family.build({**dict(canonical.values), **values})


def load_results(run_dir: str, **kwargs: Any) -> DataFrame:
    """The trials of a run directory as a pandas table, best feasible first."""
    from scalesearch.analysis.results import load_results as _load

    return _load(run_dir, **kwargs)
