"""Metric names, directions, units and the FLOP convention: the one torch-free home for them.

Costs (params, FLOPs, activations, latency) are known before training; training metrics
(accuracy, losses, time) come from a trial. Every table, budget, objective, front and plot
takes its names and directions from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["max", "min"]

FLOP_CONVENTION = "fvcore: 1 multiply-add = 1 flop, batch norm counted as in eval mode, batch 1"
"""What every FLOP number of scalesearch means (fvcore's ``FlopCountAnalysis(...).total()``)."""


@dataclass(frozen=True)
class Metric:
    """A column of the results: its direction, axis label, display scale and unit."""

    name: str
    direction: Direction
    label: str
    scale: float = 1.0
    unit: str = ""
    note: str = ""


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("params", "min", "parameters (millions)", 1e6, "M"),
        Metric("flops", "min", "FLOPs (billions)", 1e9, "G", FLOP_CONVENTION),
        Metric("activations", "min", "activations (millions)", 1e6, "M"),
        Metric("latency_ms", "min", "latency (ms)", 1.0, " ms"),
        Metric("accuracy", "max", "accuracy (%)", 0.01, "%"),
        Metric("val_loss", "min", "validation loss"),
        Metric("train_loss", "min", "training loss"),
        Metric("train_seconds", "min", "training time (s)", 1.0, " s"),
        Metric("duration_s", "min", "trial time (s)", 1.0, " s"),
    )
}

COST_METRICS: tuple[str, ...] = ("params", "flops", "activations", "latency_ms")
"""Costs of a point, known before training; budgets bound these."""

TRAINING_METRICS: tuple[str, ...] = ("accuracy", "val_loss", "train_loss", "train_seconds")
"""What a trial measures by training; objectives may use these or the costs."""

DIRECTIONS: dict[str, Direction] = {name: m.direction for name, m in METRICS.items()}
"""Default direction of each known column."""

_ALIASES: dict[str, Direction] = {
    "max": "max",
    "maximize": "max",
    "maximise": "max",
    "min": "min",
    "minimize": "min",
    "minimise": "min",
}


def direction(text: str) -> Direction | None:
    """``"max"``/``"min"`` for any spelling (Optuna's ``maximize`` included), None if unknown."""
    return _ALIASES.get(str(text).lower())
