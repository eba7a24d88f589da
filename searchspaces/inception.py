"""GoogLeNet (Inception v1, Szegedy et al. 2014) as torchvision builds it, without auxiliary heads.

A stem (conv7x7/2, maxpool, conv1x1, conv3x3, maxpool) and three stages of Inception modules
(3, 4 and 5, with max pooling between them), global average pooling, dropout and a linear
classifier. Each module runs four branches on its input and concatenates them:
1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> "5x5" | 3x3 max pool -> 1x1 projection.

The branch widths are data: the paper's Table 1 (``GOOGLENET_TABLE``, its column names). The
search parameters are a width multiplier over every width, the number of modules per stage, and
the kernel of the "5x5" branch — torchvision builds it 3x3 (a known deviation from the paper kept
for its weights), ``kernel_5x5=5`` gives the paper's module.

Every conv is :class:`BasicConv2d` (conv without bias, BN with eps 1e-3, functional ReLU), the
module torchvision's GoogLeNet and Inception-v3 and timm's Inception-v4 / Inception-ResNet-v2
share (same state-dict keys); the later Inception files import it from here. Its cost twin also
counts the asymmetric (1xn, nx1) convs of the later generations.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.rounding import pool_out, scaled

Kernel = int | tuple[int, int]


def _pair(k: Kernel) -> tuple[int, int]:
    return (k, k) if isinstance(k, int) else k


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU: torchvision's ``BasicConv2d``."""

    def __init__(
        self, c_in: int, c_out: int, kernel: Kernel, stride: int = 1, padding: Kernel = 0, eps: float = 1e-3
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)

    @staticmethod
    def complexity(
        t: Tally, c_in: int, c_out: int, size: int, kernel: Kernel, stride: int = 1, padding: Kernel = 0
    ) -> int:
        """Square kernels through :meth:`Tally.conv`; a 1xn / nx1 kernel must keep the side."""
        (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
        if kh == kw and ph == pw:
            size = t.conv(c_in, c_out, size, kh, stride, ph)
        else:
            if stride != 1 or kh - 2 * ph != 1 or kw - 2 * pw != 1:
                raise ValueError(f"an asymmetric conv must keep the side, but got {kernel=}, {padding=}")
            weights = c_out * c_in * kh * kw
            t.layer(
                "conv", weights, size * size * weights, size * size * c_out, weights, (kh, kw), 1, c_in, c_out
            )
        t.bn(c_out, size)
        return size


# --------------------------------------------------------------------------- GoogLeNet

COLUMNS = ("#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj")
GOOGLENET_TABLE: dict[int, tuple[tuple[int, int, int, int, int, int], ...]] = {
    3: ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    4: (
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    5: ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
}
"""Szegedy et al. 2014, Table 1: the branch widths (``COLUMNS``) of modules 3a-3b, 4a-4e, 5a-5b."""
STEM = (64, 64, 192)
"""conv1 (7x7/2), conv2 (1x1) and conv3 (3x3) widths."""
MIN_RESOLUTION = 15
"""The smallest side the stem and the three poolings after it accept (torchvision's min_size)."""


def module_rows(p: Point) -> dict[int, list[tuple[int, ...]]]:
    """Each stage's rows, scaled: the table's first ``modules[i]`` rows, the last one repeated."""
    rows = {}
    for stage, n in zip(GOOGLENET_TABLE, p["modules"], strict=True):
        table = GOOGLENET_TABLE[stage]
        picked = [table[min(i, len(table) - 1)] for i in range(n)]
        rows[stage] = [tuple(scaled(c, p["width_mult"]) for c in row) for row in picked]
    return rows


def out_channels(row: tuple[int, ...]) -> int:
    return row[0] + row[2] + row[4] + row[5]


class Inception(nn.Module):
    """Four branches concatenated, torchvision's ``Inception`` layout (branch1 ... branch4)."""

    def __init__(self, c_in: int, row: tuple[int, ...], kernel_5x5: int) -> None:
        super().__init__()
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = row
        self.branch1 = BasicConv2d(c_in, ch1x1, 1)
        self.branch2 = nn.Sequential(
            BasicConv2d(c_in, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1)
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(c_in, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, kernel_5x5, padding=kernel_5x5 // 2)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True), BasicConv2d(c_in, pool_proj, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    @staticmethod
    def complexity(t: Tally, c_in: int, row: tuple[int, ...], kernel_5x5: int, size: int) -> int:
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = row
        BasicConv2d.complexity(t, c_in, ch1x1, size, 1)
        BasicConv2d.complexity(t, c_in, ch3x3red, size, 1)
        BasicConv2d.complexity(t, ch3x3red, ch3x3, size, 3, padding=1)
        BasicConv2d.complexity(t, c_in, ch5x5red, size, 1)
        BasicConv2d.complexity(t, ch5x5red, ch5x5, size, kernel_5x5, padding=kernel_5x5 // 2)
        BasicConv2d.complexity(t, c_in, pool_proj, size, 1)
        return out_channels(row)


POOL_AFTER = {3: 3, 4: 2}
"""The max pooling after stage 3 (maxpool3, 3x3/2) and stage 4 (maxpool4, 2x2/2), ceil mode."""


class GoogLeNet(nn.Module):
    """torchvision's ``GoogLeNet(aux_logits=False)`` with the modules per stage and widths of a point."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        self.transform_input = p["transform_input"]
        c1, c2, c3 = (scaled(c, p["width_mult"]) for c in STEM)
        self.conv1 = BasicConv2d(3, c1, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(c1, c2, 1)
        self.conv3 = BasicConv2d(c2, c3, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        c = c3
        for stage, rows in module_rows(p).items():
            for i, row in enumerate(rows):
                self.add_module(f"inception{stage}{chr(ord('a') + i)}", Inception(c, row, p["kernel_5x5"]))
                c = out_channels(row)
            if stage in POOL_AFTER:
                self.add_module(f"maxpool{stage}", nn.MaxPool2d(POOL_AFTER[stage], stride=2, ceil_mode=True))
        self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=p["dropout"])
        self.fc = nn.Linear(c, p["num_classes"])
        for m in self.modules():  # torchvision's init_weights=True
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)

    def forward(self, x: Tensor) -> Tensor:
        if self.transform_input:  # ImageNet-normalised input to the [-1, 1] scaling of the original weights
            x = torch.cat(
                [
                    x[:, i : i + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                    for i, (mean, std) in enumerate(((0.485, 0.229), (0.456, 0.224), (0.406, 0.225)))
                ],
                1,
            )
        for name, module in self.named_children():
            if name == "avgpool":
                break
            x = module(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def build(p: Point) -> nn.Module:
    return GoogLeNet(p)


def sides(resolution: int) -> list[int]:
    """Sides after conv1, maxpool1, maxpool2 (stage 3), maxpool3 (stage 4) and maxpool4 (stage 5)."""
    s = [pool_out(resolution, 7, 2, 3)]
    s.append(pool_out(s[-1], 3, 2, 0, True))
    s.append(pool_out(s[-1], 3, 2, 0, True))
    s.append(pool_out(s[-1], 3, 2, 0, True))
    s.append(pool_out(s[-1], 2, 2, 0, True))
    return s


def complexity(p: Point) -> Counts:
    """Mirrors :class:`GoogLeNet` module by module (pooling and ReLU cost nothing in fvcore)."""
    t = Tally()
    conv1, pool1, size, _, _ = sides(p["resolution"])
    c1, c2, c3 = (scaled(c, p["width_mult"]) for c in STEM)
    BasicConv2d.complexity(t, 3, c1, p["resolution"], 7, 2, 3)
    BasicConv2d.complexity(t, c1, c2, pool1, 1)
    BasicConv2d.complexity(t, c2, c3, pool1, 3, padding=1)
    c = c3
    for stage, rows in module_rows(p).items():
        for row in rows:
            c = Inception.complexity(t, c, row, p["kernel_5x5"], size)
        if stage in POOL_AFTER:
            size = pool_out(size, POOL_AFTER[stage], 2, 0, True)
    t.adaptive_avgpool(c, size)
    t.linear(c, p["num_classes"])
    return t.counts()


def _rows_text() -> str:
    return "; ".join(f"stage {s}: {len(rows)}" for s, rows in GOOGLENET_TABLE.items())


SPACE = Space(
    name="inception",
    params=(
        Param(
            "width_mult",
            Float(0.05, 4.0),
            1.0,
            "multiplier on every width (stem and Table 1), rounded half up, at least 1 channel",
            search=Choice((0.25, 0.5, 0.75, 1.0)),
        ),
        Param(
            "modules",
            IntList(0, 12, 3, 3),
            [2, 5, 2],
            f"Inception modules in stages 3, 4, 5 ({_rows_text()} in Table 1): a stage takes the "
            "table's first rows, repeating its last row past the table; 0 leaves the stage out",
        ),
        Param(
            "kernel_5x5",
            Choice((3, 5)),
            3,
            "kernel of the '5x5' branch: 3 as torchvision builds it, 5 as the paper",
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout before the classifier"),
        Param(
            "transform_input",
            Choice((False, True)),
            False,
            "rescale ImageNet-normalised input to [-1, 1] per channel (torchvision's transform_input)",
        ),
        Param(
            "resolution",
            Int(8, 2048),
            224,
            f"input image side in pixels (at least {MIN_RESOLUTION})",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            f"resolution must be at least {MIN_RESOLUTION} (conv1 and the ceil-mode poolings "
            "after it leave a 1x1 map at 15 px, nothing below)",
            ("resolution",),
            lambda p: min(sides(p["resolution"])) >= 1,
        ),
    ),
)


def _test_structure(rng: random.Random) -> Point:
    """Zero to two modules per stage, under two in all (fvcore traces ~20 ops per module)."""
    return {"modules": [rng.choice((0, 0, 0, 0, 1, 1, 2)) for _ in range(3)]}


FAMILY = Family(
    name="inception",
    summary="GoogLeNet (Inception v1): Table 1's Inception modules, width multiplier, modules per stage",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "params", "flops"),
        [("googlenet", 6_624_904, 1_504_878_688)],
        "torchvision 0.28.0 {name}(aux_logits=False, init_weights=True), fvcore 0.1.5 "
        "FlopCountAnalysis eval mode on 1x3x{resolution}x{resolution}",
        resolution=224,
    ),
    test_points=100,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "width_mult": Choice((0.05, 0.08, 0.1)),
        "kernel_5x5": Choice((3, 5)),
        "transform_input": Choice((False, True)),
        "resolution": Choice((15, 16, 17, 32, 33)),
        "num_classes": Int(2, 12),
    },
    test_structure=_test_structure,
    year=2014,
)
