"""ConvNeXt (Liu et al., 2022): a ResNet modernised towards the vision transformers.

A 4x4/4 "patchify" stem convolution (with bias) + channels-last LayerNorm, then stages of
ConvNeXt blocks separated by downsampling layers (LayerNorm + 2x2/2 convolution), global average
pooling, LayerNorm and a linear classifier. A block is a kxk depthwise convolution (with bias),
LayerNorm, a 4x pointwise expansion (Linear on channels-last), GELU and the projection back,
multiplied by a learnt per-channel layer scale (initialised to ``layer_scale``) and added to the
input through stochastic depth (its probability rising linearly from 0 to
``stochastic_depth_prob`` over all blocks). Module names and order (permutes included) are
``torchvision.models.ConvNeXt``'s, so its state dicts load unchanged.

fvcore counts a LayerNorm as 5 flops per element (affine), a Linear on an HxWxC tensor as
``H * W * in * out`` with ``H * W * out`` activations, and leaves GELU, the layer-scale ``mul``,
the residual ``add_`` and the permutes uncounted; the cost twin follows it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.family import REFERENCE_COLUMNS, TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space
from searchspaces.blocks import StochasticDepth

EPS = 1e-6
EXPANSION = 4
"""The inverted bottleneck's hidden width is this times the block width."""
STEM = 4
"""The stem's kernel and stride (non-overlapping 4x4 patches)."""


class Permute(nn.Module):
    """``x.permute(dims)`` as a module (torchvision.ops.misc.Permute)."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (torchvision.models.convnext.LayerNorm2d)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def _layer_norm(t: Tally, channels: int, size: int) -> None:
    """fvcore: 5 flops per element for an affine LayerNorm, no activations."""
    t.layer("layer_norm", 2 * channels, 5 * channels * size * size)


def _pointwise(t: Tally, f_in: int, f_out: int, size: int) -> None:
    """A Linear applied at every position of a ``size`` x ``size`` channels-last map."""
    weights = f_in * f_out
    t.layer("linear", weights + f_out, size * size * weights, size * size * f_out, weights)


class CNBlock(nn.Module):
    """dwconv kxk -> LN -> Linear(4x) -> GELU -> Linear, times layer scale, plus the input."""

    def __init__(self, dim: int, kernel: int, layer_scale: float, stochastic_depth_prob: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=kernel, padding=kernel // 2, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=EPS),
            nn.Linear(dim, EXPANSION * dim),
            nn.GELU(),
            nn.Linear(EXPANSION * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        out = self.stochastic_depth(self.layer_scale * self.block(x))
        out += x
        return out

    @staticmethod
    def complexity(t: Tally, dim: int, kernel: int, size: int) -> int:
        t.conv(dim, dim, size, kernel, padding=kernel // 2, groups=dim, bias=True)
        _layer_norm(t, dim, size)
        _pointwise(t, dim, EXPANSION * dim, size)
        _pointwise(t, EXPANSION * dim, dim, size)
        t.layer("other", dim, 0)  # layer scale
        return size


def drop_probs(p: Mapping[str, Any]) -> list[float]:
    """Stochastic depth of every block: ``prob * i / (blocks - 1)`` (0 for a single block)."""
    n = sum(p["depths"])
    return [p["stochastic_depth_prob"] * i / max(n - 1.0, 1.0) for i in range(n)]


class ConvNeXt(nn.Module):
    """Module names and init follow ``torchvision.models.ConvNeXt`` (state dicts interchange)."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        depths, dims, norm = p["depths"], p["dims"], partial(LayerNorm2d, eps=EPS)
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, dims[0], STEM, STEM, 0, bias=True), norm(dims[0]))
        ]
        probs = iter(drop_probs(p))
        for i, (depth, dim) in enumerate(zip(depths, dims, strict=True)):
            layers.append(
                nn.Sequential(
                    *(CNBlock(dim, p["kernel"], p["layer_scale"], next(probs)) for _ in range(depth))
                )
            )
            if i + 1 < len(dims):
                layers.append(nn.Sequential(norm(dim), nn.Conv2d(dim, dims[i + 1], kernel_size=2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(norm(dims[-1]), nn.Flatten(1), nn.Linear(dims[-1], p["num_classes"]))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def build(p: Point) -> nn.Module:
    return ConvNeXt(p)


def complexity(p: Point) -> Counts:
    t, depths, dims = Tally(), p["depths"], p["dims"]
    size = t.conv(3, dims[0], p["resolution"], STEM, STEM, 0, bias=True)
    _layer_norm(t, dims[0], size)
    for i, (depth, dim) in enumerate(zip(depths, dims, strict=True)):
        for _ in range(depth):
            size = CNBlock.complexity(t, dim, p["kernel"], size)
        if i + 1 < len(dims):
            _layer_norm(t, dim, size)
            size = t.conv(dim, dims[i + 1], size, 2, 2, 0, bias=True)
    t.adaptive_avgpool(dims[-1], size)
    _layer_norm(t, dims[-1], 1)
    t.linear(dims[-1], p["num_classes"])
    return t.counts()


def _last_side(p: Mapping[str, Any]) -> int:
    """Side of the last stage's maps: the stem divides by 4, each downsampling layer by 2."""
    size = conv_out(p["resolution"], STEM, STEM)
    for _ in p["dims"][1:]:
        size = conv_out(size, 2, 2) if size > 0 else size
    return size


def _structure(rng: random.Random) -> Point:
    """A random stage count, then depths and dims of that length (for the conformance suite)."""
    n = rng.randint(1, 4)
    return {"depths": [rng.randint(1, 2) for _ in range(n)], "dims": [rng.randint(1, 12) for _ in range(n)]}


SPACE = Space(
    name="convnext",
    params=(
        Param("depths", IntList(1, 64, 1, 6), [3, 3, 9, 3], "blocks per stage (ConvNeXt-T: 3,3,9,3)"),
        Param(
            "dims", IntList(1, 4096, 1, 6), [96, 192, 384, 768], "channels per stage (ConvNeXt-T: 96..768)"
        ),
        Param(
            "kernel",
            Int(1, 15, step=2),
            7,
            "depthwise kernel of every block (odd)",
            search=Choice((3, 5, 7, 9)),
        ),
        Param("layer_scale", Float(0.0, 1.0), 1e-6, "initial value of the per-channel layer scale"),
        Param(
            "stochastic_depth_prob", Float(0.0, 1.0), 0.1, "drop probability of the last block (linear ramp)"
        ),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "input image side in pixels (the network downsamples 4 * 2**(stages - 1) times)",
            search=Choice((96, 128, 160, 192, 224)),
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "depths and dims must have the same length (one entry per stage)",
            ("depths", "dims"),
            lambda p: len(p["depths"]) == len(p["dims"]),
        ),
        Constraint(
            "resolution must keep the last stage at least 1x1 (the stem divides it by 4, each later stage by 2)",
            ("resolution", "dims"),
            lambda p: _last_side(p) >= 1,
        ),
    ),
)

VARIANTS = [
    ("convnext_tiny", [3, 3, 9, 3], [96, 192, 384, 768], 0.1, 28_589_128, 4_470_437_376, "28M", "4.5G"),
    ("convnext_small", [3, 3, 27, 3], [96, 192, 384, 768], 0.4, 50_223_688, 8_705_392_128, "50M", "8.7G"),
    ("convnext_base", [3, 3, 27, 3], [128, 256, 512, 1024], 0.5, 88_591_464, 15_383_635_968, "89M", "15.4G"),
    ("convnext_large", [3, 3, 27, 3], [192, 384, 768, 1536], 0.5, 197_767_336, 34_404_793_344, "198M", "34.4G"),
]  # fmt: skip
"""torchvision's ConvNeXt variants: name, depths, dims, stochastic depth, then the reference figures."""

FAMILY = Family(
    name="convnext",
    summary="ConvNeXt: patchify stem, depthwise kxk + inverted bottleneck blocks, LayerNorm, layer scale",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "depths", "dims", "stochastic_depth_prob", *REFERENCE_COLUMNS),
        VARIANTS,
        TORCHVISION,
        resolution=224,
    ),
    test_domains={
        "kernel": Choice((1, 3, 5, 7)),
        "layer_scale": Choice((1e-6, 0.5, 1.0)),
        "resolution": Choice((32, 35, 64)),
        "num_classes": Int(2, 20),
    },
    test_structure=_structure,
    year=2022,
)
