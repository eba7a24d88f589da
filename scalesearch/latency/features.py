"""Features of a point for a latency model, from the exact analytic counts (no network is built).

One ``family.complexity(point)`` walk under :func:`~scalesearch.cost.analytic.recording` gives the
totals and, per layer type, the FLOPs and the number of layers run. Layer types are grouped (dense
1x1, dense kxk, depthwise, grouped, linear, norm, other), since they run at different speeds: a
depthwise FLOP costs far more time than a dense one, and every layer run costs a fixed overhead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalesearch.cost.analytic import Counts, recording
from scalesearch.family import Family

GROUPS = ("conv1x1", "conv_kxk", "conv_dw", "conv_group", "linear", "norm", "other")
"""Layer-type groups whose FLOPs and layer counts are features."""

FEATURES = (
    "const",
    *(f"flops_{g}" for g in GROUPS),
    "calls_dense",
    "calls_light",
    "activations",
    "params",
)
"""The feature vector, in order: a constant (per-inference overhead), FLOPs by group (batch
included), layers run (``dense``: conv, linear; ``light``: depthwise, grouped, norm, pool, other),
activation values written (batch included) and parameters read."""

BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "bf16": 2}


def group_of(kind: str) -> str:
    """The group of a layer type as :func:`~scalesearch.cost.layer_types.layer_type` names it."""
    if kind.startswith("conv dw"):
        return "conv_dw"
    if kind.startswith("conv group"):
        return "conv_group"
    if kind == "conv 1x1":
        return "conv1x1"
    if kind.startswith("conv"):
        return "conv_kxk"
    if kind == "linear":
        return "linear"
    if kind in ("batch norm", "layer norm"):
        return "norm"
    return "other"


@dataclass(frozen=True)
class PointFeatures:
    """The analytic counts of one point and its feature vector (:data:`FEATURES` order)."""

    counts: Counts
    vector: tuple[float, ...]
    layers: int
    shapes: Mapping[tuple[Any, ...], int] = field(default_factory=dict)
    """Conv, linear and norm layers run, by shape (:attr:`~scalesearch.cost.analytic.Tally.shapes`)."""

    def named(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.vector, strict=True))

    def bytes_moved(self, dtype: str = "fp32") -> float:
        """Parameters read and activations written, once each, in bytes."""
        f = self.named()
        return BYTES_PER_VALUE.get(dtype, 4) * (f["params"] + f["activations"])


def point_features(
    family: Family, point: Mapping[str, Any], batch_size: int = 1, complete: bool = False
) -> PointFeatures:
    """Counts and features of ``point`` at ``batch_size`` images per forward pass; ``complete``:
    the point is a completed one (``family.point``), so it is not validated again."""
    with recording() as tallies:
        counts = family.complexity_fn(dict(point)) if complete else family.complexity(point)
    flops = dict.fromkeys(GROUPS, 0.0)
    calls = {"dense": 0.0, "light": 0.0}
    tagged = 0
    shapes: dict[tuple[Any, ...], int] = {}
    for t in tallies:
        if t.merged:
            continue
        for key, n in t.shapes.items():
            shapes[key] = shapes.get(key, 0) + n
        for kind, (_, _, f) in t.types.items():
            flops[group_of(kind)] += f
            tagged += f
        for kind, n in t.calls.items():
            g = group_of(kind)
            calls["dense" if g in ("conv1x1", "conv_kxk", "linear") else "light"] += n
    flops["other"] += max(counts.flops - tagged, 0)
    vector = (
        1.0,
        *(batch_size * flops[g] for g in GROUPS),
        calls["dense"],
        calls["light"],
        float(batch_size * counts.activations),
        float(counts.params),
    )
    return PointFeatures(counts, vector, int(calls["dense"] + calls["light"]), shapes)


def matrix(rows: Sequence[PointFeatures]) -> np.ndarray:
    """The feature vectors of ``rows`` as an (n, len(FEATURES)) array."""
    return np.array([r.vector for r in rows], dtype=float).reshape(len(rows), len(FEATURES))
