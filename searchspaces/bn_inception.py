"""BN-Inception (Ioffe & Szegedy 2015, "Batch Normalization: ...", Figure 5 and its appendix), from
the paper alone: no reference implementation in torchvision or timm.

GoogLeNet with batch normalization before every nonlinearity, changed as the appendix lists: the
5x5 branch becomes two stacked 3x3 convs ("double 3x3"), stage 3 has three modules, the pooling
branch uses average or max pooling per module, and there is no pooling between stages: modules 3c
and 4e reduce the grid themselves (3x3 branches with stride 2 beside a stride-2 max pool passed
through, no 1x1 branch). The stem is conv 7x7/2 64 (the paper's model makes it a separable conv
with depth multiplier 8), max pool 3x3/2, conv 1x1 64, conv 3x3 192, max pool 3x3/2; the head is
global average pooling and a linear classifier.

Its own file rather than a variant of the ``inception`` (GoogLeNet) family: the module has
another branch (double 3x3), a per-module pool kind, stride-2 modules without 1x1 or projection,
no stage pooling and a separable stem, so a joint builder would be two builders behind switches.
It reuses :class:`searchspaces.inception.BasicConv2d`, ``scaled`` and ``pool_out``.

The branch widths are data (``BN_INCEPTION_TABLE``, Figure 5's columns). What the paper leaves
open, and the choices made here: Figure 5's output-size column says 576 for 4c and 4d and 1024
for 4e, but the filter columns it prints (pool proj 128) give 608, 608 and 1056: the filter
columns are followed (as the authors' released Caffe model does); BN eps (1e-3), no conv bias
(section 3.2: the bias is subsumed by BN's shift); no BN between the depthwise and pointwise
halves of the separable stem; "same" padding for every conv and pool (the map sizes of Figure 5);
average pooling excludes the padding; no dropout (section 4.2.1 removes it).
"""

from __future__ import annotations

import random

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Float, Int, IntList, Param, Point, Space
from searchspaces.inception import BasicConv2d, pool_out, scaled

COLUMNS = ("#1x1", "#3x3 reduce", "#3x3", "double #3x3 reduce", "double #3x3", "pool proj")
Row = tuple[tuple[int, int, int, int, int, int], str]
BN_INCEPTION_TABLE: dict[int, tuple[Row, ...]] = {
    3: (((64, 64, 64, 64, 96, 32), "avg"), ((64, 64, 96, 64, 96, 64), "avg")),
    4: (
        ((224, 64, 96, 96, 128, 128), "avg"),
        ((192, 96, 128, 96, 128, 128), "avg"),
        ((160, 128, 160, 128, 160, 128), "avg"),
        ((96, 128, 192, 160, 192, 128), "avg"),
    ),
    5: (((352, 192, 320, 160, 224, 128), "avg"), ((352, 192, 320, 192, 224, 128), "max")),
}
"""Ioffe & Szegedy 2015, Figure 5: widths (``COLUMNS``) and pool kind of modules 3a-3b, 4a-4d, 5a-5b."""
REDUCTIONS: dict[int, tuple[int, int, int, int]] = {3: (128, 160, 64, 96), 4: (128, 192, 192, 256)}
"""Figure 5's stride-2 modules 3c and 4e (#3x3 reduce, #3x3, double #3x3 reduce, double #3x3; no
1x1 branch, max pool passed through), closing stages 3 and 4."""
STEM = (64, 64, 192)
"""conv1 (7x7/2), conv2 (1x1, Figure 5's "#3x3 reduce") and conv3 (3x3) widths."""


def pool(kind: str, stride: int) -> nn.Module:
    if kind == "max":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


class InceptionModule(nn.Module):
    """One Figure 5 module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool (-> 1x1 projection),
    concatenated; with ``stride=2`` (3c, 4e) the 1x1 branch and the projection are absent (width 0)
    and the 3x3 convs and the max pool downsample."""

    def __init__(self, c_in: int, widths: tuple[int, ...], pool_kind: str, stride: int = 1) -> None:
        super().__init__()
        n1, r3, n3, rd, nd, proj = widths
        if n1:
            self.branch1 = BasicConv2d(c_in, n1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(c_in, r3, 1), BasicConv2d(r3, n3, 3, stride, 1))
        self.branch3 = nn.Sequential(
            BasicConv2d(c_in, rd, 1), BasicConv2d(rd, nd, 3, 1, 1), BasicConv2d(nd, nd, 3, stride, 1)
        )
        self.branch4 = nn.Sequential(pool(pool_kind, stride), *([BasicConv2d(c_in, proj, 1)] if proj else []))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.children()], 1)

    @staticmethod
    def complexity(
        t: Tally, c_in: int, widths: tuple[int, ...], size: int, stride: int = 1
    ) -> tuple[int, int]:
        """Adds the module's convs; returns (channels, side) of its output."""
        n1, r3, n3, rd, nd, proj = widths
        if n1:
            BasicConv2d.complexity(t, c_in, n1, size, 1)
        BasicConv2d.complexity(t, c_in, r3, size, 1)
        out = BasicConv2d.complexity(t, r3, n3, size, 3, stride, 1)
        BasicConv2d.complexity(t, c_in, rd, size, 1)
        BasicConv2d.complexity(t, rd, nd, size, 3, 1, 1)
        BasicConv2d.complexity(t, nd, nd, size, 3, stride, 1)
        if proj:
            BasicConv2d.complexity(t, c_in, proj, size, 1)
        return n1 + n3 + nd + (proj or c_in), out


def layout(p: Point) -> list[tuple[str, tuple[int, ...], str, int]]:
    """(name, scaled widths, pool kind, stride) of every module: each stage takes its table's first
    ``modules[i]`` rows (the last one repeated), then stages 3 and 4 end with their reduction."""
    out = []
    for stage, n in zip(BN_INCEPTION_TABLE, p["modules"], strict=True):
        table = BN_INCEPTION_TABLE[stage]
        rows = [table[min(i, len(table) - 1)] for i in range(n)]
        if stage in REDUCTIONS:
            rows.append(((0, *REDUCTIONS[stage], 0), "max"))
        for i, (widths, kind) in enumerate(rows):
            stride = 2 if stage in REDUCTIONS and i == len(rows) - 1 else 1
            scaled_w = tuple(scaled(c, p["width_mult"]) if c else 0 for c in widths)
            out.append((f"inception{stage}{chr(ord('a') + i)}", scaled_w, kind, stride))
    return out


class SeparableStem(nn.Module):
    """conv1 as the paper's model has it: a 7x7/2 depthwise conv with depth multiplier ``dm`` (no
    bias, no BN), then a 1x1 conv -> BN -> ReLU (TF-slim's ``separable_conv2d``)."""

    def __init__(self, c_in: int, c_out: int, dm: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in * dm, 7, 2, 3, groups=c_in, bias=False)
        self.pointwise = BasicConv2d(c_in * dm, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))

    @staticmethod
    def complexity(t: Tally, c_in: int, c_out: int, size: int, dm: int) -> int:
        size = t.conv(c_in, c_in * dm, size, 7, 2, 3, groups=c_in)
        return BasicConv2d.complexity(t, c_in * dm, c_out, size, 1)


class BNInception(nn.Module):
    """Figure 5's network with the widths, modules per stage and stem of a point."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        c1, c2, c3 = (scaled(c, p["width_mult"]) for c in STEM)
        dm = p["stem_depth_multiplier"]
        self.conv1 = SeparableStem(3, c1, dm) if dm else BasicConv2d(3, c1, 7, 2, 3)
        self.maxpool1 = pool("max", 2)
        self.conv2 = BasicConv2d(c1, c2, 1)
        self.conv3 = BasicConv2d(c2, c3, 3, padding=1)
        self.maxpool2 = pool("max", 2)
        c = c3
        for name, widths, kind, stride in layout(p):
            self.add_module(name, InceptionModule(c, widths, kind, stride))
            c = InceptionModule.complexity(Tally(), c, widths, 1, stride)[0]
        self.num_features = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p["dropout"])
        self.fc = nn.Linear(c, p["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        for name, module in self.named_children():
            if name == "avgpool":
                break
            x = module(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def build(p: Point) -> nn.Module:
    return BNInception(p)


def complexity(p: Point) -> Counts:
    """Mirrors :class:`BNInception` module by module (pooling and ReLU cost nothing in fvcore)."""
    t = Tally()
    c1, c2, c3 = (scaled(c, p["width_mult"]) for c in STEM)
    dm = p["stem_depth_multiplier"]
    if dm:
        size = SeparableStem.complexity(t, 3, c1, p["resolution"], dm)
    else:
        size = BasicConv2d.complexity(t, 3, c1, p["resolution"], 7, 2, 3)
    size = pool_out(size, 3, 2, 1)
    BasicConv2d.complexity(t, c1, c2, size, 1)
    BasicConv2d.complexity(t, c2, c3, size, 3, padding=1)
    size, c = pool_out(size, 3, 2, 1), c3
    for _, widths, _, stride in layout(p):
        c, size = InceptionModule.complexity(t, c, widths, size, stride)
    t.adaptive_avgpool(c, size)
    t.linear(c, p["num_classes"])
    return t.counts()


def _rows_text() -> str:
    return "; ".join(f"stage {s}: {len(rows)}" for s, rows in BN_INCEPTION_TABLE.items())


SPACE = Space(
    name="bn_inception",
    params=(
        Param(
            "width_mult",
            Float(0.05, 4.0),
            1.0,
            "multiplier on every width (stem and Figure 5), rounded half up, at least 1 channel",
            search=Choice((0.25, 0.5, 0.75, 1.0)),
        ),
        Param(
            "modules",
            IntList(0, 12, 3, 3),
            [2, 4, 2],
            f"stride-1 Inception modules in stages 3, 4, 5 ({_rows_text()} in Figure 5): a stage takes "
            "the table's first rows, repeating its last row past the table; the stride-2 modules "
            "closing stages 3 and 4 (3c, 4e) come on top",
        ),
        Param(
            "stem_depth_multiplier",
            Int(0, 16),
            8,
            "conv1 as a separable 7x7/2 conv with this depth multiplier (the paper's model: 8); "
            "0 makes it a plain 7x7/2 conv",
        ),
        Param("dropout", Float(0.0, 0.9), 0.0, "dropout before the classifier (the paper removes it)"),
        Param(
            "resolution",
            Int(1, 2048),
            224,
            "input image side in pixels: any side works, every downsampling is 'same'-padded "
            "(ceil(side / 2) each time; a 1x1 map stays 1x1)",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)


def _test_structure(rng: random.Random) -> Point:
    """Zero to two stride-1 modules per stage, under two in all (the reductions are always there)."""
    return {"modules": [rng.choice((0, 0, 0, 0, 1, 1, 2)) for _ in range(3)]}


FAMILY = Family(
    name="bn_inception",
    summary="BN-Inception (Inception v2): Figure 5's double-3x3 modules, stride-2 modules, width, modules per stage",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "params", "flops", "paper_flops"),
        [("bn_inception", 11_278_528, 1_956_128_704, "2.0G")],
        "Ioffe & Szegedy 2015 Figure 5 and appendix (the paper prints no parameter count; params/flops "
        "are this family's counts, fvcore 0.1.5 eval mode on 1x3x224x224); paper_flops: the 2.0 "
        "billion ops printed for BN-Inception in Szegedy et al. 2016 ('Rethinking the Inception "
        "Architecture'), Table 3",
        resolution=224,
    ),
    test_points=40,  # every point holds the two stride-2 modules: fewer fvcore traces in the suite
    test_domains={
        "width_mult": Choice((0.05, 0.08, 0.1)),
        "stem_depth_multiplier": Choice((0, 1, 8)),
        "resolution": Choice((1, 2, 7, 16, 17, 32, 33)),
        "num_classes": Int(2, 12),
    },
    test_structure=_test_structure,
    year=2015,
)
