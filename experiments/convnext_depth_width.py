"""ConvNeXt: depth vs width at a FLOP budget (Liu et al. 2022 scale T -> S by depth, S -> B -> L by width).

Grid over a depth multiple d (stages d, d, 3d, d: ConvNeXt-T is d=3) and a base width w (stages
w, 2w, 4w, 8w: ConvNeXt-T is w=96); points over the budget are recorded with their reason and
never trained. Which spends a FLOP budget better, deeper or wider?
Default: digits at 32 px. A larger study: --set dataset=cifar10 --set epochs=30 --set budget=flops<=200M
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """ConvNeXt-T's stage ratios (1:1:3:1 blocks, 1:2:4:8 channels) at depth d and width w."""
    d, w = values["depth"], values["width"]
    return {**values, "depths": [d, d, 3 * d, d], "dims": [w, 2 * w, 4 * w, 8 * w]}


experiment = Experiment(
    name="convnext_depth_width",
    description="ConvNeXt depth multiple vs base width under a FLOP budget",
    space=SearchSpace(
        family="convnext",
        search={"depth": Choice((1, 2, 3)), "width": Choice((8, 16, 32))},
        fixed={"stochastic_depth_prob": 0.0, "layer_scale": 1e-6},
        derive=derive,
    ),
    budget="flops<=15M",
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        dataset="digits",
        resolution=32,
        epochs=2,
        batch_size=64,
        lr=0.002,
        optimizer="adamw",
        max_batches_per_epoch=15,
    ),
    references=["convnext_tiny", "convnext_small", "convnext_base"],
)
