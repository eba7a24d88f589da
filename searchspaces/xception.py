"""Xception (Chollet, 2017): depthwise separable convolutions with residual connections.

Entry flow: two unpadded 3x3 convolutions (``stem_widths``; the first with stride 2), then one
block per entry width, each two separable convolutions (3x3 depthwise + 1x1 pointwise, then batch
norm; ReLU before each, save the first block's first) and a 3x3/2 max pool, with a 1x1/2
convolution + batch norm as the shortcut. The last entry width is the middle flow's width.
Middle flow: ``middle_repeats`` blocks of ``middle_convs`` separable convolutions of that width
with the identity as shortcut (the paper: 8 blocks of 3 at 728). Exit flow: a block that keeps
the width for its first separable convolution and grows to ``exit_widths[0]`` with its second,
then two separable convolutions + batch norm + ReLU (``exit_widths[1:]``), global average pooling,
dropout and a linear classifier. Every block is data (:class:`XceptionBlock`), and module names,
ReLU placement (the out-of-place first ReLU of a block, the in-place others) and init are timm's
``legacy_xception``: its state dicts load unchanged.

fvcore leaves the max pools, ReLUs and the in-place residual ``add_`` uncounted.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.blocks import SeparableConv2d

TIMM = "timm 1.0.31 timm.create_model('{name}', pretrained=False), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x299x299"
MIN_RESOLUTION = 7
"""The stem's two unpadded 3x3 convolutions (the first with stride 2) need 7 px for a 1x1 output."""


@dataclass(frozen=True)
class XceptionBlock:
    """One residual block of separable convolutions as data (timm's ``Block`` arguments)."""

    c_in: int
    c_out: int
    reps: int
    """Separable convolutions in the block, each followed by batch norm."""
    stride: int = 1
    """1, or the stride of the closing 3x3 max pool and of the 1x1 shortcut convolution."""
    start_with_relu: bool = True
    """Whether a ReLU opens the block (not after the stem, whose output is already activated)."""
    grow_first: bool = True
    """Grow to ``c_out`` in the first separable convolution; else in the last."""

    @property
    def has_skip(self) -> bool:
        return self.c_out != self.c_in or self.stride != 1

    def widths(self) -> list[tuple[int, int]]:
        """(c_in, c_out) of each separable convolution."""
        if self.grow_first:
            return [(self.c_in if i == 0 else self.c_out, self.c_out) for i in range(self.reps)]
        return [(self.c_in, self.c_in if i < self.reps - 1 else self.c_out) for i in range(self.reps)]


def plan(p: Point) -> list[XceptionBlock]:
    """Every block of the entry, middle and exit flows, in order (``block1`` first)."""
    blocks, c_in = [], p["stem_widths"][-1]
    for i, c_out in enumerate(p["entry_widths"]):
        blocks.append(XceptionBlock(c_in, c_out, 2, 2, start_with_relu=i > 0))
        c_in = c_out
    blocks += [XceptionBlock(c_in, c_in, p["middle_convs"]) for _ in range(p["middle_repeats"])]
    blocks.append(XceptionBlock(c_in, p["exit_widths"][0], 2, 2, grow_first=False))
    return blocks


class Block(nn.Module):
    """``rep``: [ReLU,] separable conv, BN, (ReLU, separable conv, BN)... [, max pool]; plus the
    input, through ``skip`` (1x1 conv) and ``skipbn`` where the shape changes."""

    def __init__(self, cfg: XceptionBlock) -> None:
        super().__init__()
        self.skip: nn.Conv2d | None = None
        if cfg.has_skip:
            self.skip = nn.Conv2d(cfg.c_in, cfg.c_out, 1, stride=cfg.stride, bias=False)
            self.skipbn = nn.BatchNorm2d(cfg.c_out)
        rep: list[nn.Module] = []
        for c_in, c_out in cfg.widths():
            rep += [nn.ReLU(inplace=True), SeparableConv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out)]
        if cfg.start_with_relu:
            rep[0] = nn.ReLU(inplace=False)  # the input is also the shortcut: keep it intact
        else:
            rep = rep[1:]
        if cfg.stride != 1:
            rep.append(nn.MaxPool2d(3, cfg.stride, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, inp: Tensor) -> Tensor:
        x = self.rep(inp)
        x += inp if self.skip is None else self.skipbn(self.skip(inp))
        return x

    @staticmethod
    def complexity(t: Tally, cfg: XceptionBlock, size: int) -> int:
        out = size
        for c_in, c_out in cfg.widths():
            out = SeparableConv2d.complexity(t, c_in, c_out, out, 3, 1, 1)
            t.bn(c_out, out)
        if cfg.stride != 1:
            out = conv_out(out, 3, cfg.stride, 1)  # the max pool: not counted
        if cfg.has_skip:
            t.bn(cfg.c_out, t.conv(cfg.c_in, cfg.c_out, size, 1, cfg.stride, 0))
        return out


class Xception(nn.Module):
    """timm's legacy ``Xception`` layout: ``conv1 bn1 act1 conv2 bn2 act2 block1..blockN conv3 bn3
    act3 conv4 bn4 act4 global_pool fc``."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        (s1, s2), (_, e1, e2), blocks = p["stem_widths"], p["exit_widths"], plan(p)
        self.drop_rate = p["dropout"]
        self.num_blocks = len(blocks)
        self.conv1 = nn.Conv2d(3, s1, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(s1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(s1, s2, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(s2)
        self.act2 = nn.ReLU(inplace=True)
        for i, cfg in enumerate(blocks, 1):
            self.add_module(f"block{i}", Block(cfg))
        self.conv3 = SeparableConv2d(blocks[-1].c_out, e1, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(e1)
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = SeparableConv2d(e1, e2, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(e2)
        self.act4 = nn.ReLU(inplace=True)
        self.global_pool = nn.Sequential(OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1)))
        self.fc = nn.Linear(e2, p["num_classes"])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        x = self.act3(self.bn3(self.conv3(x)))
        x = self.global_pool(self.act4(self.bn4(self.conv4(x))))
        if self.drop_rate > 0.0:
            x = torch.nn.functional.dropout(x, self.drop_rate, self.training)
        return self.fc(x)


def build(p: Point) -> nn.Module:
    return Xception(p)


def complexity(p: Point) -> Counts:
    """Mirrors :class:`Xception` layer by layer."""
    t, (s1, s2), (_, e1, e2), blocks = Tally(), p["stem_widths"], p["exit_widths"], plan(p)
    size = t.conv(3, s1, p["resolution"], 3, 2, 0)
    t.bn(s1, size)
    size = t.conv(s1, s2, size, 3, 1, 0)
    t.bn(s2, size)
    for cfg in blocks:
        size = Block.complexity(t, cfg, size)
    for c_in, c_out in ((blocks[-1].c_out, e1), (e1, e2)):
        size = SeparableConv2d.complexity(t, c_in, c_out, size, 3, 1, 1)
        t.bn(c_out, size)
    t.adaptive_avgpool(e2, size)
    t.linear(e2, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="xception",
    params=(
        Param("stem_widths", IntList(1, 4096, 2, 2), [32, 64], "channels of the two stem 3x3 convolutions"),
        Param(
            "entry_widths",
            IntList(1, 4096, 1, 6),
            [128, 256, 728],
            "entry-flow block widths (each block halves the side); the last is the middle flow's width",
        ),
        Param(
            "middle_repeats",
            Int(0, 64),
            8,
            "middle-flow blocks (identity shortcut, width entry_widths[-1])",
            search=Choice((2, 4, 8, 12)),
        ),
        Param("middle_convs", Int(1, 8), 3, "separable convolutions per middle-flow block"),
        Param(
            "exit_widths",
            IntList(1, 8192, 3, 3),
            [1024, 1536, 2048],
            "exit flow: the exit block's width, then the two separable convolutions'",
        ),
        Param("dropout", Float(0.0, 0.9), 0.0, "dropout before the classifier (timm's drop_rate)"),
        Param(
            "resolution",
            Int(1, 2048),
            299,
            "input image side in pixels",
            search=Choice((96, 128, 160, 224, 299)),
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            f"resolution must be at least {MIN_RESOLUTION} (the stem's unpadded 3x3/2 and 3x3 convolutions)",
            ("resolution",),
            lambda p: p["resolution"] >= MIN_RESOLUTION,
        ),
    ),
)

FAMILY = Family(
    name="xception",
    summary="Xception: entry, middle and exit flows of residual depthwise separable convolution blocks",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "params", "flops"),
        [("legacy_xception", 22_855_952, 8_399_882_600)],
        TIMM,
    ),
    test_points=30,  # every point has the stem, two blocks at least and the exit convolutions
    test_domains={
        "stem_widths": IntList(1, 6, 2, 2),
        "entry_widths": IntList(1, 8, 1, 2),
        "middle_repeats": Int(0, 2),
        "middle_convs": Int(1, 3),
        "exit_widths": IntList(1, 8, 3, 3),
        "resolution": Choice((7, 8, 19, 33)),
        "num_classes": Int(2, 10),
    },
    year=2017,
)
