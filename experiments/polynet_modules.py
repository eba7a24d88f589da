"""PolyNet: which second-order PolyInception at equal FLOPs -- poly-2, mpoly-2, 2-way, or twice the
Inception residual units?

Zhang et al. 2017 replace each Inception residual unit of a shallow Inception-ResNet by a
PolyInception module. Every order-2 module evaluates two Inception blocks, so poly-2 (I + F + F.F,
F shared), mpoly-2 (I + F + G.F) and 2-way (I + F + G) cost exactly the FLOPs of the same stages
with twice as many plain units ("ir"): the four trials below are one FLOP budget with different
structure (poly-2 with fewer parameters: F's convolutions are shared). Every stage uses one module type.

Default: tiny widths (1/8 of PolyNet's), modules 1-2-1 (ir: 2-4-2), residual scale 0.3 everywhere,
digits at 75 px (the smallest side the stem and the two reductions allow), AdamW, 4 epochs of 12
batches.
At the released model's input size: --set dataset=... --set resolution=331.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

DEPTHS = [1, 2, 1]
"""PolyInception modules per grid (A, B, C) for the order-2 modules; "ir" gets twice as many units."""


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """One module type on every grid; plain units doubled so every trial evaluates the same blocks."""
    kind = values["module"]
    depths = [2 * d for d in DEPTHS] if kind == "ir" else DEPTHS
    rest = {k: v for k, v in values.items() if k != "module"}
    return {**rest, "depths": depths, "modules_a": kind, "modules_b": kind, "modules_c": kind}


experiment = Experiment(
    name="polynet_modules",
    description="PolyNet: poly-2 vs mpoly-2 vs 2-way vs twice the Inception residual units, at equal FLOPs",
    space=SearchSpace(
        family="polynet",
        search={"module": Choice(("ir", "poly-2", "mpoly-2", "2-way"))},
        fixed={"width_multiplier": 0.125, "dropout": 0.0, "scale_first": 0.3, "scale_last": 0.3},
        derive=derive,
    ),
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        dataset="digits",
        resolution=75,
        epochs=4,
        batch_size=64,
        lr=0.002,
        optimizer="adamw",
        max_batches_per_epoch=12,
    ),
    references=["polynet"],
)
