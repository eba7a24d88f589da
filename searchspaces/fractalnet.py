"""FractalNet (Larsson, Maire & Shakhnarovich, ICLR 2017): ultra-deep networks without residuals.

A fractal block of C columns follows the expansion rule

    f_1(z) = conv(z),    f_{C+1}(z) = join( (f_C o f_C)(z), conv(z) )

where conv is a 3x3 convolution + batch norm + ReLU and join is the element-wise mean. Unrolled,
column j (0 = shallowest) holds 2**j convolutions, and after row r of the deepest column one join
averages every column whose convolution ends at r (2, 3, ... C inputs: joins at the same depth
collapse into one layer, as the paper's Figure 1 and the authors' Caffe generator draw them). The
first convolution of each column reads the block input; the others read the block width.

The network is B blocks, each followed by a 2x2 max-pool, then a linear classifier on the
flattened map (1x1 after five blocks on 32x32 CIFAR). The paper's CIFAR networks: B=5, widths
64, 128, 256, 512, 512 (doubled after each block but the last), per-block dropout
0, 10, 20, 30, 40% and drop-path.

Drop-path (training only; eval mode is deterministic): each mini-batch is, with probability
``global_drop``, a *global* batch that trains one column, chosen uniformly, through the whole
network (every join passes only that column), and otherwise a *local* batch where every join
drops each input with probability ``local_drop``, keeping at least one (one draw per join per
mini-batch, as the authors' Caffe ``FractalJoin`` layer). The paper mixes the two 50/50, local
rate 15%. ``FractalNet.column`` set to a column index evaluates that column
alone (the paper's "deepest column alone" rows).

Where the paper's text and the authors' Caffe generator (gustavla/fractalnet) differ, this
follows the text: the block's last join comes before its max-pool (``pool_first=True`` pools each
column first, as the generator does; max-pool and mean do not commute, the counts are equal) and
dropout follows the ReLU (the Caffe unit is conv-dropout-BN-ReLU). The units are PyTorch's
conv (no bias) + affine batch norm; the Caffe convolutions have a bias and its BatchNorm has no
learnable scale, which is one parameter per channel fewer (10,304 fewer in the 20-layer network).

The module tree is pytorchcv's (``features.unit{b}.block.blocks.block{row}.subblock{k}.conv/bn``,
``features.unit{b}.pool``, ``output``), so its ``fractalnet_cifar10``/``fractalnet_cifar100``
state dicts load strictly, with equal eval-mode logits. Training differs: pytorchcv draws global
drop-path per sample (a fixed half of every batch) where this draws it per mini-batch, and its
dropout is channel-wise (``Dropout2d``) where this one is element-wise, as in the Caffe units.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.blocks import ConvNormAct

PAPER_WIDTHS = [64, 128, 256, 512, 512]
"""Section 4 (CIFAR/SVHN): channels of blocks 1 to 5."""

# --------------------------------------------------------------------------- derived layout


def block_widths(width: int, blocks: int) -> list[int]:
    """``width`` doubled after each block except the last: 64 -> 64, 128, 256, 512, 512 for B=5."""
    return [width * 2 ** min(i, max(blocks - 2, 0)) for i in range(blocks)]


def ending_columns(columns: int, row: int) -> list[int]:
    """The columns whose convolution ends at ``row`` (1-based) of the deepest column: column j
    has 2**j convolutions, each spanning 2**(C-1-j) rows. Two or more of them meet in a join."""
    return [j for j in range(columns) if row % 2 ** (columns - 1 - j) == 0]


def local_keep(n: int, p: float) -> list[bool]:
    """Local drop-path: each of ``n`` join inputs is dropped with probability ``p``, and where
    all would be dropped one of them, chosen uniformly, is kept."""
    keep = (torch.rand(n) >= p).tolist()
    if not any(keep):
        keep[int(torch.randint(n, ()))] = True
    return keep


def join(inputs: list[Tensor], keep: list[bool] | None = None) -> Tensor:
    """The join layer: element-wise mean of the inputs that ``keep`` lets through (all: None)."""
    kept = inputs if keep is None else [x for x, k in zip(inputs, keep, strict=True) if k]
    return kept[0] if len(kept) == 1 else torch.stack(kept).mean(0)


# --------------------------------------------------------------------------- network


class DropConvBlock(nn.Module):
    """conv3x3 (no bias) + BN + ReLU, then dropout where the block has a rate: pytorchcv's
    ``DropConvBlock`` (children ``conv``, ``bn``, ``activ``, ``dropout``). Its cost twin is
    :meth:`ConvNormAct.complexity`. ``nn.Dropout`` drops single activations, as the authors' Caffe
    ``Dropout`` layer does; pytorchcv's ``Dropout2d`` drops whole channels (neither has weights)."""

    def __init__(self, c_in: int, c_out: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.activ = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.activ(self.bn(self.conv(x)))
        return x if self.dropout is None else self.dropout(x)


class FractalBlock(nn.Module):
    """f_C unrolled and its joins, stored by row as pytorchcv does: ``blocks.block{r}`` holds the
    units whose convolution ends at row r of the deepest column, ``subblock{k}`` being column C-k
    (``subblock1`` is the deepest column, ``subblock{C}`` the shallowest)."""

    def __init__(self, columns: int, c_in: int, c_out: int, dropout: float) -> None:
        super().__init__()
        self.num_columns = columns
        self.blocks = nn.Sequential()
        for row in range(1, 2 ** (columns - 1) + 1):
            level = nn.Sequential()
            for j in reversed(ending_columns(columns, row)):  # deepest first: subblock1, 2, ...
                first = row == 2 ** (columns - 1 - j)  # the column's first unit reads the block input
                unit = DropConvBlock(c_in if first else c_out, c_out, dropout)
                level.add_module(f"subblock{columns - j}", unit)
            self.blocks.add_module(f"block{row}", level)

    def unit(self, j: int, row: int) -> nn.Module:
        """The unit of column ``j`` (0 = shallowest) whose convolution ends at ``row``."""
        return self.blocks.get_submodule(f"block{row}.subblock{self.num_columns - j}")

    def forward(
        self, x: Tensor, column: int | None = None, local_drop: float = 0.0, pool: nn.Module | None = None
    ) -> Tensor:
        """``column``: that column alone (global drop-path); ``local_drop``: the joins' drop rate;
        ``pool``: applied to each column before the last join (``pool_first``)."""
        n = self.num_columns
        rows = 2 ** (n - 1)
        if column is not None:
            for row in range(2 ** (n - 1 - column), rows + 1, 2 ** (n - 1 - column)):
                x = self.unit(column, row)(x)
            return x if pool is None else pool(x)
        outs = [x] * n
        for row in range(1, rows + 1):
            ending = ending_columns(n, row)
            for j in ending:
                outs[j] = self.unit(j, row)(outs[j])
            if row == rows and pool is not None:
                outs = [pool(o) for o in outs]
            if len(ending) > 1:
                keep = local_keep(len(ending), local_drop) if local_drop > 0 else None
                merged = join([outs[j] for j in ending], keep)
                for j in ending:
                    outs[j] = merged
        return outs[-1]


class FractalUnit(nn.Module):
    """A fractal block and its 2x2 max-pool (pytorchcv's ``FractalUnit``), the pool after the
    block's last join or, ``pool_first``, on each column before it."""

    def __init__(self, columns: int, c_in: int, c_out: int, dropout: float, pool_first: bool) -> None:
        super().__init__()
        self.block = FractalBlock(columns, c_in, c_out, dropout)
        self.pool = nn.MaxPool2d(2)
        self.pool_first = pool_first

    def forward(self, x: Tensor, column: int | None = None, local_drop: float = 0.0) -> Tensor:
        if self.pool_first:
            return self.block(x, column, local_drop, self.pool)
        return self.pool(self.block(x, column, local_drop))


class FractalNet(nn.Module):
    """``features.unit{1..B}`` (fractal units), then the linear ``output`` on the flattened map:
    pytorchcv's ``CIFARFractalNet`` layout, so its state dicts load strictly."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        c_in, side = p["in_channels"], p["resolution"]
        self.features = nn.Sequential()
        for i, width in enumerate(p["widths"]):
            unit = FractalUnit(p["columns"], c_in, width, i * p["dropout"], p["pool_first"])
            self.features.add_module(f"unit{i + 1}", unit)
            c_in, side = width, side // 2
        self.output = nn.Linear(c_in * side * side, p["num_classes"])
        self.num_columns: int = p["columns"]
        self.local_drop: float = p["local_drop"]
        self.global_drop: float = p["global_drop"]
        self.column: int | None = None
        """Evaluate (or train) this column alone (0 = shallowest); None: the whole fractal."""

    def forward(self, x: Tensor) -> Tensor:
        column, local_drop = self.column, 0.0
        if self.training and column is None:
            if self.global_drop > 0 and float(torch.rand(())) < self.global_drop:
                column = int(torch.randint(self.num_columns, ()))
            else:
                local_drop = self.local_drop
        for unit in self.features:
            x = unit(x, column, local_drop)
        return self.output(torch.flatten(x, 1))


def build(p: Point) -> nn.Module:
    return FractalNet(p)


def complexity(p: Point) -> Counts:
    """Mirrors FractalNet: every unit of every column (joins, pools and dropout are free in
    fvcore's count), then the classifier."""
    t, c_in, side = Tally(), p["in_channels"], p["resolution"]
    for width in p["widths"]:
        for j in range(p["columns"]):
            for i in range(2**j):
                ConvNormAct.complexity(t, width if i else c_in, width, side)
        c_in, side = width, side // 2
    t.linear(c_in * side * side, p["num_classes"])
    return t.counts()


# --------------------------------------------------------------------------- space


def resolve(p: Point) -> Point:
    """``widths`` left out: ``width`` doubled after each block except the last."""
    p = dict(p)
    if p["widths"] is None:
        p["widths"] = block_widths(p["width"], p["blocks"])
    return p


SPACE = Space(
    name="fractalnet",
    params=(
        Param(
            "columns",
            Int(1, 8),
            3,
            "C: columns per fractal block; the deepest has 2**(C-1) convolutions",
            search=Choice((1, 2, 3, 4)),
        ),
        Param(
            "blocks",
            Int(1, 8),
            5,
            "B: fractal blocks, each ending in a 2x2 max-pool",
            search=Choice((2, 3, 4, 5)),
        ),
        Param(
            "width",
            Int(1, 4096),
            64,
            "channels of the first block, doubled after each block except the last (64..512)",
            search=Choice((16, 32, 64)),
        ),
        Param("widths", IntList(1, 8192, 1, 8), None, "channels of each block; none: derived from width"),
        Param(
            "dropout",
            Float(0.0, 0.5),
            0.0,
            "dropout step: block b (from 0) drops b*dropout after each unit (paper: 0.1 -> 0..40%)",
        ),
        Param("local_drop", Float(0.0, 1.0), 0.15, "local drop-path: each join input dropped (one kept)"),
        Param(
            "global_drop",
            Float(0.0, 1.0),
            0.5,
            "share of training batches with global drop-path (one column)",
        ),
        Param(
            "pool_first",
            Choice((False, True)),
            False,
            "max-pool each column before the block's last join (authors' Caffe) instead of after (paper)",
        ),
        Param("in_channels", Int(1, 16), 3, "input image channels"),
        Param("resolution", Int(1, 1024), 32, "input image side in pixels"),
        Param("num_classes", Int(1, 100_000), 10, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "widths must have one entry per block (as many as blocks)",
            ("blocks", "widths"),
            lambda p: len(p["widths"]) == p["blocks"],
        ),
        Constraint(
            "resolution must be at least 2**blocks (each block's max-pool halves the side)",
            ("resolution", "blocks"),
            lambda p: p["resolution"] >= 2 ** p["blocks"],
        ),
        Constraint(
            "dropout*(blocks-1), the last block's dropout rate, must be below 1",
            ("dropout", "blocks"),
            lambda p: p["dropout"] * (p["blocks"] - 1) < 1,
        ),
    ),
    resolve=resolve,
)

PAPER = (
    "pytorchcv 0.0.74 {name}() (osmr/imgclsmob): params, fvcore 0.1.5 FLOPs (eval mode, 1x3x32x32) "
    "and state dict equal this layout, the paper's C=3, B=5, widths 64-128-256-512-512 (section 4); "
    "Larsson et al. 2017 (FractalNet, ICLR) Table 1 prints 'FractalNet (20 layers, 38.6M params)', "
    "which neither that layout, the authors' Caffe generator gustavla/fractalnet (33,714,314 for 10 "
    "classes: convs with bias, BN without scale) nor pytorchcv reaches; its '40 layers, 22.9M "
    "params' network (C=4, B=5) cannot be pinned: the only widths the paper gives make C=4 76.1M, "
    "and it states no others"
)


def _test_structure(rng: random.Random) -> Point:
    blocks = rng.randint(1, 3)
    return {
        "columns": rng.randint(1, 3),
        "blocks": blocks,
        "widths": [rng.randint(1, 5) for _ in range(blocks)],
        "resolution": rng.randint(2**blocks, 12),
    }


FAMILY = Family(
    name="fractalnet",
    summary="FractalNet: C columns by the fractal expansion rule, mean joins, drop-path, B blocks",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "columns", "blocks", "num_classes", "params", "flops", "paper_params"),
        [
            ("fractalnet_cifar10", 3, 5, 10, 33_724_618, 846_971_904, "38.6M"),
            ("fractalnet_cifar100", 3, 5, 100, 33_770_788, 847_017_984, "38.6M"),
        ],
        PAPER,
        width=64,
        dropout=0.1,
    ),
    test_domains={
        "dropout": Choice((0.0, 0.1)),
        "pool_first": Choice((False, True)),
        "in_channels": Int(1, 3),
        "num_classes": Int(1, 12),
    },
    test_structure=_test_structure,
    test_points=40,
    year=2017,
)
