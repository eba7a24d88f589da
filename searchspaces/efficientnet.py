"""EfficientNet (Tan & Le, 2019), V1: MBConv blocks with squeeze-excitation, compound scaling.

A stride-2 3x3 stem (BN + SiLU), the stages of :data:`STAGES`, a 1x1 head convolution to
four times the last stage's width, global average pooling, dropout and a linear classifier.
An MBConv block is a 1x1 expansion (skipped when it would not change the width), a kxk
depthwise convolution (both BN + SiLU), squeeze-excitation (squeeze width = block input // 4,
SiLU then sigmoid) and a linear 1x1 projection + BN; blocks with an identity shortcut drop
their residual branch with stochastic depth, its probability rising linearly with the block
index. Widths scale as ``make_divisible(c * width_mult, 8)`` and stage depths as
``ceil(n * depth_mult)``: exactly ``torchvision.models.efficientnet`` for any multipliers.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, count_blocks
from scalesearch.family import REFERENCE_COLUMNS, TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Float, Int, Param, Point, Space, Table
from searchspaces.blocks import ConvNormAct, InvertedResidual, InvertedResidualConfig, Norm
from searchspaces.rounding import make_divisible, round_repeats

STAGES = Table(
    columns=("expand_ratio", "kernel", "stride", "in_channels", "out_channels", "layers"),
    rows=(
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ),
)
"""EfficientNet-B0's stages (paper Table 1); the stem outputs the first row's in_channels."""

HEAD_EXPANSION = 4
"""The head convolution widens the last stage by this factor (1280 channels in B0)."""

COMPOUND_CONSTRAINT = "alpha * beta**2 * gamma**2 ≈ 2"
"""The paper's budget rule for the compound coefficients: FLOPs grow about 2**phi."""


def compound_scaling(
    phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15, base_resolution: int = 224
) -> dict[str, Any]:
    """Compound scaling (paper eq. 3): depth alpha**phi, width beta**phi, resolution gamma**phi.

    The defaults are the paper's grid-searched coefficients for B0 (under
    :data:`COMPOUND_CONSTRAINT`). The released B1..B7 round these by hand (see :data:`CANONICAL`).
    """
    return {
        "depth_mult": alpha**phi,
        "width_mult": beta**phi,
        "resolution": round(base_resolution * gamma**phi),
    }


def adjust_channels(channels: float, width_mult: float) -> int:
    return make_divisible(channels * width_mult, 8)


def stage_sizes(p: Point) -> list[int]:
    """Blocks in each stage: ``ceil(n * depth_mult)``."""
    return [round_repeats(row[-1], p["depth_mult"]) for row in STAGES.rows]


def blocks(p: Point, norm: Norm = nn.BatchNorm2d) -> list[InvertedResidualConfig]:
    """Every MBConv block of a point: SiLU, SE on a quarter of the block input, and stochastic
    depth rising linearly from 0 over the blocks (torchvision's ``MBConv``)."""
    plan = []
    for (expand, kernel, stride, c_in, c_out, _), n in zip(STAGES.rows, stage_sizes(p), strict=True):
        c_in, c_out = adjust_channels(c_in, p["width_mult"]), adjust_channels(c_out, p["width_mult"])
        plan += [(c_in, c_out, expand, kernel, stride)] + [(c_out, c_out, expand, kernel, 1)] * (n - 1)
    return [
        InvertedResidualConfig(
            c_in,
            adjust_channels(c_in, expand),
            c_out,
            kernel,
            stride,
            act=nn.SiLU,
            squeeze=max(1, c_in // 4),
            se_act=partial(nn.SiLU, inplace=True),
            norm=norm,
            drop_path=p["stochastic_depth_prob"] * i / len(plan),
        )
        for i, (c_in, c_out, expand, kernel, stride) in enumerate(plan)
    ]


class EfficientNet(nn.Module):
    """Module names and init follow ``torchvision.models.EfficientNet`` (state dicts interchange)."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        norm: Norm = partial(nn.BatchNorm2d, eps=p["bn_eps"], momentum=p["bn_momentum"])
        plan = blocks(p, norm)
        bounds = itertools.pairwise([0, *itertools.accumulate(stage_sizes(p))])
        stages = [nn.Sequential(*(InvertedResidual(cfg) for cfg in plan[a:b])) for a, b in bounds]
        head = HEAD_EXPANSION * plan[-1].c_out
        self.features = nn.Sequential(
            ConvNormAct(3, plan[0].c_in, stride=2, norm=norm, act=nn.SiLU),
            *stages,
            ConvNormAct(plan[-1].c_out, head, kernel=1, norm=norm, act=nn.SiLU),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=p["dropout"], inplace=True), nn.Linear(head, p["num_classes"])
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
                bound = 1.0 / m.out_features**0.5
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(p: Point) -> nn.Module:
    return EfficientNet(p)


def complexity(p: Point) -> Counts:
    t = Tally()
    plan = blocks(p)
    size = ConvNormAct.complexity(t, 3, plan[0].c_in, p["resolution"], stride=2)
    size = count_blocks(t, plan, size, InvertedResidual.complexity, lambda cfg: cfg.cost_key)
    head = HEAD_EXPANSION * plan[-1].c_out
    size = ConvNormAct.complexity(t, plan[-1].c_out, head, size, kernel=1)
    t.adaptive_avgpool(head, size)
    t.linear(head, p["num_classes"])
    return t.counts()


TF_BN = {"bn_eps": 1e-3, "bn_momentum": 0.01}
"""TensorFlow's batch-norm settings, used by torchvision's B5..B7 (no effect on counts)."""

SPACE = Space(
    name="efficientnet",
    params=(
        Param(
            "width_mult",
            Float(0.1, 4.0),
            1.0,
            "w = beta**phi: channels scale as make_divisible(c * w, 8)",
            search=Float(0.5, 2.0, step=0.05),
        ),
        Param(
            "depth_mult",
            Float(0.1, 6.0),
            1.0,
            "d = alpha**phi: blocks per stage = ceil(n * d)",
            search=Float(0.5, 3.1, step=0.1),
        ),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "r = gamma**phi * 224: input side in pixels (>= 32: downsampled 32x)",
            search=Int(128, 600, step=8),
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout before the classifier"),
        Param(
            "stochastic_depth_prob",
            Float(0.0, 1.0),
            0.2,
            "drop probability of the last block (linear ramp from 0)",
        ),
        Param(
            "bn_eps",
            Float(1e-6, 0.1, log=True),
            1e-5,
            "batch-norm epsilon (1e-3 in TF and torchvision B5..B7)",
        ),
        Param(
            "bn_momentum",
            Float(0.0, 1.0),
            0.1,
            "batch-norm running-stat momentum (0.01 in torchvision B5..B7)",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)


# EfficientNet-B0..B7 as released: multipliers, the paper's resolution (torchvision evaluates B2
# on a 288 crop; the paper's native 260 is kept), dropout, torchvision's exact params, fvcore FLOPs
# at that resolution, and the paper's Table 2 figures. B5..B7 use TF's batch-norm settings.
_COLUMNS = ("name", "width_mult", "depth_mult", "resolution", "dropout", *REFERENCE_COLUMNS)
CANONICAL = canonical_table(
    _COLUMNS,
    (
        ("efficientnet_b0", 1.0, 1.0, 224, 0.2, 5_288_548, 401_659_392, "5.3M", "0.39B"),
        ("efficientnet_b1", 1.0, 1.1, 240, 0.2, 7_794_184, 712_732_416, "7.8M", "0.70B"),
        ("efficientnet_b2", 1.1, 1.2, 260, 0.3, 9_109_994, 1_026_579_120, "9.2M", "1.0B"),
        ("efficientnet_b3", 1.2, 1.4, 300, 0.3, 12_233_232, 1_883_903_568, "12M", "1.8B"),
        ("efficientnet_b4", 1.4, 1.8, 380, 0.4, 19_341_616, 4_512_495_200, "19M", "4.2B"),
    ),
    TORCHVISION,
) + canonical_table(
    _COLUMNS,
    (
        ("efficientnet_b5", 1.6, 2.2, 456, 0.4, 30_389_784, 10_505_072_320, "30M", "9.9B"),
        ("efficientnet_b6", 1.8, 2.6, 528, 0.5, 43_040_704, 19_472_062_160, "43M", "19B"),
        ("efficientnet_b7", 2.0, 3.1, 600, 0.5, 66_347_960, 38_449_437_600, "66M", "37B"),
    ),
    TORCHVISION,
    **TF_BN,
)

FAMILY = Family(
    name="efficientnet",
    summary="EfficientNet (V1) MBConv + squeeze-excitation, compound width/depth/resolution scaling",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=CANONICAL,
    test_domains={
        "width_mult": Float(0.1, 1.0, step=0.05),
        "depth_mult": Float(0.1, 0.4, step=0.1),
        "resolution": Choice((32, 45, 48)),
        "num_classes": Int(2, 20),
    },
    year=2019,
)
