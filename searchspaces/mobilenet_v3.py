"""MobileNetV3 (Howard et al., 2019): inverted residuals with SE, hard-swish and per-block kernels.

A stride-2 3x3 stem (16 channels, BN + hard-swish), the bneck blocks of :data:`BLOCKS` (the
paper's Tables 1 and 2, as torchvision lists them), a 1x1 convolution to six times the last
block's width (BN + hard-swish), global average pooling, and a classifier of two linear layers
(hard-swish and dropout between them). A bneck block is :class:`~searchspaces.blocks.InvertedResidual`
(the one MobileNetV2 and EfficientNet use): a 1x1 expansion when it changes the width, a kxk
depthwise convolution (both BN + ReLU or hard-swish), an optional squeeze-excitation
(``make_divisible(hidden // 4, 8)`` wide, ReLU then hard-sigmoid) and a linear 1x1 projection.
Batch norm has eps 1e-3 and momentum 0.01. Every width, the classifier's hidden width included,
is ``make_divisible(c * width_mult, 8)``: exactly ``torchvision.models.mobilenet_v3_large`` /
``mobilenet_v3_small`` for any width multiplier. ``expand_mult`` scales each block's expansion
width and ``kernel`` replaces every depthwise kernel (the searchable parts).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, count_blocks
from scalesearch.family import REFERENCE_COLUMNS, TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Float, Int, Param, Point, Space, Table
from searchspaces.blocks import ConvNormAct, InvertedResidual, InvertedResidualConfig, Norm
from searchspaces.rounding import make_divisible

_COLUMNS = ("kernel", "expanded", "out", "se", "nl", "stride")
BLOCKS: dict[str, Table] = {
    "large": Table(
        _COLUMNS,
        (
            (3, 16, 16, False, "RE", 1),
            (3, 64, 24, False, "RE", 2),
            (3, 72, 24, False, "RE", 1),
            (5, 72, 40, True, "RE", 2),
            (5, 120, 40, True, "RE", 1),
            (5, 120, 40, True, "RE", 1),
            (3, 240, 80, False, "HS", 2),
            (3, 200, 80, False, "HS", 1),
            (3, 184, 80, False, "HS", 1),
            (3, 184, 80, False, "HS", 1),
            (3, 480, 112, True, "HS", 1),
            (3, 672, 112, True, "HS", 1),
            (5, 672, 160, True, "HS", 2),
            (5, 960, 160, True, "HS", 1),
            (5, 960, 160, True, "HS", 1),
        ),
    ),
    "small": Table(
        _COLUMNS,
        (
            (3, 16, 16, True, "RE", 2),
            (3, 72, 24, False, "RE", 2),
            (3, 88, 24, False, "RE", 1),
            (5, 96, 40, True, "HS", 2),
            (5, 240, 40, True, "HS", 1),
            (5, 240, 40, True, "HS", 1),
            (5, 120, 48, True, "HS", 1),
            (5, 144, 48, True, "HS", 1),
            (5, 288, 96, True, "HS", 2),
            (5, 576, 96, True, "HS", 1),
            (5, 576, 96, True, "HS", 1),
        ),
    ),
}
"""The bneck blocks (paper Tables 1 and 2): depthwise kernel, expansion width, output width,
squeeze-excitation, nonlinearity (RE: ReLU, HS: hard-swish) and stride."""

STEM_CHANNELS = 16
HEAD_EXPANSION = 6
"""The last 1x1 convolution widens the last block by this factor (960 in large, 576 in small)."""
CLASSIFIER_HIDDEN = {"large": 1280, "small": 1024}
NONLINEARITY = {"RE": nn.ReLU, "HS": nn.Hardswish}
BN = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


def blocks(p: Point, norm: Norm = BN) -> list[InvertedResidualConfig]:
    """Every bneck block of a point, as torchvision's ``_mobilenet_v3_conf`` lays them out."""
    w = p["width_mult"]
    c_in, plan = make_divisible(STEM_CHANNELS * w, 8), []
    for kernel, expanded, out, se, nl, stride in BLOCKS[p["arch"]].rows:
        hidden = make_divisible(expanded * p["expand_mult"] * w, 8)
        c_out = make_divisible(out * w, 8)
        plan.append(
            InvertedResidualConfig(
                c_in,
                hidden,
                c_out,
                p["kernel"] or kernel,
                stride,
                act=NONLINEARITY[nl],
                squeeze=make_divisible(hidden // 4, 8) if se else 0,
                se_gate=nn.Hardsigmoid,
                norm=norm,
            )
        )
        c_in = c_out
    return plan


def widths(p: Point, plan: list[InvertedResidualConfig]) -> tuple[int, int]:
    """The head convolution's width and the classifier's hidden width."""
    return HEAD_EXPANSION * plan[-1].c_out, make_divisible(CLASSIFIER_HIDDEN[p["arch"]] * p["width_mult"], 8)


class MobileNetV3(nn.Module):
    """Module names and init follow ``torchvision.models.MobileNetV3`` (state dicts interchange)."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=p["bn_momentum"])
        plan = blocks(p, norm)
        head, hidden = widths(p, plan)
        self.features = nn.Sequential(
            ConvNormAct(3, plan[0].c_in, stride=2, norm=norm, act=nn.Hardswish),
            *(InvertedResidual(cfg) for cfg in plan),
            ConvNormAct(plan[-1].c_out, head, kernel=1, norm=norm, act=nn.Hardswish),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(head, hidden),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=p["dropout"], inplace=True),
            nn.Linear(hidden, p["num_classes"]),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(p: Point) -> nn.Module:
    return MobileNetV3(p)


def complexity(p: Point) -> Counts:
    t = Tally()
    plan = blocks(p)
    head, hidden = widths(p, plan)
    size = ConvNormAct.complexity(t, 3, plan[0].c_in, p["resolution"], stride=2)
    size = count_blocks(t, plan, size, InvertedResidual.complexity, lambda cfg: cfg.cost_key)
    size = ConvNormAct.complexity(t, plan[-1].c_out, head, size, kernel=1)
    t.adaptive_avgpool(head, size)
    t.linear(head, hidden)
    t.linear(hidden, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="mobilenet_v3",
    params=(
        Param("arch", Choice(("large", "small")), "large", "the block table: MobileNetV3-Large or -Small"),
        Param(
            "width_mult",
            Float(0.1, 4.0),
            1.0,
            "alpha: every width, classifier included, is make_divisible(c * alpha, 8)",
            search=Float(0.35, 1.5, step=0.05),
        ),
        Param(
            "expand_mult",
            Float(0.25, 4.0),
            1.0,
            "scales each block's expansion width (the table's exp size); 1: the paper's",
            search=Choice((0.5, 0.75, 1.0, 1.25, 1.5)),
        ),
        Param(
            "kernel",
            Choice((3, 5, 7)),
            None,
            "depthwise kernel of every block; none: the paper's per-block 3x3/5x5",
            search=Choice((3, 5, 7)),
        ),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "input image side in pixels (>= 32: the network downsamples 32x)",
            search=Choice((96, 128, 160, 192, 224)),
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout between the two classifier layers"),
        Param(
            "bn_momentum",
            Float(0.0, 1.0),
            0.01,
            "batch-norm running-stat momentum (torchvision's 0.01; 0.1 suits runs of a few hundred steps)",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)

FAMILY = Family(
    name="mobilenet_v3",
    summary="MobileNetV3 large/small: inverted residuals + SE, hard-swish, per-block kernels, width multiplier",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "arch", *REFERENCE_COLUMNS),
        [
            ("mobilenet_v3_large", "large", 5_483_032, 226_033_824, "5.4M", "219M"),
            ("mobilenet_v3_small", "small", 2_542_856, 59_649_536, "2.5M", "56M"),
        ],
        TORCHVISION,
        resolution=224,
    ),
    test_points=60,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "arch": Choice(("large", "small")),
        "width_mult": Float(0.1, 0.5, step=0.05),
        "expand_mult": Float(0.5, 1.5, step=0.25),
        "kernel": Choice((None, 3, 5, 7)),
        "resolution": Choice((32, 40, 47)),
        "num_classes": Int(2, 20),
    },
    year=2019,
)
