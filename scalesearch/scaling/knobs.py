"""Which parameters of a family a scaling dimension moves, and how each is rounded: data per family.

A :class:`Knob` maps a multiplier ``m`` on one dimension to a new value of one parameter of the
base point (``depth_mult * m``, ``ceil(n * m)`` for every entry of a list of stage depths,
``round(resolution * m)``...). The family then rounds as it always does (``make_divisible``,
``ceil``), so the counts of the scaled point are exact. :data:`KNOBS` lists the built-in
families; any other family gets knobs derived from the names ``depth_mult``, ``width_mult`` /
``width_multiplier`` and ``resolution`` where it has them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scalesearch.family import Family
from scalesearch.scaling.rules import DIMENSIONS

KINDS = ("float", "int", "depths", "widths", "6n+4")


@dataclass(frozen=True)
class Knob:
    """One parameter moved by a dimension's multiplier ``m`` (``kind`` says how it is rounded).

    - ``float``: ``value * m`` (a multiplier the family rounds itself), to 4 decimals;
    - ``int``: ``value * m`` rounded to a multiple of ``step`` (at least ``step``);
    - ``depths``: every entry of a list of stage depths ``ceil(n * m)`` (0 stays 0: a left-out stage);
    - ``widths``: every entry of a list of widths rounded to a multiple of ``step`` (at least ``step``);
    - ``6n+4``: a total depth ``6n + 4`` (WRN, DenseNet-BC) with ``n`` scaled and rounded (at least 1).
    """

    param: str
    kind: str = "float"
    step: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"knob kind must be one of {', '.join(KINDS)}, but got {self.kind!r}")

    def apply(self, value: Any, m: float) -> Any:
        if self.kind == "float":
            return round(value * m, 4)
        if self.kind == "int":
            return self._round(value * m)
        if self.kind == "depths":
            return [math.ceil(n * m - 1e-9) if n else 0 for n in value]
        if self.kind == "widths":
            return [self._round(c * m) for c in value]
        return 6 * max(1, round((value - 4) / 6 * m)) + 4

    def _round(self, x: float) -> int:
        return max(self.step, self.step * round(x / self.step))


Knobs = dict[str, tuple[Knob, ...]]
"""A family's knobs by dimension (``depth``, ``width``, ``resolution``); a missing dimension: none."""

_RES = (Knob("resolution", "int"),)
_MULTS: Knobs = {"depth": (Knob("depth_mult"),), "width": (Knob("width_mult"),), "resolution": _RES}
_INCEPTION: Knobs = {
    "depth": (Knob("modules", "depths"),),
    "width": (Knob("width_mult"),),
    "resolution": _RES,
}

KNOBS: dict[str, Knobs] = {
    "efficientnet": _MULTS,
    "mbconv": _MULTS,
    "mobilenet_v1": _MULTS,
    "mobilenet_v3": {"width": (Knob("width_mult"),), "resolution": _RES},
    "convnext": {
        "depth": (Knob("depths", "depths"),),
        "width": (Knob("dims", "widths"),),
        "resolution": _RES,
    },
    "plain": {"depth": (Knob("depths", "depths"),), "width": (Knob("width_multiplier"),), "resolution": _RES},
    "polynet": {
        "depth": (Knob("depths", "depths"),),
        "width": (Knob("width_multiplier"),),
        "resolution": _RES,
    },
    "inception": _INCEPTION,
    "bn_inception": _INCEPTION,
    "inception_v3": _INCEPTION,
    "inception_v4": _INCEPTION,
    "inception_resnet_v1": _INCEPTION,
    "inception_resnet_v2": _INCEPTION,
    "regnet": {
        "depth": (Knob("depth", "int"),),
        "width": (Knob("w0", "int", step=8), Knob("wa")),
        "resolution": _RES,
    },
    "resnet": {"depth": (Knob("layers", "depths"),), "resolution": _RES},
    "res2net": {
        "depth": (Knob("layers", "depths"),),
        "width": (Knob("base_width", "int"),),
        "resolution": _RES,
    },
    "resnetv2": {
        "depth": (Knob("layers", "depths"),),
        "width": (Knob("widths", "widths", step=8), Knob("stem_width", "int", step=8)),
        "resolution": _RES,
    },
    "wrn": {"depth": (Knob("depth", "6n+4"),), "width": (Knob("widen_factor", "int"),), "resolution": _RES},
    "densenet": {
        "depth": (Knob("block_config", "depths"),),
        "width": (Knob("growth_rate", "int"), Knob("num_init_features", "int")),
        "resolution": _RES,
    },
    "xception": {
        "depth": (Knob("middle_repeats", "int"),),
        "width": tuple(Knob(p, "widths", step=8) for p in ("stem_widths", "entry_widths", "exit_widths")),
        "resolution": _RES,
    },
    "fractalnet": {"width": (Knob("widths", "widths"),), "resolution": _RES},
}
"""Knobs of the built-in families (others: :func:`derived_knobs`)."""

_BY_NAME = {
    "depth_mult": "depth",
    "width_mult": "width",
    "width_multiplier": "width",
    "resolution": "resolution",
}


def derived_knobs(family: Family) -> Knobs:
    """Knobs from parameter names: ``depth_mult``, ``width_mult``/``width_multiplier``, ``resolution``."""
    knobs: Knobs = {}
    for name in family.space.names:
        dim = _BY_NAME.get(name)
        if dim and dim not in knobs:
            knobs[dim] = (Knob(name, "int") if dim == "resolution" else Knob(name),)
    return knobs


def knobs_of(family: Family) -> Knobs:
    """The family's knobs by dimension (from :data:`KNOBS`, else derived from its parameter names)."""
    return KNOBS.get(family.name) or derived_knobs(family)


def describe(knobs: Knobs) -> str:
    """``depth=depth_mult, width=width_mult, resolution=resolution`` (``none`` without any)."""
    return ", ".join(f"{d}={'+'.join(k.param for k in knobs[d])}" for d in DIMENSIONS if d in knobs) or "none"


def apply(base: dict[str, Any], knobs: Knobs, multipliers: dict[str, float]) -> dict[str, Any]:
    """``base`` with every knob of each dimension in ``multipliers`` moved by its multiplier."""
    values = dict(base)
    for dim, m in multipliers.items():
        for knob in knobs[dim]:
            values[knob.param] = knob.apply(base[knob.param], m)
    return values
