"""The best network across families under one FLOP budget.

One stage per family, all under the same budget; the results table ranks every trial
together, so the top row is the best network of any family that fits. Default: digits at
32 px and a budget of 2% of ResNet-50's FLOPs (at 224 px), random search in each family.
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage
from scalesearch.space import Choice, Float, Int

STAGES = [
    Stage("wrn", SearchSpace("wrn", {"depth": Choice((10, 16)), "widen_factor": Int(1, 4)}), "random", 2),
    Stage(
        "resnet",
        SearchSpace(
            "resnet",
            {"cardinality": Choice((1, 4, 8)), "bottleneck_width": Choice((8, 16, 32))},
            fixed={"layers": [1, 1, 1, 1], "block": "bottleneck"},
        ),
        "random",
        2,
    ),
    Stage("mbconv", SearchSpace("mbconv", {"width_mult": Float(0.25, 1.0, step=0.25)}), "random", 2),
    Stage(
        "densenet",
        SearchSpace("densenet", {"growth_rate": Int(6, 16, step=2)}, fixed={"form": "cifar", "depth": 22}),
        "random",
        2,
    ),
]

experiment = Experiment(
    name="cross_family_budget",
    description="Best network of any family under one FLOP budget",
    stages=STAGES,
    budget="flops<=0.02*resnet50",
    pruner="none",
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=2, batch_size=64, lr=0.05),
    references=["resnet18", "mobilenet_v2", "wrn_16_8", "densenet_bc_100_12"],
)
