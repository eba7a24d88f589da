"""Pre-activation ResNet (ResNet v2, He et al. 2016, "Identity Mappings") and the BiT networks
(Kolesnikov et al. 2020: GroupNorm + Weight Standardisation), as timm's ``ResNetV2`` builds them.

Stem: a 7x7/2 conv (``stem_width * width_factor``, no norm: the blocks pre-activate) and a 3x3/2
max pool, padded by the pool (``stem_pad=pool``) or, as BiT, by a zero ``ConstantPad2d(1)`` first
(``stem_pad=fixed``). Four stages of pre-activation bottlenecks with outputs ``widths * width_factor``
at strides 1, 2, 2, 2: ``norm1 -> [downsample] | conv1 1x1 -> norm2 -> conv2 3x3/s -> norm3 ->
conv3 1x1`` (+ the shortcut), each norm followed by ReLU, the inner width ``bottle_ratio`` of the
output. The first block of every stage projects its pre-activated input with a 1x1 conv (timm's
``DownsampleConv``, no norm). A final norm + ReLU, global average pooling and a 1x1 conv classifier.

``norm`` is data (:data:`NORMS`): ``batchnorm`` is timm's ``resnetv2_50`` (plain convs, BN),
``groupnorm_ws`` is BiT's (timm ``StdConv2d`` with eps 1e-8, ``GroupNormAct`` with 32 groups).
Residual branches drop with stochastic depth at ``drop_path_rate * l / L`` for block ``l`` of ``L``
(Huang et al. 2016). Module names match timm's, so its state dicts load strictly.

Why a family of its own rather than options of ``resnet``: the two differ in layout, not only in
options. torchvision's ResNet names ``conv1/bn1/layerN.M.{conv,bn}K/downsample.{0,1}/fc`` with a
normed stem, post-activation blocks, a BN on the projection shortcut and a Linear head; timm's
ResNetV2 names ``stem.conv/stages.N.blocks.M.{normK,convK}/downsample.conv/norm/head.fc`` with an
unnormed stem, pre-activation blocks, a projection on every stage's first block (even at stride 1
with equal widths), a final norm and a 1x1 conv head. One builder for both would branch on every
line of ``__init__`` and of the cost twin; two one-builder families stay readable.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import REFERENCE_COLUMNS, Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.blocks import (
    BatchNormAct2d,
    GroupNormAct,
    StdConv2d,
    StochasticDepth,
    linear_drop_rates,
    same_padding,
)
from searchspaces.rounding import make_divisible

STAGE_STRIDES = (1, 2, 2, 2)
WIDTHS = (256, 512, 1024, 2048)
"""Stage output widths at ``width_factor=1`` (timm's ``channels``)."""

# depth -> blocks per stage (He et al. 2016, Table 1; 200 as in Identity Mappings; timm's resnetv2_*).
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}


@dataclass(frozen=True)
class NormKind:
    """What a ``norm`` choice builds: the conv layer, the norm + ReLU, and the stem's default padding."""

    weight_std: bool
    """Convolutions standardise their weights (timm ``StdConv2d``, eps :data:`WS_EPS`)."""
    group_norm: bool
    """Norms are ``GroupNormAct`` (``gn_groups`` groups) instead of ``BatchNormAct2d``."""
    stem_pad: str


NORMS: dict[str, NormKind] = {
    "batchnorm": NormKind(weight_std=False, group_norm=False, stem_pad="pool"),
    "groupnorm_ws": NormKind(weight_std=True, group_norm=True, stem_pad="fixed"),
}
WS_EPS = 1e-8
"""BiT's weight-standardisation eps (timm ``_create_resnetv2_bit``: ``StdConv2d(eps=1e-8)``)."""


class Layers:
    """The conv and norm constructors of a point, each with its cost twin."""

    def __init__(self, p: Point) -> None:
        self.kind = NORMS[p["norm"]]
        self.groups = p["gn_groups"] if self.kind.group_norm else 0

    def conv(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Conv2d:
        if self.kind.weight_std:
            return StdConv2d(c_in, c_out, kernel, stride, eps=WS_EPS)
        return nn.Conv2d(c_in, c_out, kernel, stride, same_padding(kernel, stride), bias=False)

    def conv_cx(self, t: Tally, c_in: int, c_out: int, size: int, kernel: int, stride: int = 1) -> int:
        if self.kind.weight_std:
            return StdConv2d.complexity(t, c_in, c_out, size, kernel, stride)
        return t.conv(c_in, c_out, size, kernel, stride, same_padding(kernel, stride))

    def norm(self, channels: int) -> nn.Module:
        return GroupNormAct(channels, self.groups) if self.kind.group_norm else BatchNormAct2d(channels)

    def norm_cx(self, t: Tally, channels: int, size: int) -> None:
        if self.kind.group_norm:
            GroupNormAct.complexity(t, channels, size)
        else:
            t.bn(channels, size)


@dataclass(frozen=True)
class BlockSpec:
    """One pre-activation bottleneck as data: the module and its cost twin both read it."""

    c_in: int
    c_out: int
    mid: int
    stride: int
    drop_path: float
    downsample: bool


def plan(p: Mapping[str, Any]) -> tuple[int, list[list[BlockSpec]]]:
    """The stem width and every block of every stage, as timm derives them (``make_divisible`` to 8s)."""
    wf = p["width_factor"]
    stem = make_divisible(p["stem_width"] * wf)
    rates = iter(linear_drop_rates(p["drop_path_rate"], sum(p["layers"])))
    stages, c_in = [], stem
    for width, stride, n in zip(p["widths"], STAGE_STRIDES, p["layers"], strict=True):
        c_out = make_divisible(width * wf)
        mid = make_divisible(c_out * p["bottle_ratio"])
        blocks = [
            BlockSpec(c_in if j == 0 else c_out, c_out, mid, stride if j == 0 else 1, next(rates), j == 0)
            for j in range(n)
        ]
        stages.append(blocks)
        c_in = c_out
    return stem, stages


class DownsampleConv(nn.Module):
    """timm's pre-activation projection shortcut: a 1x1 conv, no norm (``norm`` is an Identity)."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv
        self.norm = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class PreActBottleneck(nn.Module):
    """timm's ``PreActBottleneck``: norm1 pre-activates both the branch and the projection."""

    def __init__(self, b: BlockSpec, L: Layers) -> None:
        super().__init__()
        self.downsample = DownsampleConv(L.conv(b.c_in, b.c_out, 1, b.stride)) if b.downsample else None
        self.norm1 = L.norm(b.c_in)
        self.conv1 = L.conv(b.c_in, b.mid, 1)
        self.norm2 = L.norm(b.mid)
        self.conv2 = L.conv(b.mid, b.mid, 3, b.stride)
        self.norm3 = L.norm(b.mid)
        self.conv3 = L.conv(b.mid, b.c_out, 1)
        self.drop_path = StochasticDepth(b.drop_path) if b.drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x_preact = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(x_preact)
        x = self.conv1(x_preact)
        x = self.conv2(self.norm2(x))
        x = self.conv3(self.norm3(x))
        return self.drop_path(x) + shortcut

    @staticmethod
    def complexity(t: Tally, b: BlockSpec, L: Layers, size: int) -> int:
        L.norm_cx(t, b.c_in, size)
        if b.downsample:
            L.conv_cx(t, b.c_in, b.c_out, size, 1, b.stride)
        L.conv_cx(t, b.c_in, b.mid, size, 1)
        L.norm_cx(t, b.mid, size)
        out = L.conv_cx(t, b.mid, b.mid, size, 3, b.stride)
        L.norm_cx(t, b.mid, out)
        return L.conv_cx(t, b.mid, b.c_out, out, 1)


class ResNetStage(nn.Module):
    def __init__(self, blocks: list[BlockSpec], L: Layers) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(PreActBottleneck(b, L) for b in blocks))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class ClassifierHead(nn.Module):
    """Global average pooling, a 1x1 conv classifier (timm ``use_conv=True``), flatten."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, num_classes, 1)
        self.flatten = nn.Flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.flatten(self.fc(self.global_pool(x)))


def _stem(p: Point, L: Layers, width: int) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(conv=L.conv(3, width, 7, 2))
    if p["stem_pad"] == "fixed":
        layers["pad"] = nn.ConstantPad2d(1, 0.0)
        layers["pool"] = nn.MaxPool2d(3, 2, 0)
    else:
        layers["pool"] = nn.MaxPool2d(3, 2, 1)
    return nn.Sequential(layers)


class ResNetV2(nn.Module):
    """timm's ``ResNetV2`` with pre-activation bottlenecks: same module names and order."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        L = Layers(p)
        stem, stages = plan(p)
        self.stem = _stem(p, L, stem)
        self.stages = nn.Sequential(*(ResNetStage(blocks, L) for blocks in stages))
        c = stages[-1][-1].c_out
        self.norm = L.norm(c)
        self.head = ClassifierHead(c, p["num_classes"])
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d) and name != "head.fc":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.head.fc.weight, std=0.01)
        if self.head.fc.bias is not None:
            nn.init.zeros_(self.head.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.stages(self.stem(x))))


def build(p: Point) -> nn.Module:
    return ResNetV2(p)


def complexity(p: Point) -> Counts:
    t, L = Tally(), Layers(p)
    stem, stages = plan(p)
    size = L.conv_cx(t, 3, stem, p["resolution"], 7, 2)
    size = conv_out(size + 2, 3, 2, 0) if p["stem_pad"] == "fixed" else conv_out(size, 3, 2, 1)  # uncounted
    for blocks in stages:
        for b in blocks:
            size = PreActBottleneck.complexity(t, b, L, size)
    c = stages[-1][-1].c_out
    L.norm_cx(t, c, size)
    t.adaptive_avgpool(c, size)
    t.conv(c, p["num_classes"], 1, 1, bias=True)
    return t.counts()


def _resolve(p: Point) -> Point:
    """Fill ``layers`` from ``depth``, ``stem_pad`` from ``norm``."""
    return {
        **p,
        "layers": p["layers"] or list(DEPTHS[p["depth"]]),
        "stem_pad": p["stem_pad"] or NORMS[p["norm"]].stem_pad,
    }


def _norm_inputs(p: Mapping[str, Any]) -> list[tuple[int, int]]:
    """(channels, side) of every norm's input: the cost twin's walk without the counting."""
    stem, stages = plan(p)
    size = conv_out(p["resolution"], 7, 2, 3)
    size = conv_out(size + 2, 3, 2, 0) if p["stem_pad"] == "fixed" else conv_out(size, 3, 2, 1)
    shapes = []
    for b in (b for blocks in stages for b in blocks):
        out = conv_out(size, 3, b.stride, 1)
        shapes += [(b.c_in, size), (b.mid, size), (b.mid, out)]
        size = out
    return [*shapes, (stages[-1][-1].c_out, size)]


def _groups_divide(p: Mapping[str, Any]) -> bool:
    if not NORMS[p["norm"]].group_norm:
        return True
    return all(c % p["gn_groups"] == 0 for c, _ in _norm_inputs(p))


def _groups_hold_two(p: Mapping[str, Any]) -> bool:
    if not NORMS[p["norm"]].group_norm:
        return True
    return all(c // p["gn_groups"] * size * size > 1 for c, size in _norm_inputs(p))


SPACE = Space(
    name="resnetv2",
    params=(
        Param(
            "depth",
            Choice(tuple(DEPTHS)),
            50,
            "ResNet-{50, 101, 152, 200}: gives layers (an explicit layers overrides it)",
            search=Choice((50, 101, 152)),
        ),
        Param("layers", IntList(1, 64, 4, 4), None, "blocks per stage (4 stages); default: from depth"),
        Param("widths", IntList(8, 8192, 4, 4), list(WIDTHS), "output width of each stage at width_factor=1"),
        Param(
            "width_factor",
            Int(1, 8),
            1,
            "BiT's width multiplier (the x in resnetv2_50x3): stem and stage widths, rounded to 8s",
            search=Choice((1, 2, 3)),
        ),
        Param("stem_width", Int(8, 512), 64, "stem conv width at width_factor=1"),
        Param("bottle_ratio", Float(0.0625, 1.0), 0.25, "bottleneck (3x3) width / stage output width"),
        Param(
            "norm",
            Choice(tuple(NORMS)),
            "batchnorm",
            "batchnorm: BN + plain convs (resnetv2_50); groupnorm_ws: GroupNorm + weight-standardised convs (BiT)",
        ),
        Param("gn_groups", Int(1, 256), 32, "GroupNorm groups", when={"norm": ("groupnorm_ws",)}),
        Param(
            "stem_pad",
            Choice(("pool", "fixed")),
            None,
            "pool: the max pool pads 1; fixed: zero-pad 1 then an unpadded pool (BiT); default: from norm",
        ),
        Param(
            "drop_path_rate",
            Float(0.0, 1.0),
            0.0,
            "stochastic depth: block l of L drops its residual branch with p = drop_path_rate * l / L",
        ),
        Param("resolution", Int(8, 1024), 224, "input image side in pixels"),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "gn_groups must divide the stem width and every block's inner and output width (x width_factor)",
            ("norm", "gn_groups", "stem_width", "widths", "width_factor", "bottle_ratio"),
            _groups_divide,
        ),
        Constraint(
            "every GroupNorm group needs more than one value (channels / gn_groups * side^2 > 1)",
            ("norm", "gn_groups", "resolution"),
            _groups_hold_two,
        ),
    ),
    resolve=_resolve,
)

TIMM = (
    "timm 1.0.31 timm.create_model('{name}', pretrained=False), "
    "fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x{resolution}x{resolution}"
)

FAMILY = Family(
    name="resnetv2",
    summary="Pre-activation ResNet v2 (timm ResNetV2): BN, or GroupNorm + weight standardisation (BiT)",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "depth", "norm", "resolution", *REFERENCE_COLUMNS),
        (
            ("resnetv2_50", 50, "batchnorm", 224, 25_549_352, 4_107_297_792, None, None),
            ("resnetv2_50x1_bit", 50, "groupnorm_ws", 224, 25_549_352, 4_228_137_216, None, None),
            # native resolution 448 (timm default_cfg); at 224 fvcore counts 8_041_707_776
            ("resnetv2_101x1_bit", 101, "groupnorm_ws", 448, 44_541_480, 31_651_949_312, None, None),
        ),
        TIMM,
    ),
    test_domains={
        "layers": Choice(((1, 1, 1, 1), (1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 1, 2))),
        "widths": Choice(((8, 16, 16, 32), (16, 16, 32, 32), (8, 24, 40, 64))),
        "width_factor": Choice((1, 1, 2)),
        "stem_width": Choice((8, 16, 24)),
        "bottle_ratio": Choice((0.25, 0.5, 1.0)),
        "norm": Choice(tuple(NORMS)),
        "gn_groups": Choice((1, 2, 4, 8)),
        "stem_pad": Choice(("pool", "fixed")),
        "drop_path_rate": Choice((0.0, 0.2)),
        "resolution": Choice((8, 17, 32)),
        "num_classes": Int(2, 20),
    },
    test_points=30,  # 4+ blocks of 3 norms and 3-4 convs even when small: fewer fvcore traces
    year=2016,
)
