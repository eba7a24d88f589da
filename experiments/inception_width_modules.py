"""GoogLeNet: Inception width vs modules per stage under a FLOP budget.

The width multiplier scales every branch of Table 1 (and the stem); the modules per stage take
the first rows of Table 1 for stages 3, 4, 5 (2, 5, 2 in GoogLeNet, the last row repeated past
the table). At a fixed FLOP budget, does accuracy prefer wider modules or more of them? Points
over the budget are recorded with their reason and never trained.

Default: digits at 32 px (the family accepts down to 15 px: the stem and four ceil-mode poolings
leave a 4x4 map for stage 3, 2x2 for stage 4, 1x1 for stage 5), 2 epochs.
ImageNet-scale study: --set dataset=... --set resolution=224 --set budget=flops<=1.1*googlenet
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """The searched "2,5,2" text becomes the family's modules list."""
    return {**values, "modules": [int(n) for n in str(values["modules_per_stage"]).split(",")]}


experiment = Experiment(
    name="inception_width_modules",
    description="GoogLeNet width multiplier vs Inception modules per stage at a fixed FLOP budget",
    space=SearchSpace(
        family="inception",
        search={
            "width_mult": Choice((0.25, 0.35, 0.5, 0.7)),
            "modules_per_stage": Choice(("1,1,1", "1,2,1", "2,3,2", "2,5,2")),
        },
        fixed={"dropout": 0.2},
        derive=derive,
    ),
    budget="flops<=5M",
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=2, batch_size=64, lr=0.05),
    references=["googlenet"],
)
