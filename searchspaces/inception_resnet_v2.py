"""Inception-ResNet-v2 (Szegedy et al. 2016) as timm's ``inception_resnet_v2``.

The Inception-v3 stem, a mixed 35x35 block (``mixed_5b``), residual Inception blocks on three
grids (``repeat``: Block35 x10, ``repeat_1``: Block17 x20, ``repeat_2``: Block8 x9, then a final
``block8`` without ReLU), Reduction-A (``mixed_6a``, the paper's k, l, m, n = 256, 256, 384, 384)
and Reduction-B (``mixed_7a``), a 1x1 conv to 1536 channels, global average pooling, ``classif``.
A residual block concatenates its branches, projects them with a biased 1x1 conv back to its
input width, scales the result (0.17, 0.10, 0.20) and adds it to the input.

Its own file: the residual blocks and timm's names differ from Inception-v4's; the concatenating
blocks reuse :class:`searchspaces.inception_v4.Block` and Reduction-A's filters come from the
paper's table held there (``REDUCTION_A``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Float, Int, IntList, Param, Point, Space
from searchspaces.inception import BasicConv2d, pool_out, scaled
from searchspaces.inception_v4 import REDUCTION_A, Block, Op, R, T, branches, make, one_grid_structure

WIDTHS: dict[str, tuple[int, ...]] = {
    "stem": (32, 32, 64, 80, 192),  # conv2d_1a, 2a, 2b, (maxpool_3a), 3b, 4a, (maxpool_5a)
    "5b": (96, 48, 64, 64, 96, 96, 64),  # 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1
    "35": (32, 32, 32, 32, 48, 64),  # 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3, then 1x1 back to the input width
    "17": (192, 128, 160, 192),  # 1x1 | 1x1 -> 1x7 -> 7x1
    "7a": (256, 384, 256, 288, 256, 288, 320),  # 1x1 -> 3x3/2 | 1x1 -> 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool
    "8": (192, 192, 224, 256),  # 1x1 | 1x1 -> 1x3 -> 3x1
    "head": (1536,),  # conv2d_7b
}
STEM = (
    ("conv2d_1a", 3, 2, 0),
    ("conv2d_2a", 3, 1, 0),
    ("conv2d_2b", 3, 1, 1),
    ("conv2d_3b", 1, 1, 0),
    ("conv2d_4a", 3, 1, 0),
)
POOL_AFTER = {"conv2d_2b": "maxpool_3a", "conv2d_4a": "maxpool_5a"}


def chains(kind: str, c: int, w: tuple[int, ...]) -> dict[str, list[Op]]:
    """The branches of Inception-ResNet-v2's own blocks, as :func:`searchspaces.inception_v4.branches`."""

    def cv(ci: int, co: int, k: object = 1, s: int = 1, p: object = 0) -> Op:
        return ("conv", ci, co, k, s, p)

    if kind == "5b":
        return {"branch0": [cv(c, w[0])], "branch1": [cv(c, w[1]), cv(w[1], w[2], 5, 1, 2)],
                "branch2": [cv(c, w[3]), cv(w[3], w[4], 3, 1, 1), cv(w[4], w[5], 3, 1, 1)],
                "branch3": [("avg",), cv(c, w[6])]}  # fmt: skip
    if kind == "7a":
        return {"branch0": [cv(c, w[0]), cv(w[0], w[1], 3, 2)], "branch1": [cv(c, w[2]), cv(w[2], w[3], 3, 2)],
                "branch2": [cv(c, w[4]), cv(w[4], w[5], 3, 1, 1), cv(w[5], w[6], 3, 2)], "branch3": [("max",)]}  # fmt: skip
    if kind == "35":
        return {"branch0": [cv(c, w[0])], "branch1": [cv(c, w[1]), cv(w[1], w[2], 3, 1, 1)],
                "branch2": [cv(c, w[3]), cv(w[3], w[4], 3, 1, 1), cv(w[4], w[5], 3, 1, 1)]}  # fmt: skip
    if kind == "17":
        return {"branch0": [cv(c, w[0])], "branch1": [cv(c, w[1]), cv(w[1], w[2], R, 1, (0, 3)), cv(w[2], w[3], T, 1, (3, 0))]}  # fmt: skip
    return {"branch0": [cv(c, w[0])],
            "branch1": [cv(c, w[1]), cv(w[1], w[2], (1, 3), 1, (0, 1)), cv(w[2], w[3], (3, 1), 1, (1, 0))]}  # fmt: skip


class ResidualBlock(nn.Module):
    """timm's Block35 / Block17 / Block8: input + scale * conv1x1(concat(branches)), then ReLU."""

    def __init__(self, kind: str, c: int, w: tuple[int, ...], scale: float, relu: bool = True) -> None:
        super().__init__()
        self.scale = scale
        spec = chains(kind, c, w)
        for name, ops in spec.items():
            self.add_module(name, make(ops[0]) if len(ops) == 1 else nn.Sequential(*map(make, ops)))
        self.n_branches = len(spec)
        self.conv2d = nn.Conv2d(Block.complexity(Tally(), spec, c, 1)[0], c, kernel_size=1, stride=1)
        self.add_module("relu" if kind == "8" else "act", nn.ReLU() if relu else None)
        self.act_name = "relu" if kind == "8" else "act"

    def forward(self, x: Tensor) -> Tensor:
        branches = list(self.children())[: self.n_branches]
        out = self.conv2d(torch.cat([b(x) for b in branches], 1)) * self.scale + x
        act = getattr(self, self.act_name)
        return out if act is None else act(out)

    @staticmethod
    def complexity(t: Tally, kind: str, c: int, w: tuple[int, ...], size: int) -> None:
        cat, _ = Block.complexity(t, chains(kind, c, w), c, size)
        t.conv(cat, c, size, 1, bias=True)


def widths(p: Point) -> dict[str, tuple[int, ...]]:
    return {kind: tuple(scaled(c, p["width_mult"]) for c in w) for kind, w in WIDTHS.items()}


class InceptionResnetV2(nn.Module):
    """timm's ``InceptionResnetV2`` with the widths, Reduction-A filters, blocks per grid and
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
        n35, n17, n8 = p["modules"]
        s35, s17, s8 = p["scale_a"], p["scale_b"], p["scale_c"]
        for name, kind, n, scale in (("5b", "35", n35, s35), ("6a", "17", n17, s17), ("7a", "8", n8, s8)):
            spec = chains(name, c, w[name]) if name != "6a" else branches("RA", c, (), kl)
            self.add_module(f"mixed_{name}", Block(spec))
            c = Block.complexity(Tally(), spec, c, 1)[0]
            blocks = [ResidualBlock(kind, c, w[kind], scale) for _ in range(n)]
            self.add_module({"35": "repeat", "17": "repeat_1", "8": "repeat_2"}[kind], nn.Sequential(*blocks))
        self.block8 = ResidualBlock("8", c, w["8"], 1.0, relu=False)
        self.conv2d_7b = BasicConv2d(c, w["head"][0], 1)
        self.num_features = w["head"][0]
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(p["dropout"])
        self.classif = nn.Linear(self.num_features, p["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        for name, module in self.named_children():
            if name == "global_pool":
                break
            x = module(x)
        return self.classif(self.head_drop(torch.flatten(self.global_pool(x), 1)))


def build(p: Point) -> nn.Module:
    return InceptionResnetV2(p)


def complexity(p: Point) -> Counts:
    """Mirrors :class:`InceptionResnetV2` (the residual scale and add cost nothing in fvcore)."""
    t, w, c, size = Tally(), widths(p), 3, p["resolution"]
    for (name, k, s, pad), c_out in zip(STEM, w["stem"], strict=True):
        size, c = BasicConv2d.complexity(t, c, c_out, size, k, s, pad), c_out
        if name in POOL_AFTER:
            size = pool_out(size, 3, 2)
    kl = tuple(scaled(x, p["width_mult"]) for x in p["reduction_a"])
    for name, kind, n in zip(("5b", "6a", "7a"), ("35", "17", "8"), p["modules"], strict=True):
        spec = chains(name, c, w[name]) if name != "6a" else branches("RA", c, (), kl)
        c, size = Block.complexity(t, spec, c, size)
        for _ in range(n):
            ResidualBlock.complexity(t, kind, c, w[kind], size)
    ResidualBlock.complexity(t, "8", c, w["8"], size)
    BasicConv2d.complexity(t, c, w["head"][0], size, 1)
    t.adaptive_avgpool(w["head"][0], size)
    t.linear(w["head"][0], p["num_classes"])
    return t.counts()


SPACE = Space(
    name="inception_resnet_v2",
    params=(
        Param(
            "width_mult",
            Float(0.05, 4.0),
            1.0,
            "multiplier on every width (stem, blocks, Reduction-A, head conv), rounded half up, at least 1",
            search=Choice((0.25, 0.5, 0.75, 1.0)),
        ),
        Param(
            "modules",
            IntList(0, 32, 3, 3),
            [10, 20, 9],
            "residual Inception blocks on the 35x35, 17x17 and 8x8 grids (a last Block8 without "
            "ReLU comes on top)",
        ),
        Param("scale_a", Float(0.0, 1.0), 0.17, "residual scale of the Inception-ResNet-A blocks (Block35)"),
        Param("scale_b", Float(0.0, 1.0), 0.10, "residual scale of the Inception-ResNet-B blocks (Block17)"),
        Param("scale_c", Float(0.0, 1.0), 0.20, "residual scale of the Inception-ResNet-C blocks (Block8)"),
        Param(
            "reduction_a",
            IntList(1, 2048, 4, 4),
            list(REDUCTION_A["inception_resnet_v2"]),
            "Reduction-A filters k,l,m,n (paper's Table 1 row for Inception-ResNet-v2: 256,256,384,384)",
        ),
        Param("dropout", Float(0.0, 0.9), 0.0, "dropout before the classifier (timm's drop_rate)"),
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
    name="inception_resnet_v2",
    summary="Inception-ResNet-v2: scaled residual Inception blocks on 35/17/8 grids, Reduction-A as data",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "params", "flops"),
        [("inception_resnet_v2", 55_843_464, 13_182_930_592)],
        "timm 1.0.31 create_model('{name}'), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x299x299",
        resolution=299,
    ),
    test_points=60,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "width_mult": Choice((0.05, 0.06, 0.08)),
        "resolution": Choice((75, 76, 80, 91)),
        "num_classes": Int(2, 12),
    },
    test_structure=one_grid_structure,  # the stem and reductions alone, else one block on one grid
    year=2016,
)
