"""BN-Inception: the separable first conv vs a plain one, across widths (Ioffe & Szegedy 2015, appendix).

The paper's model makes conv1 a 7x7/2 separable conv with depth multiplier 8 ("this reduces the
computational cost while increasing the memory consumption at training time"); the Caffe ports
use a plain 7x7 conv. Grid over the stem's depth multiplier (0 = plain, 1, 8) and the width
multiplier: what does the cheaper stem cost in accuracy, and is that cost the same at every
width? Points over the budget are recorded with their reason and never trained.

Default: digits at 32 px (every downsampling is 'same'-padded, so any side works), one stride-1
module per stage, 4 epochs. ImageNet-scale study: --set dataset=... --set resolution=224
--set budget=flops<=1.1*bn_inception
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

experiment = Experiment(
    name="bn_inception_stem",
    description="BN-Inception separable (depth multiplier 1, 8) vs plain 7x7 stem across width multipliers",
    space=SearchSpace(
        family="bn_inception",
        search={"stem_depth_multiplier": Choice((0, 1, 8)), "width_mult": Choice((0.25, 0.5))},
        fixed={"modules": [1, 1, 1], "dropout": 0.0},
    ),
    budget="flops<=20M",
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        # 4 full epochs at lr 0.1 (was 2 epochs of 10 steps: accuracies 0.40-0.53 said nothing)
        dataset="digits",
        resolution=32,
        epochs=4,
        batch_size=64,
        lr=0.1,
    ),
    references=["bn_inception", "googlenet"],
)
