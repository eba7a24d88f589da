"""MobileNetV1 (Howard et al., 2017): depthwise separable convolutions, width multiplier α and
resolution multiplier ρ.

A stride-2 3x3 stem, then the stages of :data:`STAGES` (the body of the paper's Table 1): ``n``
depthwise separable blocks of ``c`` output channels, the first with stride ``s``. A block is a
3x3 depthwise convolution and a 1x1 pointwise convolution, each followed by batch norm and ReLU6,
with no shortcut. Global average pooling, dropout and a linear classifier close the network.
Every width is ``make_divisible(c * width_mult, 8)`` and stage depths ``ceil(n * depth_mult)``:
exactly timm's ``_gen_mobilenet_v1`` (``mobilenetv1_100``, ``mobilenetv1_125``) for any
multipliers. The paper's ρ is the input side here (``resolution``: 224, 192, 160, 128).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Float, Int, Param, Point, Space, Table
from searchspaces.blocks import BatchNormAct2d
from searchspaces.rounding import make_divisible, round_repeats

STAGES = Table(
    columns=("c", "n", "s"),
    rows=((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2)),
)
"""Table 1's body as stages: channels c, depthwise separable blocks n, first stride s (the
paper's last "Conv dw / s2" runs at stride 1 on 7x7, as in every implementation)."""

STEM_CHANNELS = 32

PAPER_TABLE = Table(
    columns=("width_mult", "resolution", "mult_adds", "params"),
    rows=(
        (1.0, 224, "569M", "4.2M"),
        (0.75, 224, "325M", "2.6M"),
        (0.5, 224, "149M", "1.3M"),
        (0.25, 224, "41M", "0.5M"),
        (1.0, 192, "418M", None),
        (1.0, 160, "290M", None),
        (1.0, 128, "186M", None),
    ),
)
"""The paper's Tables 6 (α at 224 px) and 7 (ρ at α = 1), 1000 classes: mult-adds are conv and
linear multiply-adds (batch norm not counted), params include biases and batch norm."""

TIMM = "timm 1.0.31 timm.create_model('{name}', pretrained=False), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x224x224"


def channels(c: int, width_mult: float) -> int:
    """timm's ``round_channels``: the nearest multiple of 8, never 10% below ``c * width_mult``."""
    return make_divisible(c * width_mult, 8)


def plan(p: Point) -> list[list[tuple[int, int, int]]]:
    """Every block's (c_in, c_out, stride), stage by stage."""
    c_in, stages = channels(STEM_CHANNELS, p["width_mult"]), []
    for c, n, s in STAGES.rows:
        c_out, stage = channels(c, p["width_mult"]), []
        for i in range(round_repeats(n, p["depth_mult"])):
            stage.append((c_in, c_out, s if i == 0 else 1))
            c_in = c_out
        stages.append(stage)
    return stages


class DepthwiseSeparableConv(nn.Module):
    """3x3 depthwise conv + BN + ReLU6, then 1x1 pointwise conv + BN + ReLU6 (timm's ``dsa`` block:
    ``conv_dw, bn1, aa, se, conv_pw, bn2, drop_path``; no shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        self.bn1 = BatchNormAct2d(c_in, act)
        self.aa = nn.Identity()
        self.se = nn.Identity()
        self.conv_pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = BatchNormAct2d(c_out, act)
        self.drop_path = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv_pw(self.se(self.aa(self.bn1(self.conv_dw(x))))))

    @staticmethod
    def complexity(t: Tally, c_in: int, c_out: int, stride: int, size: int) -> int:
        size = t.conv(c_in, c_in, size, 3, stride, 1, groups=c_in)
        t.bn(c_in, size)
        t.conv(c_in, c_out, size, 1)
        t.bn(c_out, size)
        return size


class MobileNetV1(nn.Module):
    """Module names follow timm's ``EfficientNet`` as ``_gen_mobilenet_v1`` builds it (state dicts
    interchange): ``conv_stem, bn1, blocks.{stage}.{block}, global_pool, classifier``."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        stages = plan(p)
        stem, last = stages[0][0][0], stages[-1][-1][1]
        self.dropout = p["dropout"]
        self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = BatchNormAct2d(stem, nn.ReLU6)
        self.blocks = nn.Sequential(
            *(nn.Sequential(*(DepthwiseSeparableConv(*b) for b in stage)) for stage in stages)
        )
        self.conv_head = nn.Identity()
        self.bn2 = nn.Identity()
        self.global_pool = nn.Sequential(OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1)))
        self.classifier = nn.Linear(last, p["num_classes"])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))
        x = self.global_pool(x)
        if self.dropout > 0.0:
            x = torch.nn.functional.dropout(x, self.dropout, self.training)
        return self.classifier(x)


def build(p: Point) -> nn.Module:
    return MobileNetV1(p)


def complexity(p: Point) -> Counts:
    """Mirrors :class:`MobileNetV1` layer by layer."""
    t, stages = Tally(), plan(p)
    stem, last = stages[0][0][0], stages[-1][-1][1]
    size = t.conv(3, stem, p["resolution"], 3, 2, 1)
    t.bn(stem, size)
    for stage in stages:
        for c_in, c_out, stride in stage:
            size = DepthwiseSeparableConv.complexity(t, c_in, c_out, stride, size)
    t.adaptive_avgpool(last, size)
    t.linear(last, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="mobilenet_v1",
    params=(
        Param(
            "width_mult",
            Float(0.1, 4.0),
            1.0,
            "alpha: width multiplier of every layer (rounded to 8s)",
            search=Choice((0.25, 0.5, 0.75, 1.0, 1.25)),
        ),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "input side in pixels: the paper's resolution multiplier rho as 224 * rho",
            search=Choice((128, 160, 192, 224)),
        ),
        Param("depth_mult", Float(0.1, 4.0), 1.0, "blocks per stage = ceil(n * depth_mult)"),
        Param("dropout", Float(0.0, 0.9), 0.0, "dropout before the classifier (timm's drop_rate)"),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)

FAMILY = Family(
    name="mobilenet_v1",
    summary="MobileNetV1 depthwise separable stack: width multiplier alpha, resolution rho",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "width_mult", "params", "flops"),
        [
            ("mobilenetv1_100", 1.0, 4_231_976, 578_875_904),
            ("mobilenetv1_125", 1.25, 6_270_840, 892_186_240),
        ],
        TIMM,
    ),
    test_points=100,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "width_mult": Float(0.1, 0.5, step=0.05),
        "depth_mult": Float(0.1, 0.4, step=0.1),
        "resolution": Choice((32, 33)),
        "num_classes": Int(2, 20),
    },
    year=2017,
)
