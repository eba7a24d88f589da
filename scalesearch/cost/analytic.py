"""Analytic counts that reproduce fvcore exactly, computed from a block's arguments.

Each layer function mirrors the fvcore handle for the op the layer runs (batch 1,
eval mode; fvcore 0.1.5 ``flop_count.py`` / ``jit_handles.py``):

- convolution (``aten::_convolution``): ``out_h * out_w * c_out * c_in / groups * k*k``
  multiply-adds, bias not counted; activations: output elements.
- linear (``aten::linear``/``addmm``): ``in * out`` multiply-adds; activations: ``out``.
- batch norm in eval mode (``aten::batch_norm``): 2 flops per input element with an
  affine transform, 1 without.
- adaptive average pooling (``aten::adaptive_avg_pool2d``): 1 flop per input element.
- max/avg pooling, activations, add, mul, sigmoid, dropout: not counted by fvcore.

Every family's ``complexity(point)`` walks the same structure as its ``build(point)``
with a :class:`Tally`; tests check the result equals fvcore on every canonical point
and on random points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Counts:
    """Parameters, FLOPs (fvcore convention: 1 multiply-add = 1 flop) and activations."""

    params: int
    flops: int
    activations: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output size of a convolution or pooling window (PyTorch's floor rule)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class Tally:
    """Accumulates params, flops and activations layer by layer for a batch of 1."""

    def __init__(self) -> None:
        self.params = 0
        self.flops = 0
        self.activations = 0

    def conv(
        self,
        c_in: int,
        c_out: int,
        size: int,
        kernel: int,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        bias: bool = False,
        dilation: int = 1,
    ) -> int:
        """A square Conv2d on a ``size``x``size`` input; returns the output size.

        ``padding=None`` means ``(kernel - 1) // 2 * dilation`` ("same" for odd kernels).
        """
        if padding is None:
            padding = (kernel - 1) // 2 * dilation
        out = conv_out(size, kernel, stride, padding, dilation)
        self.params += c_out * (c_in // groups) * kernel * kernel + (c_out if bias else 0)
        self.flops += out * out * c_out * (c_in // groups) * kernel * kernel
        self.activations += out * out * c_out
        return out

    def bn(self, channels: int, size: int, affine: bool = True) -> None:
        """BatchNorm2d in eval mode on a ``channels``x``size``x``size`` input."""
        self.params += 2 * channels if affine else 0
        self.flops += (2 if affine else 1) * channels * size * size

    def linear(self, f_in: int, f_out: int, bias: bool = True) -> None:
        self.params += f_in * f_out + (f_out if bias else 0)
        self.flops += f_in * f_out
        self.activations += f_out

    def adaptive_avgpool(self, channels: int, size: int) -> None:
        """Global (adaptive) average pooling to 1x1."""
        self.flops += channels * size * size

    def counts(self) -> Counts:
        return Counts(self.params, self.flops, self.activations)
