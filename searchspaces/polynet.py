"""PolyNet (Zhang, Li, Loy, Lin 2017, "PolyNet: A Pursuit of Structural Diversity in Very Deep
Networks"): Inception-ResNet-v2's three grids with each residual unit ``I + F`` replaced by a
PolyInception module, a polynomial in Inception blocks:

- ``poly-2`` ``I + F + F.F`` and ``poly-3`` ``I + F + F.F + F.F.F``: one F applied again to its own
  output (its convolutions shared; as in the released model, every order has its own batch-norm
  statistics and its own closing 1x1 projection);
- ``mpoly-2`` ``I + F + G.F`` and ``mpoly-3`` ``I + F + G.F + H.G.F``: a chain of distinct blocks;
- ``2-way`` ``I + F + G`` and ``3-way`` ``I + F + G + H``: distinct blocks side by side on the input;
- ``ir``: the plain Inception residual unit ``I + F``.

Each term is scaled by the module's residual scale; an order's output passes a ReLU before the next
block reads it, and the sum passes a ReLU. Module types per stage are data (``MODULES``; a stage
cycles through its "+"-separated list: "poly-3+2-way" alternates the two), so are the widths
(``WIDTHS``: Inception-ResNet-v2's A/B/C branches; ``STEM``: Inception-v4's stem; Reduction-A's
k, l, m, n from the table in searchspaces/inception_v4.py; ``REDUCTION_B``) and the residual scales
(linear from ``scale_first`` to ``scale_last`` over all modules). Convs are the shared
:class:`~searchspaces.inception.BasicConv2d` (batch-norm eps 1e-5, as the released model).

Canonical ``polynet`` is the Very Deep PolyNet the authors released (the Caffe model converted from
their Parrots training, ported to PyTorch as ``pretrainedmodels.polynet``, whose module names are
ours so its state dict loads strictly): stage A 10 2-way, stage B 10 poly-3 and 10 2-way alternated,
stage C 5 poly-3 and 5 2-way alternated, scales 1 -> 0.7, 331 px. What the paper leaves open and
the released model fixes: the per-layer widths (here 384/1152/2048 channels on the three grids, not
Inception-ResNet-v2's 320/1088/2080), the stem, Reduction-B, batch norm after the closing 1x1 (no
bias), which parts a poly-N shares (the branch convs, not the batch norms or the 1x1 projection),
the ReLUs between orders, the residual scales and the 331 px input. ``polynet_ir_*`` rows are the
paper's Inception-ResNet configurations (IR 3-6-3, its ablation baseline; IR 5-10-5, the
Inception-ResNet-v2 layout; IR 20-56-20, its Very Deep Inception-ResNet) in those widths.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.inception import BasicConv2d, scaled
from searchspaces.inception_v4 import REDUCTION_A
from searchspaces.polyinception import MODULES, K, MultiWay, Poly, chain, conv, pad, paths

PATTERNS = (*MODULES, "poly-3+2-way", "poly-2+2-way", "mpoly-3+2-way")
"""A stage's module types, cycled over its modules: a single type or an alternation."""
REDUCTION_B = (256, 256, 256, 256, 256, 256, 384)
"""The released model's Reduction-B: 1x1 -> 3x3 -> 3x3/2 | 1x1 -> 3x3/2 | 1x1 -> 3x3/2 | max pool."""
STEM = {"conv1": (32, 32, 64), "conv1_branch": (96,), "conv2_short": (64, 96), "conv2_long": (64, 64, 64, 96),
        "conv2_branch": (192,)}  # fmt: skip
"""The Inception-v4 stem (Szegedy et al. 2016 Fig. 3): 3 convs, [max pool | 3x3/2], [1x1 -> 3x3 |
1x1 -> 7x1 -> 1x7 -> 3x3], [max pool | 3x3/2]: 384 channels out at 331 px -> 39x39."""


def module_types(p: Point) -> list[tuple[str, str]]:
    """(stage, module type) of every PolyInception module, in order."""
    out = []
    for stage, n in zip("ABC", p["depths"], strict=True):
        cycle = p[f"modules_{stage.lower()}"].split("+")
        out += [(stage, cycle[i % len(cycle)]) for i in range(n)]
    return out


def scales(p: Point) -> list[float]:
    """Residual scales, linear from the first module to the last (rounded to 6 decimals, as the
    released model's PyTorch port writes them)."""
    n, a, b = sum(p["depths"]), p["scale_first"], p["scale_last"]
    return [round(a + (b - a) * i / max(n - 1, 1), 6) for i in range(n)]


def stem_convs(m: float) -> dict[str, list[tuple[int, int, K, int, K]]]:
    """The stem's conv sequences (c_in, c_out, kernel, stride, padding), by the released model's names."""
    w = {k: [scaled(c, m) for c in v] for k, v in STEM.items()}
    c1, (b1,), sh, lo, (b2,) = (
        w["conv1"],
        w["conv1_branch"],
        w["conv2_short"],
        w["conv2_long"],
        w["conv2_branch"],
    )
    c = c1[2] + b1
    return {
        "conv1": [(3, c1[0], 3, 2, 0), (c1[0], c1[1], 3, 1, 0), (c1[1], c1[2], 3, 1, 1)],
        "conv1_branch": [(c1[2], b1, 3, 2, 0)],
        "conv2_short": [(c, sh[0], 1, 1, 0), (sh[0], sh[1], 3, 1, 0)],
        "conv2_long": [(c, lo[0], 1, 1, 0), (lo[0], lo[1], (7, 1), 1, (3, 0)), (lo[1], lo[2], (1, 7), 1, (0, 3)),
                       (lo[2], lo[3], 3, 1, 0)],
        "conv2_branch": [(sh[1] + lo[3], b2, 3, 2, 0)],
    }  # fmt: skip


class Stem(nn.Module):
    """The released model's Inception-v4 stem; each concatenation puts the max pool first."""

    def __init__(self, m: float) -> None:
        super().__init__()
        spec = stem_convs(m)
        for name, ops in spec.items():
            if name in ("conv1_branch", "conv2_branch"):
                self.add_module(name.replace("branch", "pool_branch"), nn.MaxPool2d(3, stride=2))
            self.add_module(name, chain([conv(*op) for op in ops]))
        self.out_channels = spec["conv2_branch"][0][0] + spec["conv2_branch"][0][1]

    def forward(self, x: Tensor) -> Tensor:
        m = self.get_submodule
        x = m("conv1")(x)
        x = torch.cat((m("conv1_pool_branch")(x), m("conv1_branch")(x)), 1)
        x = torch.cat((m("conv2_short")(x), m("conv2_long")(x)), 1)
        return torch.cat((m("conv2_pool_branch")(x), m("conv2_branch")(x)), 1)


def reduction_paths(kind: str, c: int, m: float) -> list[list[tuple[int, int, int, int, int]]]:
    """Per conv path of Reduction-A / -B, its convs (c_in, c_out, kernel, stride, padding); a max
    pool 3/2 is the last path."""
    if kind == "A":
        k, l_, mm, n = (scaled(x, m) for x in REDUCTION_A["inception_resnet_v2"])
        return [[(c, k, 1, 1, 0), (k, l_, 3, 1, 1), (l_, mm, 3, 2, 0)], [(c, n, 3, 2, 0)]]
    w = [scaled(x, m) for x in REDUCTION_B]
    return [
        [(c, w[0], 1, 1, 0), (w[0], w[1], 3, 1, 1), (w[1], w[2], 3, 2, 0)],
        [(c, w[3], 1, 1, 0), (w[3], w[4], 3, 2, 0)],
        [(c, w[5], 1, 1, 0), (w[5], w[6], 3, 2, 0)],
    ]


class Reduction(nn.Module):
    """Reduction-A / -B: conv paths with a stride-2 end and a max pool, concatenated."""

    def __init__(self, kind: str, c: int, m: float) -> None:
        super().__init__()
        spec = reduction_paths(kind, c, m)
        for i, ops in enumerate(spec):
            self.add_module(f"path{i}", chain([conv(*op) for op in ops]))
        self.add_module(f"path{len(spec)}", nn.MaxPool2d(3, stride=2))
        self.n = len(spec) + 1
        self.out_channels = c + sum(ops[-1][1] for ops in spec)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([getattr(self, f"path{i}")(x) for i in range(self.n)], 1)


def make_module(stage: str, kind: str, c: int, m: float, scale: float) -> nn.Module:
    combine, orders = MODULES[kind]
    if combine == "poly":
        return Poly(stage, c, m, orders, scale)
    return MultiWay(stage, c, m, orders, scale, compose=combine == "mpoly")


def final_side(resolution: int) -> int:
    """Map side after the stem (331 -> 39) and the two reductions (-> 19 -> 9); < 1: too small."""
    s = conv_out(conv_out(resolution, 3, 2) - 2, 3, 2)  # conv1 (3x3/2, 3x3, 3x3 same), pool | 3x3/2
    s = conv_out(s - 2, 3, 2)  # a 3x3 valid conv, then the stem's last pool | 3x3/2
    return conv_out(conv_out(s, 3, 2), 3, 2)  # Reduction-A, Reduction-B


class PolyNet(nn.Module):
    """stem -> stage_a -> reduction_a -> stage_b -> reduction_b -> stage_c -> avg_pool -> last_linear."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        m = p["width_multiplier"]
        self.stem = Stem(m)
        c = self.stem.out_channels
        mods = iter(zip(module_types(p), scales(p), strict=True))
        for stage, n in zip("abc", p["depths"], strict=True):
            layers = [make_module(st, kind, c, m, s) for (st, kind), s in (next(mods) for _ in range(n))]
            self.add_module(f"stage_{stage}", nn.Sequential(*layers))
            if stage != "c":
                red = Reduction(stage.upper(), c, m)
                self.add_module(f"reduction_{stage}", red)
                c = red.out_channels
        self.avg_pool = nn.AvgPool2d(final_side(p["resolution"]), stride=1)
        self.dropout = nn.Dropout(p["dropout"])
        self.last_linear = nn.Linear(c, p["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        for name in (
            "stem",
            "stage_a",
            "reduction_a",
            "stage_b",
            "reduction_b",
            "stage_c",
            "avg_pool",
            "dropout",
        ):
            x = self.get_submodule(name)(x)
        return self.last_linear(torch.flatten(x, 1))


def build(p: Point) -> nn.Module:
    return PolyNet(p)


# --------------------------------------------------------------------------- cost (mirrors build)


def _rerun(t: Tally, c_in: int, c_out: int, size: int, k: K) -> None:
    """A shared conv run again by a later order: its FLOPs and outputs, no new weights; its own BN."""
    kh, kw = k if isinstance(k, tuple) else (k, k)
    weights = c_out * c_in * kh * kw
    t.layer("conv", 0, size * size * weights, size * size * c_out, 0, (kh, kw), 1, c_in, c_out)
    t.bn(c_out, size)


def _module_cost(t: Tally, stage: str, kind: str, c: int, m: float, size: int) -> None:
    combine, orders = MODULES[kind]
    spec = paths(stage, c, m)
    width = sum(ops[-1][1] for _, ops in spec)
    for order in range(orders):
        for _, ops in spec:
            for ci, co, k in ops:
                if combine == "poly" and order > 0:
                    _rerun(t, ci, co, size, k)
                else:
                    BasicConv2d.complexity(t, ci, co, size, k, 1, pad(k))
        BasicConv2d.complexity(t, width, c, size, 1)


def _chain_cost(t: Tally, ops: Sequence[tuple[int, int, K, int, K]], size: int) -> int:
    for c_in, c_out, k, stride, padding in ops:
        size = BasicConv2d.complexity(t, c_in, c_out, size, k, stride, padding)
    return size


def complexity(p: Point) -> Counts:
    t, m = Tally(), p["width_multiplier"]
    stem = stem_convs(m)
    size = _chain_cost(t, stem["conv1_branch"], _chain_cost(t, stem["conv1"], p["resolution"]))
    _chain_cost(t, stem["conv2_short"], size)
    size = _chain_cost(t, stem["conv2_branch"], _chain_cost(t, stem["conv2_long"], size))
    c = stem["conv2_branch"][0][0] + stem["conv2_branch"][0][1]
    repeats: dict[tuple[str, str], int] = {}
    for key in module_types(p):
        repeats[key] = repeats.get(key, 0) + 1
    for stage in "ABC":
        for (s, kind), n in repeats.items():
            if s == stage:  # identical modules: count one, add it n times
                one = Tally()
                _module_cost(one, s, kind, c, m, size)
                t.merge(one, n)
        if stage != "C":
            spec = reduction_paths(stage, c, m)
            size, c = [_chain_cost(t, ops, size) for ops in spec][0], c + sum(ops[-1][1] for ops in spec)
    t.linear(c, p["num_classes"])
    return t.counts()


# --------------------------------------------------------------------------- space

_STAGES = ("modules_a", "modules_b", "modules_c")

SPACE = Space(
    name="polynet",
    params=(
        Param("depths", IntList(0, 64, 3, 3), [10, 20, 10], "PolyInception modules on the A, B, C grids"),
        *(
            Param(
                name,
                Choice(PATTERNS),
                kind,
                f"stage {name[-1].upper()}'s module types",
                search=Choice(PATTERNS[:7]),
            )
            for name, kind in zip(_STAGES, ("2-way", "poly-3+2-way", "poly-3+2-way"), strict=True)
        ),
        Param("scale_first", Float(0.0, 1.0), 1.0, "residual scale of the first module"),
        Param("scale_last", Float(0.0, 1.0), 0.7, "residual scale of the last module (linear in between)"),
        Param(
            "width_multiplier",
            Float(0.01, 4.0),
            1.0,
            "multiplier on every width (stem, blocks, reductions), rounded half up, at least 1",
            search=Choice((0.125, 0.25, 0.5, 1.0)),
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout before the classifier"),
        Param(
            "resolution", Int(75, 2048), 331, "input image side in pixels (at least 75: 1x1 after stage C)"
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "resolution must leave a map of at least 1x1 after the stem and both reductions",
            ("resolution",),
            lambda p: final_side(p["resolution"]) >= 1,
        ),
    ),
)

_SRC = (
    "PolyNet paper (Zhang et al. 2017) {layout}, in the released model's widths; this family's counts "
    "(no count of the paper's could be checked: no copy of the paper is reachable from here), fvcore "
    "0.1.5 eval mode on 1x3x331x331"
)

CANONICAL = (
    *canonical_table(
        ("name", "params", "flops"),
        [("polynet", 95_366_600, 34_832_537_312)],
        "pretrainedmodels 0.7.4 polynet(pretrained=None) (Cadene's port of the authors' released Caffe "
        "Very Deep PolyNet), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x331x331; the paper itself "
        "gives the module types and counts (10 2-way | 10 poly-3 + 10 2-way | 5 poly-3 + 5 2-way); widths, "
        "stem and residual scales are the released model's",
    ),
    *canonical_table(
        ("name", "depths", "params", "flops"),
        [
            ("polynet_ir_3_6_3", [3, 6, 3], 22_584_680, 9_049_416_832),
            ("polynet_ir_5_10_5", [5, 10, 5], 31_574_440, 11_488_711_872),
            ("polynet_ir_20_56_20", [20, 56, 20], 117_766_536, 36_558_996_128),
        ],
        lambda r: _SRC.format(layout=f"IR {'-'.join(map(str, r['depths']))}: Inception residual units only"),
        modules_a="ir",
        modules_b="ir",
        modules_c="ir",
    ),
)


def _test_structure(rng: random.Random) -> Point:
    """One module of a random pattern on one random grid, none on the others: quick fvcore traces."""
    depths = [0, 0, 0]
    depths[rng.randrange(3)] = 1
    return {"depths": depths, **{k: rng.choice(PATTERNS) for k in _STAGES}}


FAMILY = Family(
    name="polynet",
    summary="PolyNet: Inception-ResNet-v2 grids of PolyInception modules (poly-N, mpoly-N, N-way) as data",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=CANONICAL,
    test_domains={
        "width_multiplier": Choice((0.02, 0.03, 0.04)),
        "resolution": Choice((75, 76, 80, 91)),
        "scale_last": Float(0.0, 1.0),
        "dropout": Float(0.0, 0.5),
        "num_classes": Int(2, 12),
    },
    test_structure=_test_structure,
    test_points=12,  # deep even when small: few fvcore traces in the conformance suite
    year=2017,
)
