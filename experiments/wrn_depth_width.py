"""Wide-ResNet: depth vs widen factor (Zagoruyko & Komodakis 2016, Table 4), under a parameter budget.

Grid over depth (6N+4) and widen factor k; points over the budget are recorded with
their reason and never trained. Default: digits at 32 px; the paper's CIFAR study:
--set dataset=cifar10 --set epochs=200 --set budget=params<=40M
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

experiment = Experiment(
    name="wrn_depth_width",
    description="WRN depth vs width at a fixed parameter budget",
    space=SearchSpace(
        family="wrn",
        search={"depth": Choice((10, 16, 22)), "widen_factor": Choice((1, 2, 4))},
        fixed={"dropout": 0.0},
    ),
    budget="params<=1.5M",
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=2, batch_size=64, lr=0.05),
    references=["wrn_16_8", "wrn_28_10", "wrn_40_4"],
)
