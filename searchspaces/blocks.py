"""Layers shared by the families, each with its cost twin beside ``forward`` (pycls style).

``complexity(t, ...)`` takes the constructor's arguments plus the input side ``size``, adds the
layer's params, FLOPs and activations to the :class:`~scalesearch.cost.analytic.Tally` exactly as
fvcore counts them, and returns the output side. Module names follow torchvision's
(``Conv2dNormActivation``, ``SqueezeExcitation``, ``StochasticDepth``, MobileNetV2's and
EfficientNet's/MobileNetV3's inverted residuals), so torchvision state dicts load unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from scalesearch.cost.analytic import Tally

Act = Callable[..., nn.Module]
"""An activation constructor: ``nn.ReLU``, ``nn.SiLU``, ``partial(nn.SiLU, inplace=True)``..."""
Norm = Callable[[int], nn.Module]
"""A normalisation constructor taking the channel count (``nn.BatchNorm2d`` or a partial of it)."""


class ConvNormAct(nn.Sequential):
    """Conv (no bias) + norm [+ activation], laid out as torchvision's ``Conv2dNormActivation``.

    ``padding=None`` is torchvision's ``(kernel - 1) // 2 * dilation``; ``act=None`` leaves the
    activation out (a linear projection). The cost twin counts the norm as eval-mode batch norm.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm: Norm = nn.BatchNorm2d,
        act: Act | None = nn.ReLU,
        dilation: int = 1,
        padding: int | None = None,
        inplace: bool | None = True,
    ) -> None:
        if padding is None:
            padding = (kernel - 1) // 2 * dilation
        layers = [
            nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
            norm(c_out),
        ]
        if act is not None:
            layers.append(act() if inplace is None else act(inplace=inplace))
        super().__init__(*layers)

    @staticmethod
    def complexity(
        t: Tally,
        c_in: int,
        c_out: int,
        size: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        padding: int | None = None,
    ) -> int:
        if padding is None:
            padding = (kernel - 1) // 2 * dilation
        size = t.conv(c_in, c_out, size, kernel, stride, padding, groups=groups, dilation=dilation)
        t.bn(c_out, size)
        return size


class BatchNormAct2d(nn.BatchNorm2d):
    """Batch norm then an activation in one module, laid out as timm's ``BatchNormAct2d``.

    Its state dict is ``nn.BatchNorm2d``'s (the ``drop`` and ``act`` children hold no
    parameters), so timm's EfficientNet-style networks (MobileNetV1...) load unchanged. The cost
    twin is :meth:`Tally.bn <scalesearch.cost.analytic.Tally.bn>`: the activation is not counted.
    """

    def __init__(self, channels: int, act: Act | None = nn.ReLU, inplace: bool = True) -> None:
        super().__init__(channels)
        self.drop = nn.Identity()
        self.act = act(inplace=inplace) if act is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.drop(super().forward(x)))


class SqueezeExcitation(nn.Module):
    """Global pool -> 1x1 conv (squeeze) -> act -> 1x1 conv -> gate, rescaling the input.

    torchvision's ``SqueezeExcitation``: ReLU and sigmoid by default; EfficientNet squeezes
    with SiLU, MobileNetV3 gates with ``nn.Hardsigmoid``.
    """

    def __init__(self, channels: int, squeeze: int, act: Act = nn.ReLU, gate: Act = nn.Sigmoid) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = act()
        self.scale_activation = gate()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x

    @staticmethod
    def complexity(t: Tally, channels: int, squeeze: int, size: int) -> int:
        t.adaptive_avgpool(channels, size)
        t.conv(channels, squeeze, 1, 1, bias=True)
        t.conv(squeeze, channels, 1, 1, bias=True)
        return size


class StochasticDepth(nn.Module):
    """Drops a sample's whole residual branch with probability ``p`` while training, rescaling
    the kept ones by ``1 / (1 - p)`` (torchvision's ``StochasticDepth(p, "row")``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"stochastic depth probability must be in [0, 1], but got p={p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = x.new_empty([x.shape[0]] + [1] * (x.ndim - 1)).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode=row"

    @staticmethod
    def complexity(t: Tally, size: int) -> int:
        """The identity in eval mode: nothing to count."""
        return size


Layout = Literal["conv", "block"]


@dataclass(frozen=True)
class InvertedResidualConfig:
    """One inverted residual block as data: the module and its cost twin both read it.

    ``layout`` picks torchvision's module names. ``"conv"`` is MobileNetV2's:
    ``conv = [expand], depthwise, projection conv, projection norm``. ``"block"`` is
    EfficientNet's and MobileNetV3's: ``block = [expand], depthwise, [se], projection``, each a
    :class:`ConvNormAct`.
    """

    c_in: int
    hidden: int
    """Width of the expanded (depthwise) layers."""
    c_out: int
    kernel: int = 3
    stride: int = 1
    act: Act = nn.ReLU
    """Activation of the expansion and depthwise layers (ReLU6, SiLU, Hardswish...)."""
    expand: bool | None = None
    """Whether a 1x1 expansion runs; None: when ``hidden != c_in`` (MobileNetV2: whenever t != 1)."""
    squeeze: int = 0
    """Squeeze width of a squeeze-excitation after the depthwise layer; 0: no SE."""
    se_act: Act = nn.ReLU
    se_gate: Act = nn.Sigmoid
    norm: Norm = nn.BatchNorm2d
    drop_path: float | None = None
    """Stochastic depth probability of the residual branch; None: no StochasticDepth module."""
    layout: Layout = "block"

    @property
    def has_expansion(self) -> bool:
        return self.hidden != self.c_in if self.expand is None else self.expand

    @property
    def use_res_connect(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out

    @property
    def cost_key(self) -> tuple[int, ...]:
        """What its counts depend on (equal for blocks :func:`count_blocks` may count once)."""
        c = self
        return (c.c_in, c.hidden, c.c_out, c.kernel, c.stride, c.has_expansion, c.squeeze)


class InvertedResidual(nn.Module):
    """[1x1 expand] -> kxk depthwise -> [SE] -> 1x1 linear projection, plus the identity when the
    shapes agree (through stochastic depth where configured): MobileNetV2's block, EfficientNet's
    MBConv and MobileNetV3's block, by :class:`InvertedResidualConfig`."""

    def __init__(self, cfg: InvertedResidualConfig) -> None:
        super().__init__()
        self.layout = cfg.layout
        self.use_res_connect = cfg.use_res_connect
        hidden, norm = cfg.hidden, cfg.norm
        layers: list[nn.Module] = []
        if cfg.has_expansion:
            layers.append(ConvNormAct(cfg.c_in, hidden, 1, norm=norm, act=cfg.act))
        layers.append(ConvNormAct(hidden, hidden, cfg.kernel, cfg.stride, hidden, norm=norm, act=cfg.act))
        if cfg.squeeze:
            layers.append(SqueezeExcitation(hidden, cfg.squeeze, cfg.se_act, cfg.se_gate))
        if cfg.layout == "conv":
            layers += [nn.Conv2d(hidden, cfg.c_out, 1, 1, 0, bias=False), norm(cfg.c_out)]
        else:
            layers.append(ConvNormAct(hidden, cfg.c_out, 1, norm=norm, act=None))
        self.add_module(cfg.layout, nn.Sequential(*layers))
        self.stochastic_depth = None if cfg.drop_path is None else StochasticDepth(cfg.drop_path)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = getattr(self, self.layout)(x)
        if not self.use_res_connect:
            return out
        if self.stochastic_depth is not None:
            out = self.stochastic_depth(out)
        if self.layout == "conv":  # as torchvision: MobileNetV2 adds out of place, the others in place
            return x + out  # (fvcore lists aten::add or aten::add_ among its uncounted ops)
        out += x
        return out

    @staticmethod
    def complexity(t: Tally, cfg: InvertedResidualConfig, size: int) -> int:
        if cfg.has_expansion:
            ConvNormAct.complexity(t, cfg.c_in, cfg.hidden, size, 1)
        size = ConvNormAct.complexity(t, cfg.hidden, cfg.hidden, size, cfg.kernel, cfg.stride, cfg.hidden)
        if cfg.squeeze:
            SqueezeExcitation.complexity(t, cfg.hidden, cfg.squeeze, size)
        return ConvNormAct.complexity(t, cfg.hidden, cfg.c_out, size, 1)


class SeparableConv2d(nn.Module):
    """A kxk depthwise convolution then a 1x1 pointwise one, both without bias and with nothing
    between them: timm's ``SeparableConv2d`` of the legacy Xception (``conv1``, ``pointwise``)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1, dilation: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, 1, 0, 1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.conv1(x))

    @staticmethod
    def complexity(
        t: Tally,
        c_in: int,
        c_out: int,
        size: int,
        kernel: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
    ) -> int:
        size = t.conv(c_in, c_in, size, kernel, stride, padding, groups=c_in, dilation=dilation)
        return t.conv(c_in, c_out, size, 1, 1, 0)


def linear_drop_rates(p_last: float, n: int) -> list[float]:
    """Stochastic depth's linear decay rule (Huang et al. 2016, eq. 4): block ``l`` of ``n``
    (counted from 1) drops its residual branch with probability ``p_last * l / n``, so the
    first block keeps almost always and the last drops with ``p_last``. (torchvision and timm
    ramp from 0 instead: ``p_last * (l - 1) / (n - 1)``.)"""
    return [p_last * (i + 1) / n for i in range(n)]


def same_padding(kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """timm's ``get_padding``: ``((stride - 1) + dilation * (kernel - 1)) // 2``."""
    return ((stride - 1) + dilation * (kernel - 1)) // 2


class StdConv2d(nn.Conv2d):
    """Conv2d with weight standardisation (Qiao et al. 2019; BiT), laid out as timm's ``StdConv2d``.

    Each output filter's weights are standardised to zero mean, unit variance before the
    convolution, through ``F.batch_norm`` in training mode on the weight viewed as
    ``1 x c_out x fan_in`` (as timm does), so fvcore counts it as a batch norm without affine:
    4 flops per weight. ``padding=None`` is timm's :func:`same_padding`; timm's default ``eps``
    is 1e-6, BiT's 1e-8.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        eps: float = 1e-6,
    ) -> None:
        if padding is None:
            padding = same_padding(kernel, stride, dilation)
        super().__init__(c_in, c_out, kernel, stride, padding, dilation, groups, bias)
        self.eps = eps

    latency_kind = "wsconv"  # its own rows in a latency profile's layer table

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.reshape(1, self.out_channels, -1)
        w = F.batch_norm(w, None, None, training=True, momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    @staticmethod
    def complexity(
        t: Tally,
        c_in: int,
        c_out: int,
        size: int,
        kernel: int,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> int:
        if padding is None:
            padding = same_padding(kernel, stride, dilation)
        t.layer("batch_norm", 0, 4 * c_out * (c_in // groups) * kernel * kernel)
        return t.conv(c_in, c_out, size, kernel, stride, padding, groups, bias, dilation, "wsconv")


class GroupNormAct(nn.GroupNorm):
    """Group norm then an activation in one module, laid out as timm's ``GroupNormAct`` (its state
    dict is ``nn.GroupNorm``'s; ``num_groups`` comes second, as in timm).

    fvcore counts ``aten::group_norm`` with affine as 5 flops per element; the activation is not
    counted; its own parameters are the ``group norm`` layer type's in the breakdown by type.
    """

    def __init__(
        self,
        channels: int,
        num_groups: int = 32,
        eps: float = 1e-5,
        act: Act | None = nn.ReLU,
        inplace: bool = True,
    ) -> None:
        super().__init__(num_groups, channels, eps=eps)
        self.drop = nn.Identity()
        self.act = act(inplace=inplace) if act is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return self.act(self.drop(x))

    @staticmethod
    def complexity(t: Tally, channels: int, size: int) -> None:
        t.layer("group_norm", 2 * channels, 5 * channels * size * size)


class TableConv(nn.Module):
    """A convolution whose output map ``j`` reads only the input maps ``table[j]`` (LeNet-5's C3
    connection table): one small biased Conv2d per output map over its inputs (``maps.j``), the
    outputs concatenated -- what a dense convolution with the other weights held at zero computes,
    counted as the sparse layer it is."""

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.table = table
        self.maps = nn.ModuleList(nn.Conv2d(len(inputs), 1, kernel, stride, padding) for inputs in table)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [conv(x[:, list(inputs)]) for conv, inputs in zip(self.maps, self.table, strict=True)], 1
        )

    @staticmethod
    def complexity(
        t: Tally, table: tuple[tuple[int, ...], ...], size: int, kernel: int, stride: int, padding: int
    ) -> int:
        for inputs in table:
            out = t.conv(len(inputs), 1, size, kernel, stride, padding, bias=True)
        return out


class Subsampling(nn.Module):
    """LeNet-5's S2/S4: each unit sums its window, times a trainable coefficient per map, plus a
    trainable bias per map, then the squashing function (an average pool, a depthwise 1x1 conv)."""

    def __init__(self, channels: int, kernel: int, stride: int, ceil: bool, act: nn.Module) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel, stride, ceil_mode=ceil)
        self.coef = nn.Conv2d(channels, channels, 1, groups=channels)
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.coef(self.pool(x)))
