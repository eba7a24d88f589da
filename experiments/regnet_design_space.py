"""RegNet: sampling the design space under a FLOP budget (Radosavovic et al. 2020, Sections 3-4).

The paper's own experiment: draw random (w0, wa, wm, d) of the quantised-linear design space,
keep the models inside a FLOP regime, train each briefly and compare the error distributions
(EDFs) of design spaces: rerun with --set se_ratio=0.25 for RegNetY against the default RegNetX,
or narrow a domain to see whether it shifts the EDF. Points over the budget are recorded with their
reason and never trained. Default: digits at 32 px, 8 samples of 1 short epoch.
The paper's regime (ImageNet 224 px, 400MF): --set budget=flops<=400M --set dataset=... --set trials=100
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Float, Int

experiment = Experiment(
    name="regnet_design_space",
    description="RegNet random (w0, wa, wm, d) samples under a FLOP budget: an EDF of the design space",
    space=SearchSpace(
        family="regnet",
        search={
            "w0": Int(8, 64, step=8),
            "wa": Float(4.0, 48.0),
            "wm": Float(1.5, 3.0),
            "depth": Int(4, 16),
        },
        fixed={"group_width": 8, "bottleneck_ratio": 1.0, "se_ratio": 0.0, "stem_width": 16},
    ),
    budget="flops<=6M",
    strategy="random",
    pruner="none",
    trials=8,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        # 4 full epochs at lr 0.1 (was 1 epoch of 20 steps: every network stayed near chance);
        # about a minute alone on 2 cores
        dataset="digits",
        resolution=32,
        epochs=4,
        batch_size=64,
        lr=0.1,
    ),
    references=["regnet_x_400mf", "regnet_y_400mf"],
)
