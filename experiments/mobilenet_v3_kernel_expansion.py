"""MobileNetV3: depthwise kernel vs expansion width at a FLOP budget (Howard et al. 2019 search space).

The platform-aware search that produced MobileNetV3 chose each block's kernel (3x3 or 5x5) and
expansion width; here every block shares one kernel k and the paper's expansion widths are scaled by
e. Grid over (k, e) on MobileNetV3-Small at width 0.5; points over the budget are recorded with their
reason and never trained. Is a larger kernel or a wider expansion the better use of FLOPs?
Default: digits at 32 px. A larger study: --set dataset=cifar10 --set epochs=30 --set arch=large
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

experiment = Experiment(
    name="mobilenet_v3_kernel_expansion",
    description="MobileNetV3 shared depthwise kernel vs expansion multiplier under a FLOP budget",
    space=SearchSpace(
        family="mobilenet_v3",
        search={"kernel": Choice((3, 5, 7)), "expand_mult": Choice((0.5, 1.0, 1.5))},
        # torchvision's BN momentum 0.01 leaves the running statistics near their init after a
        # few dozen steps, so every trial would evaluate at chance; 0.1 follows them.
        fixed={"arch": "small", "width_mult": 0.5, "dropout": 0.0, "bn_momentum": 0.1},
    ),
    budget="flops<=1M",
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        # 6 full epochs at lr 0.1 (was 2 epochs of 15 steps: every network stayed at chance)
        dataset="digits",
        resolution=32,
        epochs=6,
        batch_size=64,
        lr=0.1,
    ),
    references=["mobilenet_v3_small", "mobilenet_v3_large"],
)
