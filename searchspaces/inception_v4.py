"""Inception-v4 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning") as timm's ``inception_v4``: one ``features`` sequence of stem, 4
Inception-A, Reduction-A, 7 Inception-B, Reduction-B and 3 Inception-C modules, global average
pooling and ``last_linear``.

Its own file rather than a form of searchspaces/inception_v3.py: timm's layout (numbered
``features``, ``branchN`` sequences, a mixed stem) shares no module names with torchvision's
Inception3, so a joint builder would be two builders behind a switch. The conv is the shared
:class:`~searchspaces.inception.BasicConv2d` (timm's ConvNormAct has the same state-dict keys).

The branch widths are data (``WIDTHS``, the paper's Figures 3-8); the paper's Reduction-A table
(k, l, m, n for each network, ``REDUCTION_A``) is data too and ``reduction_a`` picks the filters;
the search parameters are a width multiplier and the number of modules on each grid.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Float, Int, IntList, Param, Point, Space
from searchspaces.inception import BasicConv2d, pool_out, scaled

REDUCTION_A: dict[str, tuple[int, int, int, int]] = {
    "inception_v4": (192, 224, 256, 384),
    "inception_resnet_v1": (192, 192, 256, 384),
    "inception_resnet_v2": (256, 256, 384, 384),
}
"""Szegedy et al. 2016, Table 1: filters k, l, m, n of Reduction-A (1x1 k -> 3x3 l -> 3x3/2 m | 3x3/2 n)."""
WIDTHS: dict[str, tuple[int, ...]] = {
    "stem": (32, 32, 64, 96, 64, 96, 64, 64, 96, 192),  # 3 convs | Mixed3a | Mixed4a (2 branches) | Mixed5a
    "A": (96, 64, 96, 64, 96, 96, 96),  # 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1
    "B": (
        384,
        192,
        224,
        256,
        192,
        192,
        224,
        224,
        256,
        128,
    ),  # 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | pool
    "RB": (192, 192, 256, 256, 320, 320),  # 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool
    "C": (
        256,
        384,
        256,
        384,
        448,
        512,
        256,
        256,
    ),  # 1x1 | 1x1 -> (1x3, 3x1) | 1x1, 3x1, 1x3 -> (1x3, 3x1) | pool
}
R, T = (1, 7), (7, 1)
Op = tuple  # ("conv", c_in, c_out, kernel, stride, padding) | ("avg",) | ("max",)


def branches(kind: str, c: int, w: tuple[int, ...], kl: tuple[int, ...] = ()) -> dict[str, list[Op]]:
    """A block's branches as op lists in timm's order (C's split convs are flat names)."""

    def cv(ci: int, co: int, k: object = 1, s: int = 1, p: object = 0) -> Op:
        return ("conv", ci, co, k, s, p)

    if kind == "Mixed3a":
        return {"maxpool": [("max",)], "conv": [cv(c, w[3], 3, 2)]}
    if kind == "Mixed4a":
        return {"branch0": [cv(c, w[4]), cv(w[4], w[5], 3)],
                "branch1": [cv(c, w[6]), cv(w[6], w[7], R, 1, (0, 3)), cv(w[7], w[7], T, 1, (3, 0)), cv(w[7], w[8], 3)]}  # fmt: skip
    if kind == "Mixed5a":
        return {"conv": [cv(c, w[9], 3, 2)], "maxpool": [("max",)]}
    if kind == "A":
        return {"branch0": [cv(c, w[0])], "branch1": [cv(c, w[1]), cv(w[1], w[2], 3, 1, 1)],
                "branch2": [cv(c, w[3]), cv(w[3], w[4], 3, 1, 1), cv(w[4], w[5], 3, 1, 1)],
                "branch3": [("avg",), cv(c, w[6])]}  # fmt: skip
    if kind == "RA":
        k, l_, m, n = kl
        return {"branch0": [cv(c, n, 3, 2)], "branch1": [cv(c, k), cv(k, l_, 3, 1, 1), cv(l_, m, 3, 2)],
                "branch2": [("max",)]}  # fmt: skip
    if kind == "B":
        return {"branch0": [cv(c, w[0])], "branch1": [cv(c, w[1]), cv(w[1], w[2], R, 1, (0, 3)), cv(w[2], w[3], T, 1, (3, 0))],
                "branch2": [cv(c, w[4]), cv(w[4], w[5], T, 1, (3, 0)), cv(w[5], w[6], R, 1, (0, 3)),
                            cv(w[6], w[7], T, 1, (3, 0)), cv(w[7], w[8], R, 1, (0, 3))],
                "branch3": [("avg",), cv(c, w[9])]}  # fmt: skip
    if kind == "RB":
        return {"branch0": [cv(c, w[0]), cv(w[0], w[1], 3, 2)],
                "branch1": [cv(c, w[2]), cv(w[2], w[3], R, 1, (0, 3)), cv(w[3], w[4], T, 1, (3, 0)), cv(w[4], w[5], 3, 2)],
                "branch2": [("max",)]}  # fmt: skip
    return {"branch0": [cv(c, w[0])], "branch1_0": [cv(c, w[1])], "branch1_1a": [cv(w[1], w[2], (1, 3), 1, (0, 1))],
            "branch1_1b": [cv(w[1], w[2], (3, 1), 1, (1, 0))], "branch2_0": [cv(c, w[3])],
            "branch2_1": [cv(w[3], w[4], (3, 1), 1, (1, 0))], "branch2_2": [cv(w[4], w[5], (1, 3), 1, (0, 1))],
            "branch2_3a": [cv(w[5], w[6], (1, 3), 1, (0, 1))], "branch2_3b": [cv(w[5], w[6], (3, 1), 1, (1, 0))],
            "branch3": [("avg",), cv(c, w[7])]}  # fmt: skip


def make(op: Op) -> nn.Module:
    if op[0] == "avg":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op[0] == "max":
        return nn.MaxPool2d(3, stride=2)
    return BasicConv2d(*op[1:])


class Block(nn.Module):
    """Branches (op lists: :func:`branches`) run on the input and concatenated: timm's Mixed3a/4a/5a,
    InceptionA/B/C and ReductionA/B, and Inception-ResNet-v2's mixed blocks; ``kind="C"`` splits
    the two 3x3 branches of Inception-C into parallel 1x3 and 3x1 convs."""

    def __init__(self, chains: dict[str, list[Op]], kind: str = "") -> None:
        super().__init__()
        self.kind = kind
        for name, ops in chains.items():
            self.add_module(name, make(ops[0]) if len(ops) == 1 else nn.Sequential(*map(make, ops)))

    def forward(self, x: Tensor) -> Tensor:
        b = dict(self.named_children())
        if self.kind != "C":
            return torch.cat([m(x) for m in b.values()], 1)
        x1, x2 = b["branch1_0"](x), b["branch2_2"](b["branch2_1"](b["branch2_0"](x)))
        return torch.cat(
            [b["branch0"](x), b["branch1_1a"](x1), b["branch1_1b"](x1), b["branch2_3a"](x2), b["branch2_3b"](x2), b["branch3"](x)],
            1,
        )  # fmt: skip

    @staticmethod
    def complexity(
        t: Tally, chains: dict[str, list[Op]], c_in: int, size: int, kind: str = ""
    ) -> tuple[int, int]:
        """Adds the block's convs; returns (channels, side) of its output."""
        out_c, out_s = 0, size
        for name, ops in chains.items():
            s, c = size, c_in  # (C's split convs keep the side, so they count from it too)
            for op in ops:
                if op[0] == "conv":
                    s, c = BasicConv2d.complexity(t, *op[1:3], s, *op[3:]), op[2]  # type: ignore[call-arg]
                elif op[0] == "max":
                    s = pool_out(s, 3, 2)
            if kind != "C" or name in ("branch0", "branch3") or name[-1] in "ab":
                out_c, out_s = out_c + c, s
        return out_c, out_s


def layout(p: Point) -> list[tuple[str, tuple[int, ...]]]:
    """(block kind, Reduction-A filters) for features.3 onwards."""
    n_a, n_b, n_c = p["modules"]
    kl = tuple(scaled(x, p["width_mult"]) for x in p["reduction_a"])
    return (
        [("Mixed3a", ()), ("Mixed4a", ()), ("Mixed5a", ())]
        + [("A", ())] * n_a
        + [("RA", kl)]
        + [("B", ())] * n_b
        + [("RB", ())]
        + [("C", ())] * n_c
    )


def widths(p: Point) -> dict[str, tuple[int, ...]]:
    out = {kind: tuple(scaled(c, p["width_mult"]) for c in w) for kind, w in WIDTHS.items()}
    out.update(Mixed3a=out["stem"], Mixed4a=out["stem"], Mixed5a=out["stem"], RA=())
    return out


STEM = ((3, 2, 0), (3, 1, 0), (3, 1, 1))
"""features.0-2: kernel, stride, padding of the three stem convs (widths: WIDTHS["stem"][:3])."""


class InceptionV4(nn.Module):
    """timm's ``InceptionV4`` with the widths, Reduction-A filters and modules per grid of a point."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        w, c, s = widths(p), 3, p["resolution"]
        features: list[nn.Module] = []
        for (k, stride, pad), c_out in zip(STEM, w["stem"][:3], strict=True):
            features.append(BasicConv2d(c, c_out, k, stride, pad))
            c = c_out
        for kind, kl in layout(p):
            chains = branches(kind, c, w[kind], kl)
            features.append(Block(chains, kind))
            c, s = Block.complexity(Tally(), chains, c, s, kind)
        self.features = nn.Sequential(*features)
        self.num_features = c
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(p["dropout"])
        self.last_linear = nn.Linear(c, p["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        return self.last_linear(self.head_drop(torch.flatten(self.global_pool(self.features(x)), 1)))


def build(p: Point) -> nn.Module:
    return InceptionV4(p)


def complexity(p: Point) -> Counts:
    """Mirrors :class:`InceptionV4` block by block."""
    t, w, c, s = Tally(), widths(p), 3, p["resolution"]
    for (k, stride, pad), c_out in zip(STEM, w["stem"][:3], strict=True):
        s, c = BasicConv2d.complexity(t, c, c_out, s, k, stride, pad), c_out
    for kind, kl in layout(p):
        c, s = Block.complexity(t, branches(kind, c, w[kind], kl), c, s, kind)
    t.adaptive_avgpool(c, s)
    t.linear(c, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="inception_v4",
    params=(
        Param(
            "width_mult",
            Float(0.05, 4.0),
            1.0,
            "multiplier on every width (stem, blocks, Reduction-A), rounded half up, at least 1 channel",
            search=Choice((0.25, 0.5, 0.75, 1.0)),
        ),
        Param(
            "modules",
            IntList(0, 16, 3, 3),
            [4, 7, 3],
            "Inception-A, -B and -C modules on the 35x35, 17x17 and 8x8 grids (the reductions come on top)",
        ),
        Param(
            "reduction_a",
            IntList(1, 2048, 4, 4),
            list(REDUCTION_A["inception_v4"]),
            "Reduction-A filters k,l,m,n (paper's Table 1: 192,224,256,384 Inception-v4; "
            "192,192,256,384 Inception-ResNet-v1; 256,256,384,384 Inception-ResNet-v2)",
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


def one_grid_structure(rng: random.Random) -> Point:
    """Mostly the stem and the reductions alone, else one module on one grid: fvcore traces every
    op, and each module kind still comes up in ~20 of 200 points."""
    modules = [0, 0, 0]
    grid = rng.randrange(9)
    if grid < 3:
        modules[grid] = 1
    return {"modules": modules, "reduction_a": [rng.randint(1, 12) for _ in range(4)]}


FAMILY = Family(
    name="inception_v4",
    summary="Inception-v4: Inception-A/B/C modules on 35/17/8 grids, Reduction-A filters as data",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "params", "flops"),
        [("inception_v4", 42_679_816, 12_284_251_296)],
        "timm 1.0.31 create_model('{name}'), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x299x299",
        resolution=299,
    ),
    test_points=60,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "width_mult": Choice((0.05, 0.06, 0.08)),
        "resolution": Choice((75, 76, 80, 91)),
        "num_classes": Int(2, 12),
    },
    test_structure=one_grid_structure,
    year=2016,
)
