"""VGG: depth vs width at fixed FLOPs (Simonyan & Zisserman 2015 deepen at fixed width; here the
FLOPs are held fixed instead, so a deeper net must be narrower).

For each depth d (3x3 conv-BN-ReLU layers per stage, every stage the same, as VGG's
configurations B/D/E roughly are), the width multiplier is solved so the network costs the
fvcore FLOPs of the d=2, width-1.0 net with the same stages. Each (d, multiplier) is trained and
compared: is the 3x3-stack depth worth its width?

Default: four VGG stages of widths 16, 32, 64, 64 (+BN, one 128-wide hidden layer) on digits at
32 px. Closer to the paper: --set widths=64,128,256,512,512 --set dataset=cifar10 --set epochs=30
"""

from __future__ import annotations

from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.registry import get_family
from scalesearch.space import Choice
from scalesearch.verdict.screen import solve

FIXED = {"batch_norm": True, "avgpool": 1, "head_layers": 1, "head_width": 128, "dropout": 0.0}


def _widths(options: dict[str, Any]) -> list[int]:
    return [int(x) for x in str(options["widths"]).split(",")]


def derive(values: dict[str, Any]) -> dict[str, Any]:
    """Solve the width multiplier at depth d so FLOPs equal the d=2, multiplier-1 net's."""
    fam = get_family("plain")
    base = {k: values[k] for k in (*FIXED, "widths", "resolution", "num_classes")}
    n = len(base["widths"])
    target = fam.complexity({**base, "depths": [2] * n, "width_multiplier": 1.0}).flops
    fixed = {**base, "depths": [values["depth"]] * n}
    multiplier = solve(fam, fixed, "width_multiplier", "flops", target).value
    return {**fixed, "width_multiplier": round(multiplier, 4)}


class DepthWidthStudy(Experiment):
    def all_stages(self):
        from scalesearch.experiment import Stage

        space = SearchSpace(
            family="plain",
            search={"depth": Choice((1, 2, 3, 4))},
            fixed={**FIXED, "widths": _widths(self.options)},
            derive=derive,
        )
        return [Stage("search", space, strategy="grid", trials=self.trials)]


experiment = DepthWidthStudy(
    name="vgg_depth_width",
    description="VGG depth (3x3 convs per stage) vs width multiplier at the FLOPs of the depth-2 net",
    space=SearchSpace(family="plain", search={"depth": Choice((1, 2, 3, 4))}),
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    # 6 epochs: with 3 the deeper (BN-free) networks had barely started (69 % at best); with 6
    # depth 1 reaches 98 %, depth 4 30 %: plain stacks without batch norm train slower the deeper they are
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=6, batch_size=64, lr=0.05),
    options={"widths": "16,32,64,64"},
    references=["vgg11", "vgg16"],
)
