"""Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture") as torchvision's
``Inception3``: auxiliary head off by default, available with ``aux_logits=True``.

A stem of plain 3x3/1x1 convs and two max poolings, then three grids: 35x35 Inception-A modules
(Mixed_5b...), a grid reduction (Mixed_6a) and 17x17 Inception-C modules with factorised 1x7/7x1
convs (Mixed_6b...), a grid reduction (Mixed_7a) and 8x8 Inception-E modules with expanded 1x3/3x1
outputs (Mixed_7b...); global average pooling, dropout, linear. Module names are torchvision's
(its A-E block classes), so its state dicts load unchanged.

Generation apart from GoogLeNet (searchspaces/inception.py): the blocks, their names and the stem
differ, so one builder over both would be two builders behind a switch; the shared piece, the
:class:`~searchspaces.inception.BasicConv2d` conv with its cost twin, is imported from there.

The branch widths are data (``WIDTHS``: torchvision's, from TF-slim's inception_v3; the paper's
Table 1 gives only grid sizes), with the per-module ones (``pool_features`` of the A modules,
``channels_7x7`` of the C modules) as lists; the search parameters are a width multiplier over
every width and the number of modules on each grid.
"""

from __future__ import annotations

import random
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.inception import BasicConv2d, pool_out, scaled

InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])
"""What the network returns while training with ``aux_logits`` (as torchvision); logits otherwise."""

STEM = (32, 32, 64, 80, 192)
"""Conv2d_1a_3x3, 2a_3x3, 2b_3x3, 3b_1x1, 4a_3x3."""
WIDTHS: dict[str, tuple[int, ...]] = {
    "A": (64, 48, 64, 64, 96, 96),  # 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> pool_features
    "B": (384, 64, 96, 96),  # 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool
    "C": (192, 192, 192, 192),  # 1x1 | c7 -> 1x7 -> 7x1 (out) | c7 -> 7x1, 1x7, 7x1, 1x7 (out) | pool -> 1x1
    "D": (192, 320, 192, 192),  # 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 (all one width) | max pool
    "E": (320, 384, 448, 384, 192),  # 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool -> 1x1
    "aux": (128, 768),  # avg pool 5/3 -> 1x1 -> 5x5 -> global pool -> fc
}
POOL_FEATURES = (32, 64, 64)
"""Pool-projection width of Mixed_5b, 5c, 5d."""
CHANNELS_7X7 = (128, 160, 160, 192)
"""Width inside the factorised 7x7 branches of Mixed_6b ... 6e."""


def conv_specs(kind: str, c_in: int, w: tuple[int, ...], extra: int = 0) -> dict[str, tuple]:
    """Each branch conv of a block as ``name: (c_in, c_out, kernel, stride, padding)``, in
    torchvision's order; ``extra`` is pool_features (A) or channels_7x7 (C)."""
    r, t = (1, 7), (7, 1)
    if kind == "A":
        return {"branch1x1": (c_in, w[0], 1, 1, 0), "branch5x5_1": (c_in, w[1], 1, 1, 0),
                "branch5x5_2": (w[1], w[2], 5, 1, 2), "branch3x3dbl_1": (c_in, w[3], 1, 1, 0),
                "branch3x3dbl_2": (w[3], w[4], 3, 1, 1), "branch3x3dbl_3": (w[4], w[5], 3, 1, 1),
                "branch_pool": (c_in, extra, 1, 1, 0)}  # fmt: skip
    if kind == "B":
        return {"branch3x3": (c_in, w[0], 3, 2, 0), "branch3x3dbl_1": (c_in, w[1], 1, 1, 0),
                "branch3x3dbl_2": (w[1], w[2], 3, 1, 1), "branch3x3dbl_3": (w[2], w[3], 3, 2, 0)}  # fmt: skip
    if kind == "C":
        c7 = extra
        return {"branch1x1": (c_in, w[0], 1, 1, 0), "branch7x7_1": (c_in, c7, 1, 1, 0),
                "branch7x7_2": (c7, c7, r, 1, (0, 3)), "branch7x7_3": (c7, w[1], t, 1, (3, 0)),
                "branch7x7dbl_1": (c_in, c7, 1, 1, 0), "branch7x7dbl_2": (c7, c7, t, 1, (3, 0)),
                "branch7x7dbl_3": (c7, c7, r, 1, (0, 3)), "branch7x7dbl_4": (c7, c7, t, 1, (3, 0)),
                "branch7x7dbl_5": (c7, w[2], r, 1, (0, 3)), "branch_pool": (c_in, w[3], 1, 1, 0)}  # fmt: skip
    if kind == "D":
        return {"branch3x3_1": (c_in, w[0], 1, 1, 0), "branch3x3_2": (w[0], w[1], 3, 2, 0),
                "branch7x7x3_1": (c_in, w[2], 1, 1, 0), "branch7x7x3_2": (w[2], w[2], r, 1, (0, 3)),
                "branch7x7x3_3": (w[2], w[2], t, 1, (3, 0)), "branch7x7x3_4": (w[2], w[3], 3, 2, 0)}  # fmt: skip
    return {"branch1x1": (c_in, w[0], 1, 1, 0), "branch3x3_1": (c_in, w[1], 1, 1, 0),
            "branch3x3_2a": (w[1], w[1], (1, 3), 1, (0, 1)), "branch3x3_2b": (w[1], w[1], (3, 1), 1, (1, 0)),
            "branch3x3dbl_1": (c_in, w[2], 1, 1, 0), "branch3x3dbl_2": (w[2], w[3], 3, 1, 1),
            "branch3x3dbl_3a": (w[3], w[3], (1, 3), 1, (0, 1)),
            "branch3x3dbl_3b": (w[3], w[3], (3, 1), 1, (1, 0)), "branch_pool": (c_in, w[4], 1, 1, 0)}  # fmt: skip


def block_out(kind: str, c_in: int, w: tuple[int, ...], extra: int = 0) -> int:
    """Output channels of a block; the reductions (B, D) pass their input through a max pool."""
    if kind == "A":
        return w[0] + w[2] + w[5] + extra
    if kind == "B":
        return w[0] + w[3] + c_in
    if kind == "C":
        return w[0] + w[1] + w[2] + w[3]
    if kind == "D":
        return w[1] + w[3] + c_in
    return w[0] + 2 * w[1] + 2 * w[3] + w[4]


class InceptionBlock(nn.Module):
    """torchvision's InceptionA ... InceptionE by ``kind``: the branch convs of :func:`conv_specs`,
    run and concatenated in torchvision's order."""

    def __init__(self, kind: str, c_in: int, w: tuple[int, ...], extra: int = 0) -> None:
        super().__init__()
        self.kind = kind
        for name, (ci, co, k, s, pad) in conv_specs(kind, c_in, w, extra).items():
            self.add_module(name, BasicConv2d(ci, co, k, s, pad))

    def forward(self, x: Tensor) -> Tensor:
        b = dict(self.named_children())
        if self.kind in ("A", "C", "E"):
            pooled = b["branch_pool"](F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=2)
        chains = {
            "A": (("branch1x1",), ("branch5x5_1", "branch5x5_2"), ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")),
            "B": (("branch3x3",), ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")),
            "C": (("branch1x1",), tuple(f"branch7x7_{i}" for i in (1, 2, 3)), tuple(f"branch7x7dbl_{i}" for i in range(1, 6))),
            "D": (("branch3x3_1", "branch3x3_2"), tuple(f"branch7x7x3_{i}" for i in range(1, 5))),
            "E": (("branch1x1",), ("branch3x3_1",), ("branch3x3dbl_1", "branch3x3dbl_2")),
        }[self.kind]  # fmt: skip
        outs = []
        for chain in chains:
            y = x
            for name in chain:
                y = b[name](y)
            outs.append(y)
        if self.kind == "E":  # the 3x3 branches end in parallel 1x3 and 3x1 convs
            outs[1] = torch.cat([b["branch3x3_2a"](outs[1]), b["branch3x3_2b"](outs[1])], 1)
            outs[2] = torch.cat([b["branch3x3dbl_3a"](outs[2]), b["branch3x3dbl_3b"](outs[2])], 1)
        return torch.cat([*outs, pooled], 1)

    @staticmethod
    def complexity(t: Tally, kind: str, c_in: int, w: tuple[int, ...], size: int, extra: int = 0) -> int:
        """Adds the block's convs; returns the output side (channels: :func:`block_out`)."""
        for ci, co, k, s, pad in conv_specs(kind, c_in, w, extra).values():  # a stride-2 conv ends its chain:
            BasicConv2d.complexity(t, ci, co, size, k, s, pad)  # every conv sees the block's side
        return pool_out(size, 3, 2) if kind in ("B", "D") else size


class InceptionAux(nn.Module):
    """avg pool 5/3 -> 1x1 conv -> 5x5 conv -> global average pool -> fc (runs only in training)."""

    def __init__(self, c_in: int, w: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(c_in, w[0], 1)
        self.conv1 = BasicConv2d(w[0], w[1], 5)
        self.conv1.stddev = 0.01  # type: ignore[assignment]
        self.fc = nn.Linear(w[1], num_classes)
        self.fc.stddev = 0.001  # type: ignore[assignment]

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


def widths(p: Point) -> dict[str, tuple[int, ...]]:
    return {kind: tuple(scaled(c, p["width_mult"]) for c in w) for kind, w in WIDTHS.items()}


def per_module(values: list[int], n: int, width_mult: float) -> list[int]:
    """A per-module width list for n modules: its first entries, the last one repeated."""
    return [scaled(values[min(i, len(values) - 1)], width_mult) for i in range(n)]


def layout(p: Point) -> list[tuple[str, str, int]]:
    """(module name, block kind, pool_features / channels_7x7) for Mixed_5b onwards, in order."""
    n5, n6, n7 = p["modules"]
    m = p["width_mult"]
    blocks = [(f"Mixed_5{chr(98 + i)}", "A", c) for i, c in enumerate(per_module(p["pool_features"], n5, m))]
    blocks.append(("Mixed_6a", "B", 0))
    blocks += [(f"Mixed_6{chr(98 + i)}", "C", c) for i, c in enumerate(per_module(p["channels_7x7"], n6, m))]
    blocks.append(("Mixed_7a", "D", 0))
    blocks += [(f"Mixed_7{chr(98 + i)}", "E", 0) for i in range(n7)]
    return blocks


STEM_CONVS = (  # name, kernel, stride, padding; a 3x3/2 max pool after 2b_3x3 and after 4a_3x3
    ("Conv2d_1a_3x3", 3, 2, 0),
    ("Conv2d_2a_3x3", 3, 1, 0),
    ("Conv2d_2b_3x3", 3, 1, 1),
    ("Conv2d_3b_1x1", 1, 1, 0),
    ("Conv2d_4a_3x3", 3, 1, 0),
)

POOL_AFTER = {"Conv2d_2b_3x3": "maxpool1", "Conv2d_4a_3x3": "maxpool2"}


class Inception3(nn.Module):
    """torchvision's ``Inception3`` with the widths and modules per grid of a point."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        self.aux_logits = p["aux_logits"]
        self.transform_input = p["transform_input"]
        w, c = widths(p), 3
        for (name, k, s, pad), c_out in zip(
            STEM_CONVS, (scaled(x, p["width_mult"]) for x in STEM), strict=True
        ):
            self.add_module(name, BasicConv2d(c, c_out, k, s, pad))
            c = c_out
            if name in POOL_AFTER:
                self.add_module(POOL_AFTER[name], nn.MaxPool2d(kernel_size=3, stride=2))
        for name, kind, extra in layout(p):
            if name == "Mixed_7a":  # on the 17x17 grid, registered where torchvision registers it
                self.AuxLogits = InceptionAux(c, w["aux"], p["num_classes"]) if self.aux_logits else None
            self.add_module(name, InceptionBlock(kind, c, w[kind], extra))
            c = block_out(kind, c, w[kind], extra)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=p["dropout"])
        self.fc = nn.Linear(c, p["num_classes"])
        for m in self.modules():  # torchvision's init_weights=True
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=float(getattr(m, "stddev", 0.1)), a=-2, b=2)

    def forward(self, x: Tensor) -> Tensor | InceptionOutputs:
        if self.transform_input:  # ImageNet-normalised input to the [-1, 1] scaling of the original weights
            x = torch.cat(
                [
                    x[:, i : i + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                    for i, (mean, std) in enumerate(((0.485, 0.229), (0.456, 0.224), (0.406, 0.225)))
                ],
                1,
            )
        aux = None
        for name, module in self.named_children():
            if name == "avgpool":
                break
            if name == "AuxLogits":
                aux = module(x) if self.training else None
            else:
                x = module(x)
        x = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))
        return InceptionOutputs(x, aux) if self.training and self.aux_logits else x


def build(p: Point) -> nn.Module:
    return Inception3(p)


def sides(p: Point) -> dict[str, int]:
    """The side after each stem conv and pooling, and on the 35x35, 17x17 and 8x8 grids (at 299 px)."""
    s, out = p["resolution"], {}
    for name, k, stride, pad in STEM_CONVS:
        s = out[name] = pool_out(s, k, stride, pad)
        if name in POOL_AFTER:
            s = out[POOL_AFTER[name]] = pool_out(s, 3, 2)
    out["grid35"] = s
    out["grid17"] = pool_out(s, 3, 2)
    out["grid8"] = pool_out(out["grid17"], 3, 2)
    out["aux"] = pool_out(out["grid17"], 5, 3)  # the aux head's pooled side, before its 5x5 conv
    return out


def complexity(p: Point) -> Counts:
    """Mirrors :class:`Inception3` (eval mode: the auxiliary head adds parameters, no FLOPs)."""
    t, w, c, size = Tally(), widths(p), 3, p["resolution"]
    for (name, k, s, pad), c_out in zip(STEM_CONVS, (scaled(x, p["width_mult"]) for x in STEM), strict=True):
        size = BasicConv2d.complexity(t, c, c_out, size, k, s, pad)
        c = c_out
        if name in POOL_AFTER:
            size = pool_out(size, 3, 2)
    for name, kind, extra in layout(p):
        if name == "Mixed_7a" and p["aux_logits"]:
            aux = Tally()
            BasicConv2d.complexity(aux, c, w["aux"][0], 5, 1)
            BasicConv2d.complexity(aux, w["aux"][0], w["aux"][1], 5, 5)
            aux.linear(w["aux"][1], p["num_classes"])
            t.add_params(aux)
        size, c = (
            InceptionBlock.complexity(t, kind, c, w[kind], size, extra),
            block_out(kind, c, w[kind], extra),
        )
    t.adaptive_avgpool(c, size)
    t.linear(c, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="inception_v3",
    params=(
        Param(
            "width_mult",
            Float(0.05, 4.0),
            1.0,
            "multiplier on every width (stem, blocks, aux head), rounded half up, at least 1 channel",
            search=Choice((0.25, 0.5, 0.75, 1.0)),
        ),
        Param(
            "modules",
            IntList(0, 12, 3, 3),
            [3, 4, 2],
            "Inception modules on the 35x35, 17x17 and 8x8 grids (A, C and E blocks; the grid "
            "reductions Mixed_6a and Mixed_7a come on top, so 0 leaves a grid to its reduction)",
        ),
        Param(
            "pool_features",
            IntList(1, 1024, 1, 12),
            list(POOL_FEATURES),
            "pool-projection width of each A module (the last repeated for more modules)",
        ),
        Param(
            "channels_7x7",
            IntList(1, 1024, 1, 12),
            list(CHANNELS_7X7),
            "width inside the factorised 7x7 branches of each C module (the last repeated)",
        ),
        Param(
            "aux_logits",
            Choice((False, True)),
            False,
            "auxiliary classifier on the 17x17 grid; while training the network then returns "
            "(logits, aux_logits) as torchvision does",
        ),
        Param("dropout", Float(0.0, 0.9), 0.5, "dropout before the classifier"),
        Param(
            "transform_input",
            Choice((False, True)),
            False,
            "rescale ImageNet-normalised input to [-1, 1] per channel (torchvision's transform_input)",
        ),
        Param(
            "resolution",
            Int(75, 2048),
            299,
            "input image side in pixels: at least 75 (the stem and the two grid reductions leave a "
            "1x1 map at 75 px), 299 with aux_logits",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "aux_logits needs a 17x17 grid of at least 17x17 (resolution >= 299): the aux head pools "
            "5x5/3 and then runs a 5x5 conv",
            ("aux_logits", "resolution"),
            lambda p: not p["aux_logits"] or sides(dict(p))["aux"] >= 5,
        ),
    ),
)


def _test_structure(rng: random.Random) -> Point:
    """Mostly the stem and the two reductions alone, else one module on one grid: fvcore traces
    every op (~25 per module), and each block kind still comes up in ~40 of 200 points."""
    modules = [0, 0, 0]
    grid = rng.randrange(6)
    if grid < 3:
        modules[grid] = 1
    return {"modules": modules, "pool_features": [rng.randint(1, 8)], "channels_7x7": [rng.randint(1, 8)]}


FAMILY = Family(
    name="inception_v3",
    summary="Inception-v3: factorised Inception modules on 35/17/8 grids, width multiplier, modules per grid",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "aux_logits", "params", "flops"),
        [
            ("inception_v3", False, 23_834_568, 5_731_282_144),
            ("inception_v3_aux", True, 27_161_264, 5_731_282_144),
        ],
        lambda r: (
            "torchvision 0.28.0 inception_v3(aux_logits={aux_logits}, init_weights=True), fvcore 0.1.5 "
            "FlopCountAnalysis eval mode on 1x3x299x299".format(**r)
        ),
        resolution=299,
    ),
    test_points=80,  # deep even when small: fewer fvcore traces in the conformance suite
    test_domains={
        "width_mult": Choice((0.05, 0.06, 0.08)),
        "transform_input": Choice((False, True)),
        "resolution": Choice((75, 76, 80, 91)),
        "num_classes": Int(2, 12),
    },
    test_structure=_test_structure,
    year=2016,
)
