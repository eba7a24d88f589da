"""RegNet X and Y (Radosavovic et al., 2020): the design space of quantised linear widths.

Block ``j`` of ``d`` gets the continuous width ``u_j = w0 + wa * j``; with ``s_j =
round(log(u_j / w0) / log(wm))`` it is quantised to ``w_j = round(w0 * wm**s_j / q) * q`` (q = 8),
and the runs of equal width are the stages (:func:`generate_regnet`, pycls's function of the same
name). Each stage's width is then made compatible with its group width ``g`` and bottleneck ratio
``b`` (the bottleneck width becomes a multiple of ``min(g, w / b)``). The network is a 3x3/2
stem (32 channels, BN + ReLU), the stages (each halving the side in its first block), global
average pooling and a linear classifier. A block (X) is 1x1 - 3x3 grouped (stride) - 1x1, each
with BN, ReLU after the first two, plus the identity or a 1x1/stride conv + BN projection, then
ReLU; Y adds squeeze-excitation after the 3x3 (``round(se_ratio * block input width)`` wide).
Widths are generated in float32 as torchvision does, so every point equals
``torchvision.models.RegNet(BlockParams.from_init_params(...))`` exactly.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, count_blocks
from scalesearch.family import TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, Param, Point, Space
from searchspaces.blocks import ConvNormAct, SqueezeExcitation
from searchspaces.rounding import make_divisible

QUANT = 8
"""q: stage widths are multiples of this."""


def generate_regnet(wa: float, w0: int, wm: float, depth: int, q: int = QUANT) -> tuple[list[int], list[int]]:
    """The design space as one pure function: (stage widths, stage depths) of a (wa, w0, wm, d).

    Computed in float32 with torch's round-half-to-even, exactly as torchvision's
    ``BlockParams.from_init_params`` (pycls computes in float64: rare ties may differ).
    """
    if wa < 0 or w0 <= 0 or wm <= 1 or w0 % q:
        raise ValueError(f"wa >= 0, w0 > 0, wm > 1 and w0 % {q} == 0 must hold, but got {wa=}, {w0=}, {wm=}")
    widths, depths = _generate(wa, w0, wm, depth, q)
    return list(widths), list(depths)


@lru_cache(maxsize=4096)
def _generate(wa: float, w0: int, wm: float, depth: int, q: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """:func:`generate_regnet` on checked arguments, memoised (a point's walk asks several times)."""
    u = torch.arange(depth, device="cpu") * wa + w0  # cpu: also under `with torch.device("meta")`
    s = torch.round(torch.log(u / w0) / math.log(wm))
    widths = (torch.round(torch.divide(w0 * torch.pow(wm, s), q)) * q).int().tolist()
    stage_widths: list[int] = []
    stage_depths: list[int] = []
    for w in widths:
        if stage_widths and stage_widths[-1] == w:
            stage_depths[-1] += 1
        else:
            stage_widths.append(w)
            stage_depths.append(1)
    return tuple(stage_widths), tuple(stage_depths)


@dataclass(frozen=True)
class Stage:
    width: int
    depth: int
    group_width: int
    bottleneck_multiplier: float


def stages(p: Mapping[str, Any]) -> list[Stage]:
    """The stages of a point, widths adjusted to the group width (torchvision's
    ``_adjust_widths_groups_compatibilty``)."""
    widths, depths = generate_regnet(p["wa"], p["w0"], p["wm"], p["depth"])
    b = 1.0 / p["bottleneck_ratio"]
    out = []
    for w, d in zip(widths, depths, strict=True):
        w_bot = int(w * b)
        g = min(p["group_width"], w_bot)
        out.append(Stage(int(make_divisible(w_bot, g) / b), d, g, b))
    return out


def _blocks(p: Mapping[str, Any]) -> list[tuple[int, int, int, int, int]]:
    """(stage index, width in, width out, stride, group width) of every block; the stage's
    bottleneck multiplier is the point's."""
    plan, w_in = [], p["stem_width"]
    for i, st in enumerate(stages(p), start=1):
        for j in range(st.depth):
            plan.append((i, w_in, st.width, 2 if j == 0 else 1, st.group_width))
            w_in = st.width
    return plan


def _se_width(p: Mapping[str, Any], w_in: int) -> int:
    return int(round(p["se_ratio"] * w_in)) if p["se_ratio"] else 0


class BottleneckTransform(nn.Sequential):
    """a: 1x1, b: 3x3 grouped (stride), [se], c: 1x1 linear (torchvision's names)."""

    def __init__(self, w_in: int, w_out: int, stride: int, group_width: int, b: float, se: int) -> None:
        w_b = int(round(w_out * b))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["a"] = ConvNormAct(w_in, w_b, 1)
        layers["b"] = ConvNormAct(w_b, w_b, 3, stride, groups=w_b // group_width)
        if se:
            layers["se"] = SqueezeExcitation(w_b, se)
        layers["c"] = ConvNormAct(w_b, w_out, 1, act=None)
        super().__init__(layers)

    @staticmethod
    def complexity(
        t: Tally, w_in: int, w_out: int, stride: int, group_width: int, b: float, se: int, size: int
    ) -> int:
        w_b = int(round(w_out * b))
        ConvNormAct.complexity(t, w_in, w_b, size, 1)
        size = ConvNormAct.complexity(t, w_b, w_b, size, 3, stride, groups=w_b // group_width)
        if se:
            SqueezeExcitation.complexity(t, w_b, se, size)
        return ConvNormAct.complexity(t, w_b, w_out, size, 1)


class ResBottleneckBlock(nn.Module):
    """Residual bottleneck: ``relu(proj(x) + f(x))``, proj a 1x1/stride conv + BN when the shape changes."""

    def __init__(self, w_in: int, w_out: int, stride: int, group_width: int, b: float, se: int) -> None:
        super().__init__()
        project = w_in != w_out or stride != 1
        self.proj = ConvNormAct(w_in, w_out, 1, stride, act=None) if project else None
        self.f = BottleneckTransform(w_in, w_out, stride, group_width, b, se)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))

    @staticmethod
    def complexity(
        t: Tally, w_in: int, w_out: int, stride: int, group_width: int, b: float, se: int, size: int
    ) -> int:
        if w_in != w_out or stride != 1:
            ConvNormAct.complexity(t, w_in, w_out, size, 1, stride)
        return BottleneckTransform.complexity(t, w_in, w_out, stride, group_width, b, se, size)


class RegNet(nn.Module):
    """Module names and init follow ``torchvision.models.RegNet`` (state dicts interchange)."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        self.stem = ConvNormAct(3, p["stem_width"], 3, 2)
        trunk: OrderedDict[str, nn.Sequential] = OrderedDict()
        b, w_out = 1.0 / p["bottleneck_ratio"], p["stem_width"]
        for i, w_in, w_out, stride, g in _blocks(p):
            stage: nn.Sequential = trunk.setdefault(f"block{i}", nn.Sequential())
            block = ResBottleneckBlock(w_in, w_out, stride, g, b, _se_width(p, w_in))
            stage.add_module(f"block{i}-{len(stage)}", block)
        self.trunk_output = nn.Sequential(OrderedDict[str, nn.Module](trunk))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_out, p["num_classes"])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.trunk_output(self.stem(x))).flatten(start_dim=1))


def build(p: Point) -> nn.Module:
    return RegNet(p)


def complexity(p: Point) -> Counts:
    t = Tally()
    b, w_out = 1.0 / p["bottleneck_ratio"], p["stem_width"]
    size = ConvNormAct.complexity(t, 3, w_out, p["resolution"], 3, 2)

    def block(u: Tally, plan: tuple[int, int, int, int, int], side: int) -> int:
        _, w_in, w_out, stride, g = plan
        return ResBottleneckBlock.complexity(u, w_in, w_out, stride, g, b, _se_width(p, w_in), side)

    plan = _blocks(p)
    size = count_blocks(t, plan, size, block, lambda row: row)
    w_out = plan[-1][2]
    t.adaptive_avgpool(w_out, size)
    t.linear(w_out, p["num_classes"])
    return t.counts()


def _se_fits(p: Mapping[str, Any]) -> bool:
    return not p["se_ratio"] or all(_se_width(p, w_in) >= 1 for _, w_in, *_ in _blocks(p))


SPACE = Space(
    name="regnet",
    params=(
        Param(
            "w0",
            Int(8, 1024, step=8),
            48,
            "initial width w0 (a multiple of q = 8)",
            search=Int(8, 256, step=8),
        ),
        Param("wa", Float(0.0, 512.0), 27.89, "slope wa: u_j = w0 + wa * j", search=Float(8.0, 256.0)),
        Param(
            "wm", Float(1.05, 4.0), 2.09, "width multiplier wm between stages (> 1)", search=Float(1.5, 3.0)
        ),
        Param(
            "depth",
            Int(1, 128),
            16,
            "d: blocks in all (split into stages by the quantisation)",
            search=Int(6, 32),
        ),
        Param(
            "group_width",
            Int(1, 1024),
            8,
            "g: channels per group of the 3x3 (capped at the bottleneck width)",
            search=Choice((1, 2, 4, 8, 16, 24, 32, 48, 64)),
        ),
        Param(
            "bottleneck_ratio", Choice((1.0, 2.0, 4.0)), 1.0, "b: the bottleneck is w / b wide (1 in RegNet)"
        ),
        Param("se_ratio", Float(0.0, 1.0), 0.25, "SE width / block input width; 0: RegNetX, 0.25: RegNetY"),
        Param("stem_width", Int(8, 256), 32, "channels of the 3x3/2 stem"),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "input image side in pixels",
            search=Choice((96, 128, 160, 192, 224)),
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "round(se_ratio * width) must be >= 1 for every block input width (or se_ratio = 0)",
            ("se_ratio", "stem_width"),
            _se_fits,
        ),
    ),
)

_X = {"se_ratio": 0.0}
_Y = {"se_ratio": 0.25}
_COLUMNS = ("name", "w0", "wa", "wm", "depth", "group_width", "params", "flops")
CANONICAL = canonical_table(
    _COLUMNS,
    (
        ("regnet_x_400mf", 24, 24.48, 2.54, 22, 16, 5_495_976, 420_179_472),
        ("regnet_x_800mf", 56, 35.73, 2.28, 16, 16, 7_259_656, 810_028_128),
        ("regnet_x_1_6gf", 80, 34.01, 2.25, 18, 24, 9_190_136, 1_618_759_504),
        ("regnet_x_3_2gf", 88, 26.31, 2.25, 25, 48, 15_296_552, 3_199_404_208),
        ("regnet_x_8gf", 80, 49.56, 2.88, 23, 120, 39_572_648, 8_023_343_872),
    ),
    TORCHVISION,
    resolution=224,
    **_X,
) + canonical_table(
    _COLUMNS,
    (
        ("regnet_y_400mf", 48, 27.89, 2.09, 16, 8, 4_344_144, 410_406_088),
        ("regnet_y_800mf", 56, 38.84, 2.4, 14, 16, 6_432_512, 845_841_264),
        ("regnet_y_1_6gf", 48, 20.71, 2.65, 27, 24, 11_202_430, 1_630_259_080),
        ("regnet_y_3_2gf", 80, 42.63, 2.66, 21, 24, 19_436_338, 3_201_896_896),
        ("regnet_y_8gf", 192, 76.82, 2.19, 17, 56, 39_381_472, 8_517_250_560),
    ),
    TORCHVISION,
    resolution=224,
    **_Y,
)
"""Radosavovic et al.'s top models as torchvision ships them: (w0, wa, wm, d, g), b = 1, SE 0.25 in Y."""

FAMILY = Family(
    name="regnet",
    summary="RegNet X/Y design space: quantised linear widths (w0, wa, wm, d), group width, bottleneck, SE",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=CANONICAL,
    test_points=100,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "w0": Int(8, 32, step=8),
        "wa": Float(0.0, 24.0, step=0.5),
        "wm": Float(1.5, 3.0, step=0.05),
        "depth": Int(1, 6),
        "group_width": Choice((1, 2, 4, 8, 16)),
        "bottleneck_ratio": Choice((1.0, 2.0, 4.0)),
        "se_ratio": Choice((0.0, 0.25, 0.5)),
        "stem_width": Int(8, 24),
        "resolution": Choice((32, 33, 40)),
        "num_classes": Int(2, 20),
    },
    year=2020,
)
