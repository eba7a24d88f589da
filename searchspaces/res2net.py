"""Res2Net (Gao et al., Res2Net: A New Multi-scale Backbone Architecture, 2019), as timm builds it
(``timm.models.res2net``: timm's ``ResNet`` with its ``Bottle2neck`` block).

The ResNet-50/101 skeleton of :mod:`searchspaces.resnet` (7x7/2 stem and max pool, four stages of
planes 64..512 at strides 1, 2, 2, 2, 1x1 conv + BN shortcut where the shape changes, global
average pooling, linear head), with the bottleneck's 3x3 replaced by the Res2Net module:

- a 1x1 conv to ``s * w'`` channels, split into ``s`` groups of ``w' = floor(planes * w / 64) * C``
  channels (``w`` the base width, ``s`` the scale, ``C`` the cardinality of the 3x3s);
- ``s - 1`` 3x3 convs (each BN + ReLU) in a hierarchy: group ``i`` is convolved after adding the
  previous group's output (``y_i = K_i(x_i + y_{i-1})``), so later groups see larger receptive
  fields; the last group passes through unchanged;
- in the first block of a stage the groups are not chained (each ``K_i(x_i)``, with the stride),
  and the last group goes through a 3x3 average pool with the stride instead;
- concatenation, a 1x1 conv to ``4 * planes``, BN, the shortcut and ReLU.

Res2Net-50 26w4s is depth 50, w=26, s=4; the paper's fixed-complexity variants of ResNet-50 are
48w2s, 26w4s and 14w8s; Res2NeXt-50 is w=4, C=8, s=4. ``s=1`` is a plain bottleneck (one 3x3).
Module names match timm's, so its ``state_dict`` loads strictly into :func:`build`'s network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Int, IntList, Param, Point, Space
from searchspaces.resnet import (
    DEPTHS,
    STAGE_PLANES,
    STAGE_STRIDES,
    STEM_WIDTH,
    _downsample,
    _downsample_complexity,
)

EXPANSION = 4
LAYERS = {depth: layers for depth, (block, layers) in DEPTHS.items() if block == "bottleneck"}
"""Blocks per stage for the bottleneck depths of ResNet (He et al. 2016, Table 1)."""

TIMM = "timm 1.0.31 timm.create_model('{name}', pretrained=False), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x224x224"


def split_width(planes: int, base_width: int, cardinality: int) -> int:
    """Channels of one scale group: timm's ``int(math.floor(planes * (base_width / 64.0))) * cardinality``."""
    return planes * base_width // 64 * cardinality


class Bottle2neck(nn.Module):
    """The Res2Net bottleneck (timm ``Bottle2neck``: ``conv1``/``bn1``, ``convs.i``/``bns.i``, ``pool``,
    ``conv3``/``bn3``, ``downsample``), without SE, drop-block or drop-path."""

    def __init__(
        self, c_in: int, planes: int, stride: int, cardinality: int, base_width: int, scale: int
    ) -> None:
        super().__init__()
        width = split_width(planes, base_width, cardinality)
        c_out = planes * EXPANSION
        self.scale, self.width = scale, width
        downsample = _downsample(c_in, c_out, stride)
        self.is_first = stride > 1 or downsample is not None
        self.conv1 = nn.Conv2d(c_in, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        n = max(1, scale - 1)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride, 1, groups=cardinality, bias=False) for _ in range(n)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(n))
        self.pool = nn.AvgPool2d(3, stride, 1) if self.is_first else None
        self.conv3 = nn.Conv2d(width * scale, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample  # registered last: timm's state-dict order

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        spx = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, 1)
        outs: list[Tensor] = []
        sp = spx[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            sp = spx[i] if i == 0 or self.is_first else sp + spx[i]
            sp = self.relu(bn(conv(sp)))
            outs.append(sp)
        if self.scale > 1:
            outs.append(self.pool(spx[-1]) if self.pool is not None else spx[-1])
        out = self.bn3(self.conv3(torch.cat(outs, 1)))
        out += shortcut
        return self.relu(out)

    @staticmethod
    def complexity(
        t: Tally,
        c_in: int,
        planes: int,
        stride: int,
        cardinality: int,
        base_width: int,
        scale: int,
        *,
        size: int,
    ) -> int:
        width = split_width(planes, base_width, cardinality)
        c_out = planes * EXPANSION
        t.conv(c_in, width * scale, size, 1)
        t.bn(width * scale, size)
        out = size
        for _ in range(max(1, scale - 1)):
            out = t.conv(width, width, size, 3, stride, groups=cardinality)
            t.bn(width, out)
        # the average pool of the last group is not counted by fvcore; split, cat and add neither
        t.conv(width * scale, c_out, out, 1)
        t.bn(c_out, out)
        _downsample_complexity(t, c_in, c_out, stride, size)
        return out


class Res2Net(nn.Module):
    """timm's ``ResNet`` with ``Bottle2neck`` blocks (default stem, no dilation), same module names."""

    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self, layers: list[int], cardinality: int, base_width: int, scale: int, num_classes: int
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_WIDTH, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = STEM_WIDTH
        for i, (planes, stride, n) in enumerate(zip(STAGE_PLANES, STAGE_STRIDES, layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(
                    Bottle2neck(c_in, planes, stride if j == 0 else 1, cardinality, base_width, scale)
                )
                c_in = planes * EXPANSION
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():  # timm's ResNet.init_weights, zero_init_last=True
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, Bottle2neck):
                nn.init.zeros_(m.bn3.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.global_pool(x), 1))


def build(p: Point) -> nn.Module:
    return Res2Net(p["layers"], p["cardinality"], p["base_width"], p["scale"], p["num_classes"])


def complexity(p: Point) -> Counts:
    t = Tally()
    size = t.conv(3, STEM_WIDTH, p["resolution"], 7, 2)
    t.bn(STEM_WIDTH, size)
    size = conv_out(size, 3, 2, 1)  # max pool: not counted by fvcore
    c_in = STEM_WIDTH
    for planes, stride, n in zip(STAGE_PLANES, STAGE_STRIDES, p["layers"], strict=True):
        for j in range(n):
            size = Bottle2neck.complexity(
                t,
                c_in,
                planes,
                stride if j == 0 else 1,
                p["cardinality"],
                p["base_width"],
                p["scale"],
                size=size,
            )
            c_in = planes * EXPANSION
    t.adaptive_avgpool(c_in, size)
    t.linear(c_in, p["num_classes"])
    return t.counts()


def _resolve(p: Point) -> Point:
    """Fill ``layers`` from ``depth`` where it is not given."""
    return {**p, "layers": p["layers"] or list(LAYERS[p["depth"]])}


SPACE = Space(
    name="res2net",
    params=(
        Param(
            "depth",
            Choice(tuple(LAYERS)),
            50,
            "Res2Net-{50, 101, 152, 200}: blocks per stage as in ResNet (an explicit layers overrides it)",
            search=Choice((50, 101)),
        ),
        Param("layers", IntList(1, 64, 4, 4), None, "blocks per stage (4 stages); default: from depth"),
        Param(
            "scale",
            Int(1, 16),
            4,
            "s: scale groups of a block (s - 1 hierarchical 3x3 convs); 26w4s is s=4, s=1 a plain bottleneck",
            search=Choice((1, 2, 4, 6, 8)),
        ),
        Param(
            "base_width",
            Int(1, 1024),
            26,
            "w: channels of one scale group in stage 1 (floor(planes * w / 64) per stage); 26w4s is w=26",
            search=Choice((14, 18, 26, 36, 48, 64)),
        ),
        Param(
            "cardinality",
            Int(1, 64),
            1,
            "C: groups of each 3x3 (Res2NeXt; a group's width is floor(planes * w / 64) * C)",
            search=Choice((1, 2, 4, 8)),
        ),
        Param("resolution", Int(8, 1024), 224, "input image side in pixels"),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    resolve=_resolve,
)

FAMILY = Family(
    name="res2net",
    summary="Res2Net (timm): ResNet bottlenecks with s hierarchical 3x3 groups of width w (scale vs width)",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "depth", "base_width", "scale", "params", "flops"),
        (
            ("res2net50_26w_4s", 50, 26, 4, 25_699_120, 4_280_481_824),
            ("res2net50_48w_2s", 50, 48, 2, 25_287_304, 4_183_377_152),
            ("res2net50_14w_8s", 50, 14, 8, 25_059_816, 4_205_553_376),
            ("res2net101_26w_4s", 101, 26, 4, 45_206_688, 8_103_965_152),
        ),
        TIMM,
        resolution=224,
    ),
    test_points=30,  # four stages of up to four 3x3s per block even when small: fewer fvcore traces
    test_domains={
        "layers": Choice(((1, 1, 1, 1), (2, 1, 1, 1), (1, 1, 1, 2))),
        "scale": Choice((1, 2, 3, 4)),
        "base_width": Int(1, 12),
        "cardinality": Choice((1, 2, 3)),
        "resolution": Choice((8, 17, 32)),
        "num_classes": Int(2, 20),
    },
    year=2019,
)
