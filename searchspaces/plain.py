"""Plain conv stacks: stages of conv [+ BN] + activation with pooling, then an MLP head.

The family of LeNet-5, AlexNet, ZFNet, VGG and NiN (the networks before shortcuts). A stage is
``depths[i]`` convolutions of ``widths[i]`` channels (kernel ``kernels[i]``, padding
``paddings[i]``, the first with stride ``strides[i]``), each followed by ``mlpconv`` 1x1
convolutions of the same width (NiN's mlpconv block), and, where ``pools[i]`` is 1, a pooling
window. The head is either torchvision's -- adaptive average pooling to ``avgpool``x``avgpool``,
then ``head_layers`` hidden Linear-ReLU-Dropout layers of ``head_width`` and a Linear
classifier -- or NiN's ``gap``: the last convolution outputs one map per class and global
average pooling gives the logits.

Module names are torchvision's ``VGG``/``AlexNet`` (``features``, ``avgpool``, ``classifier``,
with flat indices), so their state dicts load unchanged. Variants are data: ``VGG_DEPTHS`` is
torchvision's ``cfgs`` (``vgg16 = [64, 64, 'M', 128, 128, 'M', ...]``) read as convolutions per
stage at widths 64, 128, 256, 512, 512.
"""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.blocks import Subsampling, TableConv
from searchspaces.plain_layouts import ALEXNET, LENET5, LENET5_C3_TABLE, NIN, VGG_DEPTHS, VGG_WIDTHS, ZFNET
from searchspaces.rounding import pool_out, scaled

STAGE_LISTS = ("widths", "kernels", "strides", "paddings", "pools")
"""Per-stage lists that must have one entry per entry of ``depths``."""


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


# --------------------------------------------------------------------------- derived layout


def c3_table(p: Point) -> tuple[tuple[int, ...], ...] | None:
    """The connection table of the second stage's first convolution, or None where it is dense."""
    return LENET5_C3_TABLE if p["c3_table"] == "paper" else None


def conv_layers(p: Point) -> list[list[tuple[int, int, int, int, int]]]:
    """Per stage, the convolutions ``(c_in, c_out, kernel, stride, padding)`` in order."""
    stages, c_in = [], p["in_channels"]
    n = len(p["depths"])
    for i, depth in enumerate(p["depths"]):
        width = scaled(p["widths"][i], p["width_multiplier"])
        k, s, pad = p["kernels"][i], p["strides"][i], p["paddings"][i]
        layers = []
        for j in range(depth):
            convs = [(k, s if j == 0 else 1, pad)] + [(1, 1, 0)] * p["mlpconv"]
            for m, (kk, ss, pp) in enumerate(convs):
                last = i == n - 1 and j == depth - 1 and m == len(convs) - 1
                c_out = p["num_classes"] if last and p["head"] == "gap" else width
                layers.append((c_in, c_out, kk, ss, pp))
                c_in = c_out
        stages.append(layers)
    return stages


def feature_sizes(p: Point) -> list[int]:
    """The map side after every convolution and pooling window, or [..., 0] where it vanishes."""
    sizes, size = [], p["resolution"]
    for i, layers in enumerate(conv_layers(p)):
        for _, _, k, s, pad in layers:
            size = conv_out(size, k, s, pad) if size + 2 * pad >= k else 0
            sizes.append(size)
            if size < 1:
                return sizes
        if p["pools"][i]:
            size = (
                pool_out(size, p["pool_kernel"], p["pool_stride"], ceil_mode=p["pool_ceil"])
                if size >= p["pool_kernel"]
                else 0
            )
            sizes.append(size)
            if size < 1:
                return sizes
    return sizes


def head_widths(p: Point, c_in: int) -> list[int]:
    """Input features of each Linear of the fc head, then the classes."""
    flat = c_in * (p["avgpool"] ** 2 if p["avgpool"] else feature_sizes(p)[-1] ** 2)
    return [flat] + [p["head_width"]] * p["head_layers"] + [p["num_classes"]]


# --------------------------------------------------------------------------- network


def _act(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else ACTIVATIONS[name]()


class PlainNet(nn.Module):
    """torchvision's ``VGG``/``AlexNet`` layout: ``features`` -> ``avgpool`` -> flatten -> ``classifier``."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        features: list[nn.Module] = []
        stages = conv_layers(p)
        for i, stage in enumerate(stages):
            for j, (c_in, c_out, k, s, pad) in enumerate(stage):
                table = c3_table(p) if (i, j) == (1, 0) else None
                features.append(TableConv(table, k, s, pad) if table else nn.Conv2d(c_in, c_out, k, s, pad))
                if p["batch_norm"]:
                    features.append(nn.BatchNorm2d(c_out))
                features.append(_act(p["activation"]))
            if p["pools"][i]:
                features.append(self._pool(p, stage[-1][1]))
        self.features = nn.Sequential(*features)
        c_last = stages[-1][-1][1]
        if p["head"] == "gap":
            self.avgpool: nn.Module = nn.AdaptiveAvgPool2d(1)
            self.classifier: nn.Module = nn.Identity()
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(p["avgpool"]) if p["avgpool"] else nn.Identity()
            self.classifier = nn.Sequential(*self._head(p, head_widths(p, c_last)))
        self._init_weights()

    @staticmethod
    def _pool(p: Point, channels: int) -> nn.Module:
        window = (p["pool_kernel"], p["pool_stride"])
        if p["pool"] == "subsample":
            return Subsampling(channels, *window, p["pool_ceil"], _act(p["activation"]))
        return (nn.MaxPool2d if p["pool"] == "max" else nn.AvgPool2d)(*window, ceil_mode=p["pool_ceil"])

    @staticmethod
    def _head(p: Point, dims: list[int]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for f_in, f_out in zip(dims[:-2], dims[1:-1], strict=True):
            hidden = [nn.Linear(f_in, f_out), _act(p["activation"])]
            if p["dropout_position"] == "before":  # AlexNet: Dropout, Linear, ReLU
                layers += [nn.Dropout(p["dropout"]), *hidden]
            else:  # VGG: Linear, ReLU, Dropout
                layers += [*hidden, nn.Dropout(p["dropout"])]
        return layers + [nn.Linear(dims[-2], dims[-1])]

    def _init_weights(self) -> None:
        """torchvision's VGG initialisation."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def build(p: Point) -> nn.Module:
    return PlainNet(p)


def complexity(p: Point) -> Counts:
    """Mirrors PlainNet layer by layer (pooling and activations are free in fvcore's count)."""
    t, size = Tally(), p["resolution"]
    c_last = p["in_channels"]
    for i, stage in enumerate(conv_layers(p)):
        for j, (c_in, c_last, k, s, pad) in enumerate(stage):
            table = c3_table(p) if (i, j) == (1, 0) else None
            if table:
                size = TableConv.complexity(t, table, size, k, s, pad)
            else:
                size = t.conv(c_in, c_last, size, k, s, pad, bias=True)
            if p["batch_norm"]:
                t.bn(c_last, size)
        if p["pools"][i]:
            size = pool_out(size, p["pool_kernel"], p["pool_stride"], ceil_mode=p["pool_ceil"])
            if p["pool"] == "subsample":  # a trainable coefficient and bias per map
                t.conv(c_last, c_last, size, 1, groups=c_last, bias=True)
    if p["head"] == "gap" or p["avgpool"]:
        t.adaptive_avgpool(c_last, size)  # fvcore: one flop per input element, whatever the output
    if p["head"] == "fc":
        dims = head_widths(p, c_last)
        for f_in, f_out in zip(dims[:-1], dims[1:], strict=True):
            t.linear(f_in, f_out)
    return t.counts()


# --------------------------------------------------------------------------- space


def resolve(p: Point) -> Point:
    """Per-stage lists left out default to VGG's: 3x3 kernels, stride 1, "same" padding, a pool
    after every stage."""
    n = len(p["depths"])
    p = dict(p)
    p["kernels"] = p["kernels"] if p["kernels"] is not None else [3] * n
    p["strides"] = p["strides"] if p["strides"] is not None else [1] * n
    p["paddings"] = p["paddings"] if p["paddings"] is not None else [(k - 1) // 2 for k in p["kernels"]]
    p["pools"] = p["pools"] if p["pools"] is not None else [1] * n
    return p


def _c3_shape(p: Point) -> tuple[int, int] | None:
    """(c_in, c_out) of the second stage's first convolution, None without a second stage."""
    return conv_layers(resolve(p))[1][0][:2] if len(p["depths"]) > 1 else None


def _per_stage(name: str) -> Constraint:
    return Constraint(
        f"{name} must have one entry per stage (as many as depths)",
        ("depths", name),
        lambda p: len(p[name]) == len(p["depths"]),
    )


_FC = {"head": ("fc",)}

SPACE = Space(
    name="plain",
    params=(
        Param(
            "depths", IntList(1, 16, 1, 8), VGG_DEPTHS["vgg16"], "convolutions per stage (VGG-16: 2,2,3,3,3)"
        ),
        Param("widths", IntList(1, 8192, 1, 8), VGG_WIDTHS, "output channels of each stage's convolutions"),
        Param(
            "width_multiplier",
            Float(0.03125, 16.0),
            1.0,
            "scales every stage width (rounded)",
            search=Choice((0.25, 0.5, 1.0)),
        ),
        Param("kernels", IntList(1, 15, 1, 8), None, "kernel side per stage; none: 3 everywhere"),
        Param("strides", IntList(1, 8, 1, 8), None, "stride of each stage's first convolution; none: 1"),
        Param("paddings", IntList(0, 8, 1, 8), None, "conv padding per stage; none: (kernel-1)//2"),
        Param("pools", IntList(0, 1, 1, 8), None, "1: a pooling window ends the stage; none: every stage"),
        Param("mlpconv", Int(0, 4), 0, "1x1 convolutions after every convolution (NiN's mlpconv: 2)"),
        Param("batch_norm", Choice((False, True)), False, "BatchNorm2d after every convolution (vgg*_bn)"),
        Param("activation", Choice(("relu", "tanh")), "relu", "after every conv and hidden Linear"),
        Param("pool", Choice(("max", "avg", "subsample")), "max", "window type (subsample: LeNet-5's S2)"),
        Param("c3_table", Choice(("full", "paper")), "full", "stage 2's first conv: dense or LeNet-5's C3"),
        Param("pool_kernel", Int(1, 8), 2, "pooling window side (AlexNet's overlapping pooling: 3)"),
        Param("pool_stride", Int(1, 8), 2, "pooling window stride"),
        Param(
            "pool_ceil", Choice((False, True)), False, "ceil_mode of the pooling windows (Caffe's rounding)"
        ),
        Param(
            "head",
            Choice(("fc", "gap")),
            "fc",
            "fc: adaptive pool + MLP (VGG, AlexNet); gap: last conv gives class maps, global average (NiN)",
        ),
        Param(
            "avgpool", Int(0, 16), 7, "side of the adaptive average pool before the MLP; 0: none", when=_FC
        ),
        Param("head_layers", Int(0, 4), 2, "hidden Linear-ReLU-Dropout layers of the MLP head", when=_FC),
        Param(
            "head_width",
            Int(1, 16384),
            4096,
            "width of the hidden head layers",
            when=_FC,
            search=Choice((256, 1024, 4096)),
        ),
        Param("dropout", Float(0.0, 0.9), 0.5, "dropout probability in the MLP head", when=_FC),
        Param(
            "dropout_position",
            Choice(("after", "before")),
            "after",
            "dropout after each hidden ReLU (VGG) or before each hidden Linear (AlexNet)",
            when=_FC,
        ),
        Param("in_channels", Int(1, 16), 3, "input image channels (LeNet-5: 1)"),
        Param("resolution", Int(1, 1024), 224, "input image side in pixels"),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        *(_per_stage(name) for name in STAGE_LISTS),
        Constraint(
            "resolution must leave a map of at least 1x1 after every convolution and pooling window",
            ("resolution", "depths", "kernels", "strides", "paddings", "pools", "pool_kernel", "pool_stride"),
            lambda p: feature_sizes(dict(p))[-1] >= 1,
        ),
        Constraint(
            "c3_table=paper needs a second stage whose first convolution maps 6 to 16 channels (LeNet-5's C3)",
            ("c3_table", "depths", "widths", "width_multiplier"),
            lambda p: p["c3_table"] == "full" or _c3_shape(dict(p)) == (6, 16),
        ),
    ),
    resolve=resolve,
)

_TV = "torchvision 0.28.0 {name}(), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x224x224"


CANONICAL = (
    *canonical_table(
        ("name", "depths", "batch_norm", "params", "flops"),
        [
            ("vgg11", VGG_DEPTHS["vgg11"], False, 132_863_336, 7_609_115_136),
            ("vgg11_bn", VGG_DEPTHS["vgg11"], True, 132_868_840, 7_623_967_232),
            ("vgg13", VGG_DEPTHS["vgg13"], False, 133_047_848, 11_308_491_264),
            ("vgg13_bn", VGG_DEPTHS["vgg13"], True, 133_053_736, 11_332_977_152),
            ("vgg16", VGG_DEPTHS["vgg16"], False, 138_357_544, 15_470_289_408),
            ("vgg16_bn", VGG_DEPTHS["vgg16"], True, 138_365_992, 15_497_384_448),
            ("vgg19", VGG_DEPTHS["vgg19"], False, 143_667_240, 19_632_087_552),
            ("vgg19_bn", VGG_DEPTHS["vgg19"], True, 143_678_248, 19_661_791_744),
        ],
        _TV,
    ),
    *canonical_table(("name", "params", "flops"), [("alexnet", 61_100_840, 714_197_696)], _TV, **ALEXNET),
    *canonical_table(
        ("name", "paper_params"),
        [("lenet5", "0.06M")],
        "LeCun et al. 1998 section II.B ('about 60,000 trainable parameters'): C1 156, S2 12, C3 1,516 "
        "(Table I's connection table), S4 32, C5 48,120, F6 10,164 equal the paper's per-layer counts "
        "(60,000); the RBF output (84x10 fixed parameters) is a Linear 84->10 here (+850): 60,850 in all; "
        "the paper's scaled tanh (1.7159 tanh(2x/3)) is a plain tanh",
        **LENET5,
    ),
    *canonical_table(
        ("name", "params", "flops"),
        [("zfnet", 62_357_608, 1_168_032_896)],
        "Zeiler & Fergus 2014 Fig. 3 layout (the paper prints map sizes, no parameter count; these are "
        "this family's counts, fvcore 0.1.5 eval mode on 1x3x224x224); contrast normalisation left out",
        **ZFNET,
    ),
    *canonical_table(
        ("name", "params", "flops"),
        [("nin", 7_595_176, 1_100_224_800)],
        "Lin et al. 2014 (Network in Network) mlpconv + global average pooling, in the ImageNet layout "
        "of the authors' released Caffe model (the paper prints no ImageNet layout or parameter count; "
        "these are this family's counts, fvcore 0.1.5 eval mode on 1x3x224x224); dropout left out",
        **NIN,
    ),
)


def _test_structure(rng: random.Random) -> Point:
    """Per-stage lists of one random length, and a resolution every window fits in."""
    while True:
        n = rng.randint(1, 3)
        kernels = [rng.choice((1, 2, 3, 5)) for _ in range(n)]
        values: dict[str, Any] = {
            "depths": [rng.randint(1, 2) for _ in range(n)],
            "widths": [rng.randint(1, 8) for _ in range(n)],
            "kernels": kernels,
            "strides": [rng.choice((1, 1, 2, 3)) for _ in range(n)],
            "paddings": [rng.randint(0, k // 2 + 1) for k in kernels],
            "pools": [rng.randint(0, 1) for _ in range(n)],
            "pool_kernel": rng.randint(1, 3),
            "pool_stride": rng.randint(1, 3),
            "pool_ceil": rng.random() < 0.5,
            "head": rng.choice(("fc", "fc", "gap")),
            "resolution": rng.randint(4, 32),
        }
        if n > 1 and rng.random() < 0.1:  # LeNet-5's C3 connection table on a 6 -> 16 stage
            values |= {"c3_table": "paper", "width_multiplier": 1.0, "head": "fc"}
            values["widths"][:2] = [6, 16]
        if SPACE.is_valid(values):
            return values


FAMILY = Family(
    name="plain",
    summary="plain conv stacks (LeNet-5, AlexNet, ZFNet, VGG, NiN): conv [+BN] + ReLU stages, pooling, MLP head",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=CANONICAL,
    test_domains={
        "width_multiplier": Choice((0.5, 1.0, 1.5)),
        "mlpconv": Int(0, 2),
        "batch_norm": Choice((False, True)),
        "activation": Choice(("relu", "tanh")),
        "pool": Choice(("max", "avg", "subsample")),
        "avgpool": Int(0, 3),
        "head_layers": Int(0, 2),
        "head_width": Int(1, 16),
        "dropout_position": Choice(("after", "before")),
        "num_classes": Int(1, 12),
    },
    test_structure=_test_structure,
    test_points=150,  # C3-table and subsampling points trace more convs: the suite takes as long as before
    year=1998,  # LeNet-5, the family's first network
)
