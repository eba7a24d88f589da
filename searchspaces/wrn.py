"""Wide-ResNet for CIFAR (Zagoruyko & Komodakis, 2016): pre-activation basic blocks B(3,3).

conv1 3x3x16, then three groups of N = (depth-4)/6 blocks at widths 16k, 32k, 64k
(strides 1, 2, 2), BN-ReLU, global average pooling and a linear classifier. A 1x1
convolution is the shortcut wherever the width changes. Dropout sits between the two
convolutions of a block.
"""

from __future__ import annotations

from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, Param, Point, Space

GROUP_WIDTHS = (16, 32, 64)
GROUP_STRIDES = (1, 2, 2)


def blocks_per_group(depth: int) -> int:
    return (depth - 4) // 6


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 with an identity or 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False) if c_in != c_out or stride != 1 else None
        )

    def forward(self, x: Tensor) -> Tensor:
        a = self.relu(self.bn1(x))
        out = self.conv1(a)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + (x if self.shortcut is None else self.shortcut(a))

    @staticmethod
    def complexity(t: Tally, c_in: int, c_out: int, stride: int, size: int) -> int:
        t.bn(c_in, size)
        out = t.conv(c_in, c_out, size, 3, stride)
        t.bn(c_out, out)
        t.conv(c_out, c_out, out, 3)
        if c_in != c_out or stride != 1:
            t.conv(c_in, c_out, size, 1, stride, padding=0)
        return out


class WideResNet(nn.Module):
    def __init__(self, depth: int, widen_factor: int, dropout: float, num_classes: int) -> None:
        super().__init__()
        n = blocks_per_group(depth)
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)]
        c_in = 16
        for width, stride in zip(GROUP_WIDTHS, GROUP_STRIDES, strict=True):
            c_out = width * widen_factor
            for i in range(n):
                layers.append(PreActBlock(c_in, c_out, stride if i == 0 else 1, dropout))
                c_in = c_out
        layers += [nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def build(p: Point) -> nn.Module:
    return WideResNet(p["depth"], p["widen_factor"], p["dropout"], p["num_classes"])


def complexity(p: Point) -> Counts:
    t = Tally()
    size = t.conv(3, 16, p["resolution"], 3)
    c_in = 16
    for width, stride in zip(GROUP_WIDTHS, GROUP_STRIDES, strict=True):
        c_out = width * p["widen_factor"]
        for i in range(blocks_per_group(p["depth"])):
            size = PreActBlock.complexity(t, c_in, c_out, stride if i == 0 else 1, size)
            c_in = c_out
    t.bn(c_in, size)
    t.adaptive_avgpool(c_in, size)
    t.linear(c_in, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="wrn",
    params=(
        Param(
            "depth",
            Int(10, 1000),
            28,
            "total depth; must be 6N+4 (N blocks per group)",
            search=Choice((10, 16, 22, 28, 34, 40)),
        ),
        Param(
            "widen_factor",
            Int(1, 32),
            10,
            "k: width multiplier of the 16/32/64 base widths",
            search=Int(1, 12),
        ),
        Param("dropout", Float(0.0, 0.9), 0.0, "dropout between the two convolutions of a block"),
        Param("resolution", Int(8, 1024), 32, "input image side in pixels"),
        Param("num_classes", Int(1, 100_000), 10, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "depth must be 6N+4 with N >= 1 (e.g. 10, 16, 22, 28, 40)",
            ("depth",),
            lambda p: p["depth"] % 6 == 4,
        ),
    ),
)

_PAPER = "Zagoruyko & Komodakis, Wide Residual Networks (2016), Table 4; CIFAR-10 (10 classes)"

FAMILY = Family(
    name="wrn",
    summary="CIFAR Wide-ResNet WRN-depth-k: pre-activation basic blocks, widen factor k, dropout",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "depth", "widen_factor", "paper_params"),
        (
            ("wrn_16_8", 16, 8, "11.0M"),
            ("wrn_22_10", 22, 10, "26.8M"),
            ("wrn_28_10", 28, 10, "36.5M"),
            ("wrn_40_4", 40, 4, "8.9M"),
        ),
        "Zagoruyko & Komodakis, Wide Residual Networks (2016), Table 4; CIFAR-10 (10 classes)",
    ),
    test_domains={
        "depth": Choice((10, 16)),
        "widen_factor": Int(1, 4),
        "resolution": Choice((8, 16, 27, 32)),
        "num_classes": Int(2, 20),
    },
    year=2016,
)
