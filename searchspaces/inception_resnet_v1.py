"""Inception-ResNet-v1 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of
Residual Connections on Learning"), from the paper alone: no reference implementation.

Figure 14's stem (conv 3x3/2 32, 3x3 32, 3x3 64, max pool 3x3/2, 1x1 80, 3x3 192, 3x3/2 256),
5 Inception-ResNet-A blocks (Figure 10) on the 35x35 grid, Reduction-A (Figure 7 with the paper's
Table 1 row for v1, k, l, m, n = 192, 192, 256, 384), 10 Inception-ResNet-B blocks (Figure 11) on
17x17, Reduction-B (Figure 12), 5 Inception-ResNet-C blocks (Figure 13) on 8x8, global average
pooling, dropout (keep 0.8) and the classifier (Figure 15).

Its own file rather than a row of the ``inception_resnet_v2`` family: v1 has another stem (a
strided conv where v2 has a max pool, and no ``mixed_5b``), no final linear Block8 and no 1x1
conv to 1536 before the pooling, so a joint builder would carry three switches for one row.
The parts are the same, and are imported: the residual blocks and Reduction-B are
:class:`searchspaces.inception_resnet_v2.ResidualBlock` and ``chains("7a")`` with v1's widths,
Reduction-A is :func:`searchspaces.inception_v4.branches` on the paper's ``REDUCTION_A`` row, the
conv is :class:`searchspaces.inception.BasicConv2d`. Module names follow timm's
``inception_resnet_v2`` (``conv2d_1a`` ... ``repeat``, ``mixed_6a``, ``repeat_1``, ``mixed_7a``,
``repeat_2``, ``classif``); the stem's last conv is ``conv2d_4b`` (TF-slim's name for it).

What the paper leaves open, and the choice made here (the conventions of timm's v2 and of the
TF-slim code the paper's networks come from): every "traditional" conv is conv without bias ->
BN (eps 1e-3) -> ReLU (the paper: BN "only on top of the traditional layers, but not on top of
the summations"); the "Linear" 1x1 conv closing each residual block has a bias and no BN; padding
is "same" except where the figures mark "V"; the residual scales are 0.17, 0.10, 0.20 (the paper
says only "between 0.1 and 0.3"); the average pooling is global (8x8 at 299 px).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Float, Int, IntList, Param, Point, Space
from searchspaces.inception import BasicConv2d, pool_out, scaled
from searchspaces.inception_resnet_v2 import STEM as V2_STEM
from searchspaces.inception_resnet_v2 import ResidualBlock, chains
from searchspaces.inception_v4 import REDUCTION_A, Block, branches, one_grid_structure

WIDTHS: dict[str, tuple[int, ...]] = {
    "stem": (32, 32, 64, 80, 192, 256),  # Figure 14: conv2d_1a, 2a, 2b, (maxpool_3a), 3b, 4a, 4b
    "35": (32, 32, 32, 32, 32, 32),  # Figure 10: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3, then 1x1 back
    "17": (128, 128, 128, 128),  # Figure 11: 1x1 | 1x1 -> 1x7 -> 7x1, then 1x1 back
    "7a": (
        256,
        384,
        256,
        256,
        256,
        256,
        256,
    ),  # Figure 12: 1x1 -> 3x3/2 | 1x1 -> 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max
    "8": (192, 192, 192, 192),  # Figure 13: 1x1 | 1x1 -> 1x3 -> 3x1, then 1x1 back
}
STEM = (*V2_STEM, ("conv2d_4b", 3, 2, 0))
"""v2's stem convs (name, kernel, stride, padding) plus Figure 14's last 3x3/2 V conv to 256."""
POOL_AFTER = {"conv2d_2b": "maxpool_3a"}


def widths(p: Point) -> dict[str, tuple[int, ...]]:
    return {kind: tuple(scaled(c, p["width_mult"]) for c in w) for kind, w in WIDTHS.items()}


class InceptionResnetV1(nn.Module):
    """The paper's Figure 15 network with the widths, Reduction-A filters, blocks per grid and
    residual scales of a point."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        w, c = widths(p), 3
        for (name, k, s, pad), c_out in zip(STEM, w["stem"], strict=True):
            self.add_module(name, BasicConv2d(c, c_out, k, s, pad))
            c = c_out
            if name in POOL_AFTER:
                self.add_module(POOL_AFTER[name], nn.MaxPool2d(3, stride=2))
        kl = tuple(scaled(x, p["width_mult"]) for x in p["reduction_a"])
        grids = (
            ("repeat", "35", p["scale_a"]),
            ("repeat_1", "17", p["scale_b"]),
            ("repeat_2", "8", p["scale_c"]),
        )
        reductions = (
            ("mixed_6a", lambda c: branches("RA", c, (), kl)),
            ("mixed_7a", lambda c: chains("7a", c, w["7a"])),
        )
        for i, ((name, kind, scale), n) in enumerate(zip(grids, p["modules"], strict=True)):
            self.add_module(name, nn.Sequential(*(ResidualBlock(kind, c, w[kind], scale) for _ in range(n))))
            if i < len(reductions):
                spec = reductions[i][1](c)
                self.add_module(reductions[i][0], Block(spec))
                c = Block.complexity(Tally(), spec, c, 1)[0]
        self.num_features = c
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(p["dropout"])
        self.classif = nn.Linear(c, p["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        for name, module in self.named_children():
            if name == "global_pool":
                break
            x = module(x)
        return self.classif(self.head_drop(torch.flatten(self.global_pool(x), 1)))


def build(p: Point) -> nn.Module:
    return InceptionResnetV1(p)


def complexity(p: Point) -> Counts:
    """Mirrors :class:`InceptionResnetV1` (the residual scale and add cost nothing in fvcore)."""
    t, w, c, size = Tally(), widths(p), 3, p["resolution"]
    for (name, k, s, pad), c_out in zip(STEM, w["stem"], strict=True):
        size, c = BasicConv2d.complexity(t, c, c_out, size, k, s, pad), c_out
        if name in POOL_AFTER:
            size = pool_out(size, 3, 2)
    kl = tuple(scaled(x, p["width_mult"]) for x in p["reduction_a"])
    for kind, n in zip(("35", "17", "8"), p["modules"], strict=True):
        for _ in range(n):
            ResidualBlock.complexity(t, kind, c, w[kind], size)
        if kind == "35":
            c, size = Block.complexity(t, branches("RA", c, (), kl), c, size)
        elif kind == "17":
            c, size = Block.complexity(t, chains("7a", c, w["7a"]), c, size)
    t.adaptive_avgpool(c, size)
    t.linear(c, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="inception_resnet_v1",
    params=(
        Param(
            "width_mult",
            Float(0.05, 4.0),
            1.0,
            "multiplier on every width (stem, blocks, Reduction-A and -B), rounded half up, at least 1",
            search=Choice((0.25, 0.5, 0.75, 1.0)),
        ),
        Param(
            "modules",
            IntList(0, 32, 3, 3),
            [5, 10, 5],
            "Inception-ResNet-A, -B and -C blocks on the 35x35, 17x17 and 8x8 grids (Figure 15: 5, 10, 5)",
        ),
        Param("scale_a", Float(0.0, 1.0), 0.17, "residual scale of the Inception-ResNet-A blocks"),
        Param("scale_b", Float(0.0, 1.0), 0.10, "residual scale of the Inception-ResNet-B blocks"),
        Param("scale_c", Float(0.0, 1.0), 0.20, "residual scale of the Inception-ResNet-C blocks"),
        Param(
            "reduction_a",
            IntList(1, 2048, 4, 4),
            list(REDUCTION_A["inception_resnet_v1"]),
            "Reduction-A filters k,l,m,n (paper's Table 1 row for Inception-ResNet-v1: 192,192,256,384)",
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout before the classifier (Figure 15: keep 0.8)"),
        Param(
            "resolution",
            Int(75, 2048),
            299,
            "input image side in pixels: at least 75 (the stem and the two reductions leave 1x1 at 75 px)",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)


FAMILY = Family(
    name="inception_resnet_v1",
    summary="Inception-ResNet-v1 (paper): scaled residual Inception blocks on 35/17/8 grids, Reduction-A as data",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "params", "flops"),
        [("inception_resnet_v1", 22_756_328, 6_223_281_920)],
        "Szegedy et al. 2016 Figures 7 (Table 1 row k,l,m,n = 192,192,256,384), 10-15 (the paper prints no "
        "parameter or FLOP count for it; these are this family's counts, fvcore 0.1.5 eval mode on "
        "1x3x299x299); left open by the paper, taken from TF-slim/timm's v2: conv-BN(eps 1e-3)-ReLU "
        "without conv bias, a biased 1x1 'Linear' conv without BN closing each residual block, "
        "residual scales 0.17/0.10/0.20 (paper: 'between 0.1 and 0.3')",
        resolution=299,
    ),
    test_points=40,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "width_mult": Choice((0.05, 0.06, 0.08)),
        "resolution": Choice((75, 76, 80, 91)),
        "num_classes": Int(2, 12),
    },
    test_structure=one_grid_structure,  # the stem and reductions alone, else one block on one grid
    year=2016,
)
