"""Res2Net: scale s vs width w at fixed FLOPs (Gao et al. 2019: 48w2s, 26w4s, 14w8s at ResNet-50's cost).

For each scale s, the base width w is solved so the network keeps the fvcore FLOPs of the s=1,
w=64 network with the same stages (a plain ResNet bottleneck: one 3x3 of planes channels). At
depth 50 and 224 px (ResNet-50's 4.11 GFLOPs) this gives 47w2s, 25w4s and 14w8s, the paper's
48w2s, 26w4s and 14w8s rounded to the nearest FLOPs: more, narrower scale groups for the same
compute. Each (s, w) is trained and compared: does a finer multi-scale split buy accuracy?

Default: a 4-stage Res2Net with one block per stage on digits at 32 px, a few batches per epoch.
The paper's study: --set layers=3,4,6,3 --set dataset=cifar10 --set epochs=30
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage
from scalesearch.registry import get_family
from scalesearch.space import Choice
from scalesearch.verdict.screen import solve

SCALES = Choice((1, 2, 4, 8))


def _layers(options: Mapping[str, Any]) -> list[int]:
    return [int(x) for x in str(options["layers"]).split(",")]


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """Solve w for scale s so the FLOPs match s=1, w=64 with the same stages and resolution."""
    fam = get_family("res2net")
    base = {k: values[k] for k in ("layers", "resolution", "num_classes")}
    target = fam.complexity({**base, "scale": 1, "base_width": 64}).flops
    w = solve(fam, {**base, "scale": values["scale"]}, "base_width", "flops", target).value
    return {**base, "scale": values["scale"], "base_width": w}


class ScaleWidthStudy(Experiment):
    def all_stages(self) -> list[Stage]:
        space = SearchSpace(
            family="res2net", search={"scale": SCALES}, fixed={"layers": _layers(self.options)}, derive=derive
        )
        return [Stage("search", space, strategy="grid", trials=self.trials)]


experiment = ScaleWidthStudy(
    name="res2net_scale_width",
    description="Res2Net scale s vs base width w at the FLOPs of the s=1, w=64 bottleneck network",
    space=SearchSpace(family="res2net", search={"scale": SCALES}),
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        # 4 full epochs at lr 0.1 (was 2 epochs of 15 steps: accuracies of 0.10-0.27 said nothing)
        dataset="digits",
        resolution=32,
        epochs=4,
        batch_size=64,
        lr=0.1,
    ),
    options={"layers": "1,1,1,1"},
    references=["res2net50_48w_2s", "res2net50_26w_4s", "res2net50_14w_8s"],
)
