"""ImageNet ResNet / ResNeXt / Wide-ResNet, as torchvision builds them (``torchvision.models.resnet``).

Stem: 7x7/2 conv (64) - BN - ReLU - 3x3/2 max pool. Four stages of base widths
(planes) 64, 128, 256, 512 at strides 1, 2, 2, 2; the first block of a stage carries
the stride and, when the stride or the width changes, a 1x1 conv + BN shortcut.
Then global average pooling and a linear classifier.

Basic block: 3x3 - BN - ReLU - 3x3 - BN (+ shortcut) - ReLU, output ``planes``.
Bottleneck (v1.5, stride on the 3x3): 1x1 - 3x3 (groups C) - 1x1 to ``4 * planes``,
with the inner width ``int(planes * d / 64) * C`` (``d`` = torchvision's
``width_per_group``). ResNet-50 is C=1, d=64; ResNeXt-50 32x4d is C=32, d=4;
Wide ResNet-50-2 is C=1, d=128. Module names match torchvision's, so its
``state_dict`` loads into :func:`build`'s network at the same point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import REFERENCE_COLUMNS, TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.blocks import StochasticDepth, linear_drop_rates

STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_WIDTH = 64

# depth -> (block, blocks per stage): He et al. 2016, Table 1; 200 as in He et al., Identity Mappings.
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}


def _downsample(c_in: int, c_out: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


def _downsample_complexity(t: Tally, c_in: int, c_out: int, stride: int, size: int) -> None:
    if stride != 1 or c_in != c_out:
        out = t.conv(c_in, c_out, size, 1, stride, padding=0)
        t.bn(c_out, out)


def _stochastic_depth(p: float) -> StochasticDepth | None:
    """The residual branch's stochastic depth; None (no module, torchvision's layout) at p = 0."""
    return StochasticDepth(p) if p > 0 else None


class BasicBlock(nn.Module):
    """3x3 - BN - ReLU - 3x3 - BN, plus the shortcut, then ReLU (torchvision ``BasicBlock``)."""

    expansion = 1

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int,
        groups: int = 1,
        base_width: int = 64,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(c_in, planes, stride)
        self.stochastic_depth = _stochastic_depth(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.stochastic_depth is not None:
            out = self.stochastic_depth(out)
        out += identity
        return self.relu(out)

    @staticmethod
    def complexity(
        t: Tally, c_in: int, planes: int, stride: int, groups: int = 1, base_width: int = 64, *, size: int
    ) -> int:
        out = t.conv(c_in, planes, size, 3, stride)
        t.bn(planes, out)
        t.conv(planes, planes, out, 3)
        t.bn(planes, out)
        _downsample_complexity(t, c_in, planes, stride, size)
        return out


def group_width(planes: int, groups: int, base_width: int) -> int:
    """Inner (3x3) width of a bottleneck: torchvision's ``int(planes * (base_width / 64.0)) * groups``."""
    return int(planes * (base_width / 64.0)) * groups


class Bottleneck(nn.Module):
    """1x1 - 3x3/stride (groups) - 1x1 to ``4 * planes``, each with BN (torchvision ``Bottleneck``)."""

    expansion = 4

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int,
        groups: int = 1,
        base_width: int = 64,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        width = group_width(planes, groups, base_width)
        c_out = planes * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(c_in, c_out, stride)
        self.stochastic_depth = _stochastic_depth(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stochastic_depth is not None:
            out = self.stochastic_depth(out)
        out += identity
        return self.relu(out)

    @staticmethod
    def complexity(
        t: Tally, c_in: int, planes: int, stride: int, groups: int = 1, base_width: int = 64, *, size: int
    ) -> int:
        width = group_width(planes, groups, base_width)
        c_out = planes * Bottleneck.expansion
        t.conv(c_in, width, size, 1)
        t.bn(width, size)
        out = t.conv(width, width, size, 3, stride, groups=groups)
        t.bn(width, out)
        t.conv(width, c_out, out, 1)
        t.bn(c_out, out)
        _downsample_complexity(t, c_in, c_out, stride, size)
        return out


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """torchvision's ``ResNet`` (no dilation, no zero-init of the last BN), same module names."""

    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        block: str,
        layers: list[int],
        cardinality: int,
        bottleneck_width: int,
        num_classes: int,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        cls = BLOCKS[block]
        self.conv1 = nn.Conv2d(3, STEM_WIDTH, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = STEM_WIDTH
        rates = iter(linear_drop_rates(drop_path_rate, sum(layers)))
        for i, (planes, stride, n) in enumerate(zip(STAGE_PLANES, STAGE_STRIDES, layers, strict=True)):
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                blocks.append(cls(c_in, planes, s, cardinality, bottleneck_width, next(rates)))
                c_in = planes * cls.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(p: Point) -> nn.Module:
    return ResNet(
        p["block"],
        p["layers"],
        p["cardinality"],
        p["bottleneck_width"],
        p["num_classes"],
        p["drop_path_rate"],
    )


def complexity(p: Point) -> Counts:
    t = Tally()
    size = t.conv(3, STEM_WIDTH, p["resolution"], 7, 2)
    t.bn(STEM_WIDTH, size)
    size = conv_out(size, 3, 2, 1)  # max pool: not counted by fvcore
    cls = BLOCKS[p["block"]]
    c_in = STEM_WIDTH
    for planes, stride, n in zip(STAGE_PLANES, STAGE_STRIDES, p["layers"], strict=True):
        for j in range(n):
            size = cls.complexity(
                t, c_in, planes, stride if j == 0 else 1, p["cardinality"], p["bottleneck_width"], size=size
            )
            c_in = planes * cls.expansion
    t.adaptive_avgpool(c_in, size)
    t.linear(c_in, p["num_classes"])
    return t.counts()


def _resolve(p: Point) -> Point:
    """Fill ``block`` and ``layers`` from ``depth`` where they are not given."""
    block, layers = DEPTHS[p["depth"]]
    return {**p, "block": p["block"] or block, "layers": p["layers"] or list(layers)}


_DEPTHS_TEXT = ", ".join(str(d) for d in DEPTHS)

SPACE = Space(
    name="resnet",
    params=(
        Param(
            "depth",
            Choice(tuple(DEPTHS)),
            50,
            f"ResNet-{{{_DEPTHS_TEXT}}}: gives layers and block (an explicit layers overrides it)",
            search=Choice((18, 34, 50, 101, 152)),
        ),
        Param("layers", IntList(1, 64, 4, 4), None, "blocks per stage (4 stages); default: from depth"),
        Param(
            "block",
            Choice(("basic", "bottleneck")),
            None,
            "residual block; default: basic for depth 18/34, bottleneck otherwise",
        ),
        Param(
            "cardinality",
            Int(1, 256),
            1,
            "C: groups of the bottleneck 3x3 (ResNeXt 32x4d: cardinality=32, bottleneck_width=4)",
            search=Choice((1, 2, 4, 8, 16, 32, 64)),
        ),
        Param(
            "bottleneck_width",
            Int(1, 1024),
            64,
            "d: width per group of the 3x3 in stage 1 (torchvision width_per_group); 64 = ResNet",
            search=Choice((4, 8, 14, 24, 40, 64, 128)),
        ),
        Param(
            "drop_path_rate",
            Float(0.0, 1.0),
            0.0,
            "stochastic depth (Huang et al. 2016): block l of L drops its residual branch with p = drop_path_rate * l / L",
        ),
        Param("resolution", Int(8, 1024), 224, "input image side in pixels"),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "cardinality must be 1 with block=basic (grouped 3x3 needs block=bottleneck)",
            ("block", "cardinality"),
            lambda p: p["block"] == "bottleneck" or p["cardinality"] == 1,
        ),
        Constraint(
            "bottleneck_width must be 64 with block=basic (a basic block has no bottleneck)",
            ("block", "bottleneck_width"),
            lambda p: p["block"] == "bottleneck" or p["bottleneck_width"] == 64,
        ),
    ),
    resolve=_resolve,
)

_PAPERS = {
    "resnet": "; paper: He et al., Deep Residual Learning for Image Recognition (2016), Table 1",
    "resnext": "; paper: Xie et al., Aggregated Residual Transformations (ResNeXt, 2017), Table 1",
}


def _source(row: Mapping[str, Any]) -> str:
    """torchvision's counts, plus the paper's table where it prints figures for the network."""
    text = TORCHVISION.format(**row)
    if row["paper_params"] or row["paper_flops"]:
        text += _PAPERS["resnext" if row["name"].startswith("resnext") else "resnet"]
    return text


FAMILY = Family(
    name="resnet",
    summary="ImageNet ResNet/ResNeXt/Wide-ResNet (torchvision): basic or bottleneck blocks, cardinality C, width d",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "depth", "cardinality", "bottleneck_width", *REFERENCE_COLUMNS),
        (
            ("resnet18", 18, 1, 64, 11_689_512, 1_819_065_856, None, "1.8e9"),
            ("resnet34", 34, 1, 64, 21_797_672, 3_671_262_720, None, "3.6e9"),
            ("resnet50", 50, 1, 64, 25_557_032, 4_111_512_576, "25.5M", "3.8e9"),
            ("resnet101", 101, 1, 64, 44_549_160, 7_833_969_664, None, "7.6e9"),
            ("resnet152", 152, 1, 64, 60_192_808, 11_558_835_200, None, "11.3e9"),
            ("resnext50_32x4d", 50, 32, 4, 25_028_904, 4_259_381_248, "25.0M", "4.2e9"),
            ("resnext101_32x8d", 101, 32, 8, 88_791_336, 16_476_534_784, None, None),
            ("resnext101_64x4d", 101, 64, 4, 83_455_272, 15_522_789_376, None, None),
            ("wide_resnet50_2", 50, 1, 128, 68_883_240, 11_426_922_496, None, None),
            ("wide_resnet101_2", 101, 1, 128, 126_886_696, 22_795_599_872, None, None),
        ),
        _source,
        resolution=224,
    ),
    test_domains={
        "layers": Choice(((1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 1, 2), (2, 2, 2, 2))),
        "block": Choice(("basic", "bottleneck", "bottleneck")),
        "cardinality": Choice((1, 2, 3, 4, 8)),
        "bottleneck_width": Int(1, 16),
        "resolution": Choice((8, 17, 32, 40)),
        "num_classes": Int(2, 20),
    },
    year=2016,
)
