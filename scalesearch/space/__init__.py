"""Search-space specs: parameter domains, constraints, and points.

A *point* is a plain dict of JSON values (int, float, str, bool, list of int),
validated against a :class:`Space`. Everything else (Optuna distributions, Ray Tune
param spaces, grids, model construction, cost) derives from the one spec.
"""

from scalesearch.space.domains import Choice, Domain, Float, Int, IntList
from scalesearch.space.spec import Constraint, Param, Point, Space, Table, point_key

__all__ = [
    "Choice",
    "Constraint",
    "Domain",
    "Float",
    "Int",
    "IntList",
    "Param",
    "Point",
    "Space",
    "Table",
    "point_key",
]
