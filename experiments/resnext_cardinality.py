"""ResNeXt: cardinality vs bottleneck width at fixed complexity (Xie et al. 2017, Table 2/3).

For each cardinality C, the bottleneck width d is solved so the network keeps the
parameter count of the C=1 ResNet with the same stages (for depth 50 this reproduces the
paper's 1x64d, 2x40d, 4x24d, 8x14d, 32x4d). Each (C, d) is trained and compared.

Default: a 4-stage bottleneck ResNet with one block per stage on digits at 32 px.
The paper's study: --set layers=3,4,6,3 --set dataset=cifar10 --set epochs=30
"""

from __future__ import annotations

from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.registry import get_family
from scalesearch.space import Choice
from scalesearch.verdict.screen import solve


def _layers(options: dict[str, Any]) -> list[int]:
    return [int(x) for x in str(options["layers"]).split(",")]


def derive(values: dict[str, Any]) -> dict[str, Any]:
    """Solve d for cardinality C so params match C=1, d=64 with the same stages."""
    fam = get_family("resnet")
    base = {k: values[k] for k in ("layers", "block", "resolution", "num_classes")}
    target = fam.complexity({**base, "cardinality": 1, "bottleneck_width": 64}).params
    d = solve(fam, {**base, "cardinality": values["cardinality"]}, "bottleneck_width", "params", target).value
    return {**base, "cardinality": values["cardinality"], "bottleneck_width": d}


class CardinalityStudy(Experiment):
    def all_stages(self):
        from scalesearch.experiment import Stage

        space = SearchSpace(
            family="resnet",
            search={"cardinality": Choice((1, 2, 4, 8, 32))},
            fixed={"layers": _layers(self.options), "block": "bottleneck"},
            derive=derive,
        )
        return [Stage("search", space, strategy="grid", trials=self.trials)]


experiment = CardinalityStudy(
    name="resnext_cardinality",
    description="ResNeXt cardinality C vs bottleneck width d at the complexity of the C=1 ResNet",
    space=SearchSpace(family="resnet", search={"cardinality": Choice((1, 2, 4, 8, 32))}),
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=2, batch_size=64, lr=0.05),
    options={"layers": "1,1,1,1"},
    references=["resnet50", "resnext50_32x4d"],
)
