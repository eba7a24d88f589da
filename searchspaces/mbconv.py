"""MobileNetV2 (Sandler et al., 2018) generalised: inverted residual (MBConv) blocks.

A stride-2 3x3 stem, then the stages of :data:`STAGES` (t, c, n, s): ``n`` inverted residual
blocks of ``c`` output channels, expansion ``t``, the first with stride ``s``. A block is a 1x1
expansion (when t != 1), a 3x3 depthwise convolution (both BN + ReLU6) and a linear 1x1
projection + BN, with an identity shortcut when the stride is 1 and the widths agree. A 1x1
convolution to ``last_channel``, global average pooling, dropout and a linear classifier close
the network. Widths use torchvision's rounding (:func:`~searchspaces.rounding.make_divisible`),
so every point has exactly the parameters of ``torchvision.models.MobileNetV2`` built with the
same width multiplier and stage table.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, count_blocks
from scalesearch.family import REFERENCE_COLUMNS, TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Float, Int, Param, Point, Space, Table
from searchspaces.blocks import ConvNormAct, InvertedResidual, InvertedResidualConfig
from searchspaces.rounding import make_divisible, round_repeats

STAGES = Table(
    columns=("t", "c", "n", "s"),
    rows=(
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ),
)
"""MobileNetV2's stage table (paper Table 2): expansion t, channels c, blocks n, first stride s."""

STEM_CHANNELS = 32
LAST_CHANNEL = 1280
TUNED_EXPANSION = 6
"""Stages whose table t equals this take the ``expand_ratio`` parameter instead."""


def stem_channels(width_mult: float) -> int:
    return make_divisible(STEM_CHANNELS * width_mult, 8)


def last_channel(width_mult: float) -> int:
    """Width of the final 1x1 convolution: never narrowed below 1280 (torchvision's rule)."""
    return make_divisible(LAST_CHANNEL * max(1.0, width_mult), 8)


def blocks(p: Point) -> Iterator[InvertedResidualConfig]:
    """Every inverted residual block of a point (torchvision's MobileNetV2 layout, ReLU6, no SE)."""
    c_in = stem_channels(p["width_mult"])
    for t, c, n, s in STAGES.rows:
        ratio = p["expand_ratio"] if t == TUNED_EXPANSION else t
        c_out = make_divisible(c * p["width_mult"], 8)
        for i in range(round_repeats(n, p["depth_mult"])):
            hidden = int(round(c_in * ratio))
            stride = s if i == 0 else 1
            yield InvertedResidualConfig(
                c_in, hidden, c_out, stride=stride, act=nn.ReLU6, expand=ratio != 1, layout="conv"
            )
            c_in = c_out


class MobileNetV2(nn.Module):
    """Module names and init follow ``torchvision.models.MobileNetV2`` (state dicts interchange)."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        plan, last = list(blocks(p)), last_channel(p["width_mult"])
        self.features = nn.Sequential(
            ConvNormAct(3, plan[0].c_in, stride=2, act=nn.ReLU6),
            *(InvertedResidual(cfg) for cfg in plan),
            ConvNormAct(plan[-1].c_out, last, kernel=1, act=nn.ReLU6),
        )
        self.classifier = nn.Sequential(nn.Dropout(p=p["dropout"]), nn.Linear(last, p["num_classes"]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def build(p: Point) -> nn.Module:
    return MobileNetV2(p)


def complexity(p: Point) -> Counts:
    t = Tally()
    plan, last = list(blocks(p)), last_channel(p["width_mult"])
    size = ConvNormAct.complexity(t, 3, plan[0].c_in, p["resolution"], stride=2)
    size = count_blocks(t, plan, size, InvertedResidual.complexity, lambda cfg: cfg.cost_key)
    size = ConvNormAct.complexity(t, plan[-1].c_out, last, size, kernel=1)
    t.adaptive_avgpool(last, size)
    t.linear(last, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="mbconv",
    params=(
        Param(
            "width_mult",
            Float(0.1, 4.0),
            1.0,
            "alpha: width multiplier of every layer (rounded to 8s)",
            search=Float(0.35, 1.4, step=0.05),
        ),
        Param(
            "depth_mult",
            Float(0.1, 4.0),
            1.0,
            "blocks per stage = ceil(n * depth_mult)",
            search=Float(0.5, 2.0, step=0.25),
        ),
        Param(
            "expand_ratio",
            Float(1.0, 10.0),
            6.0,
            "t of every stage whose table t is 6 (all but the first)",
            search=Choice((1.0, 2.0, 3.0, 4.0, 6.0, 8.0)),
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout before the classifier"),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "input image side in pixels (>= 32: the network downsamples 32x)",
            search=Choice((96, 128, 160, 192, 224)),
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)

FAMILY = Family(
    name="mbconv",
    summary="MobileNetV2 inverted residual blocks: width multiplier, depth multiplier, expansion ratio",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "resolution", *REFERENCE_COLUMNS),
        [("mobilenet_v2", 224, 3_504_872, 314_193_216, "3.4M", "300M")],
        TORCHVISION,
    ),
    test_domains={
        "width_mult": Float(0.1, 1.0, step=0.05),
        "depth_mult": Float(0.1, 0.4, step=0.1),
        "expand_ratio": Float(1.0, 6.0, step=0.5),
        "resolution": Choice((32, 40, 48)),
        "num_classes": Int(2, 20),
    },
    year=2018,
)
