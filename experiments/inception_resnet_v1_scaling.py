"""Inception-ResNet-v1: residual scaling vs blocks per grid (Szegedy et al. 2016, section 3.3).

The paper scales each residual branch by a factor "between 0.1 and 0.3" before the addition, to
keep wide residual Inception networks from dying early in training; the family's default is
0.17 / 0.10 / 0.20 for the A / B / C blocks. Here one factor s multiplies all three defaults,
capped at 1 (s = 1 keeps them; s = 6 leaves A and C unscaled and B at 0.6), crossed with the
number of blocks per grid. Scaling costs nothing (fvcore counts no multiply by a constant), so every point of a
depth has the same FLOPs: does the scale change what a few epochs learn, and does it matter more
in the deeper network?

Default: digits at 75 px (the smallest side the stem and two reductions accept), width 0.1, 4
epochs. ImageNet-scale study: --set dataset=... --set resolution=299 --set epochs=...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

DEFAULT_SCALES = {"scale_a": 0.17, "scale_b": 0.10, "scale_c": 0.20}


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """The searched residual-scale factor and "a,b,c" blocks become the family's parameters."""
    out = {k: v for k, v in values.items() if k not in ("scale_factor", "blocks")}
    factor = float(values["scale_factor"])
    out.update({k: min(1.0, v * factor) for k, v in DEFAULT_SCALES.items()})
    out["modules"] = [int(n) for n in str(values["blocks"]).split(",")]
    return out


experiment = Experiment(
    name="inception_resnet_v1_scaling",
    description="Inception-ResNet-v1 residual scale factor vs blocks per grid at equal FLOPs per depth",
    space=SearchSpace(
        family="inception_resnet_v1",
        search={"scale_factor": Choice((0.5, 1.0, 6.0)), "blocks": Choice(("1,2,1", "2,4,2"))},
        fixed={"width_mult": 0.1, "dropout": 0.0},
        derive=derive,
    ),
    budget="flops<=2M",
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        # 4 full epochs at lr 0.1 (was 2 epochs of 10 steps: accuracies 0.12-0.71)
        dataset="digits",
        resolution=75,
        epochs=4,
        batch_size=64,
        lr=0.1,
    ),
    references=["inception_resnet_v1"],
)
