"""DenseNet-BC: the growth rate k at fixed depth (Huang et al. 2017), searched with TPE.

Default: DenseNet-BC with depth 22 on digits at 32 px, k in [4, 24], median pruning on
per-epoch validation accuracy. Full study: --set dataset=cifar10 --set epochs=100
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Int

experiment = Experiment(
    name="densenet_growth",
    description="DenseNet-BC growth rate k at fixed depth",
    space=SearchSpace(
        family="densenet",
        search={"growth_rate": Int(4, 24, step=2)},
        fixed={"form": "cifar", "depth": 22},
    ),
    budget="flops<=0.5*densenet_bc_100_12",
    strategy="tpe",
    pruner="median",
    trials=6,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=3, batch_size=64, lr=0.05),
    references=["densenet_bc_100_12"],
)
