"""PolyInception modules (Zhang et al. 2017): Inception-ResNet-v2's residual blocks composed as
polynomials — poly-N (one block's convolutions applied again to its own output), mpoly-N (a chain
of distinct blocks) and N-way (distinct blocks side by side) — laid out as the authors' released
model (``pretrainedmodels.polynet``) so its state dict loads strictly. The family is
searchspaces/polynet.py."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from searchspaces.inception import BasicConv2d, scaled

MODULES: dict[str, tuple[str, int]] = {
    "ir": ("way", 1),
    "poly-2": ("poly", 2),
    "mpoly-2": ("mpoly", 2),
    "2-way": ("way", 2),
    "poly-3": ("poly", 3),
    "mpoly-3": ("mpoly", 3),
    "3-way": ("way", 3),
}
"""Module type -> (how its blocks combine, order: blocks per module)."""

K = int | tuple[int, int]  # a kernel side or (kh, kw); a padding likewise
WIDTHS: dict[str, tuple[tuple[str, tuple[tuple[K, int], ...]], ...]] = {
    "A": (("path0", ((1, 32), (3, 48), (3, 64))), ("path1", ((1, 32), (3, 32))), ("path2", ((1, 32),))),
    "B": (("path0", ((1, 128), ((1, 7), 160), ((7, 1), 192))), ("path1", ((1, 192),))),
    "C": (("path0", ((1, 192), ((1, 3), 224), ((3, 1), 256))), ("path1", ((1, 192),))),
}
"""Inception-ResNet-v2's residual branches per grid (Szegedy et al. 2016 Figs. 16, 17, 19): per path,
its convolutions (kernel, width), concatenated then projected back to the grid width by a 1x1."""


def pad(k: K) -> K:
    return (k[0] // 2, k[1] // 2) if isinstance(k, tuple) else k // 2


class ConvBN(BasicConv2d):
    """The projection closing a block: conv + batch norm, no ReLU."""

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


def conv(c_in: int, c_out: int, k: K, stride: int = 1, padding: K = 0) -> BasicConv2d:
    return BasicConv2d(c_in, c_out, k, stride, padding, eps=1e-5)


def chain(ops: list[BasicConv2d]) -> nn.Module:
    return ops[0] if len(ops) == 1 else nn.Sequential(*ops)


def paths(stage: str, c: int, m: float) -> list[tuple[str, list[tuple[int, int, K]]]]:
    """Per path of a block, its convs (c_in, c_out, kernel), widths scaled by ``m``."""
    out = []
    for name, convs in WIDTHS[stage]:
        c_in, ops = c, []
        for k, w in convs:
            ops.append((c_in, scaled(w, m), k))
            c_in = scaled(w, m)
        out.append((name, ops))
    return out


class Block(nn.Module):
    """One Inception residual branch F: paths concatenated, then a 1x1 conv + BN (``conv2d``)."""

    def __init__(self, stage: str, c: int, m: float) -> None:
        super().__init__()
        spec = paths(stage, c, m)
        for name, ops in spec:
            self.add_module(name, chain([conv(ci, co, k, 1, pad(k)) for ci, co, k in ops]))
        self.names = [name for name, _ in spec]
        self.conv2d = ConvBN(sum(ops[-1][1] for _, ops in spec), c, 1, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2d(torch.cat([getattr(self, n)(x) for n in self.names], 1))


class PolyConv2d(nn.Module):
    """A conv shared by the orders of a poly-N module, with one batch norm per order."""

    def __init__(self, c_in: int, c_out: int, k: K, orders: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, 1, pad(k), bias=False)
        self.bn_blocks = nn.ModuleList(nn.BatchNorm2d(c_out) for _ in range(orders))
        self.relu = nn.ReLU()

    def forward(self, x: Tensor, order: int) -> Tensor:
        return self.relu(self.bn_blocks[order](self.conv(x)))


def poly_names(spec: list[tuple[str, list[tuple[int, int, K]]]]) -> list[list[str]]:
    """The released model's names: ``path0_1x7`` for a conv of a chain, ``path1`` for a lone conv."""
    names: list[list[str]] = []
    for path, ops in spec:
        row: list[str] = []
        for _, _, k in ops:
            kh, kw = k if isinstance(k, tuple) else (k, k)
            name = f"{path}_{kh}x{kw}" if len(ops) > 1 else path
            row.append(name if name not in row else f"{name}_{row.count(name) + 1}")
        names.append(row)
    return names


class Poly(nn.Module):
    """poly-N: ``x + s F(x) + s F(F(x)) + ...`` with F's convolutions shared between the orders."""

    def __init__(self, stage: str, c: int, m: float, orders: int, scale: float) -> None:
        super().__init__()
        self.scale, self.orders = scale, orders
        spec = paths(stage, c, m)
        self.names = poly_names(spec)
        for row, (_, ops) in zip(self.names, spec, strict=True):
            for name, (ci, co, k) in zip(row, ops, strict=True):
                self.add_module(name, PolyConv2d(ci, co, k, orders))
        width = sum(ops[-1][1] for _, ops in spec)
        self.conv2d_blocks = nn.ModuleList(ConvBN(width, c, 1, eps=1e-5) for _ in range(orders))
        self.relu = nn.ReLU()

    def block(self, x: Tensor, order: int) -> Tensor:
        outs = []
        for row in self.names:
            h = x
            for name in row:
                h = getattr(self, name)(h, order)
            outs.append(h)
        return self.conv2d_blocks[order](torch.cat(outs, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for order in range(self.orders):
            x = self.block(x, order)
            out = out + x * self.scale
            x = self.relu(x)
        return self.relu(out)


class MultiWay(nn.Module):
    """N-way ``x + s F(x) + s G(x) + ...`` (``compose=False``) or mpoly-N ``x + s F(x) + s G(F(x))
    + ...`` (``compose=True``): distinct blocks, side by side or chained."""

    def __init__(self, stage: str, c: int, m: float, orders: int, scale: float, compose: bool) -> None:
        super().__init__()
        self.scale, self.compose = scale, compose
        self.blocks = nn.ModuleList(Block(stage, c, m) for _ in range(orders))
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out, h = x, x
        for block in self.blocks:
            y = block(h if self.compose else x)
            out = out + y * self.scale
            h = self.relu(y)
        return self.relu(out)
