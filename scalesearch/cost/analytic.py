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
and on random points. Each layer method also tags what it adds with its layer type
(:func:`~scalesearch.cost.breakdown.layer_type`), so the same walk gives the cost by type.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, TypeVar

from scalesearch.cost.layer_types import layer_type as _layer_type_uncached

B = TypeVar("B")

layer_type = lru_cache(maxsize=4096)(_layer_type_uncached)
""":func:`~scalesearch.cost.layer_types.layer_type`, memoised: a network asks it the same few questions."""


@dataclass(frozen=True)
class Counts:
    """Parameters, FLOPs (fvcore convention: 1 multiply-add = 1 flop) and activations."""

    params: int
    flops: int
    activations: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output size of a convolution or pooling window (PyTorch's floor rule).

    The window arithmetic is folded into one integer first, so an array of sizes (one per point,
    see :func:`counts_only`) costs two array operations, none for a "same" stride-1 window."""
    shrink = dilation * (kernel - 1) + 1 - 2 * padding
    if stride == 1 and shrink == 1:
        return size
    return (size - shrink) // stride + 1


_RECORDING: ContextVar[list[Tally] | None] = ContextVar("scalesearch_tally_recording", default=None)


@contextmanager
def recording() -> Iterator[list[Tally]]:
    """Collects every :class:`Tally` made inside the block (the by-type breakdown reads their tags)."""
    tallies: list[Tally] = []
    token = _RECORDING.set(tallies)
    try:
        yield tallies
    finally:
        _RECORDING.reset(token)


_COUNTS_ONLY: ContextVar[bool] = ContextVar("scalesearch_tally_counts_only", default=False)


@contextmanager
def counts_only() -> Iterator[None]:
    """Tallies made inside the block keep params, flops and activations only, no tags by layer type
    (faster; screening needs no breakdown). Their counts may then be numpy arrays over points:
    a walk given an array of resolutions counts them all at once (see ``scalesearch.verdict.bulk``)."""
    token = _COUNTS_ONLY.set(True)
    try:
        yield
    finally:
        _COUNTS_ONLY.reset(token)


class Tally:
    """Accumulates params, flops and activations layer by layer for a batch of 1.

    ``types`` holds the same counts by layer type: ``{type: [params, weights, flops]}``, where
    weights are conv and linear kernels without biases.
    """

    def __init__(self) -> None:
        self.params = 0
        self.flops = 0
        self.activations = 0
        self.types: dict[str, list[int]] = {}
        self.calls: dict[str, int] = {}
        """Layers run, by type (those with FLOPs): the per-op overhead a latency model needs."""
        self.shapes: dict[tuple[int | str, ...], int] = {}
        """Conv, linear and norm layers run, by shape: what a latency profile's per-layer table
        looks up. ``("conv", c_in, c_out, groups, kh, kw, stride, out_area)`` (``"wsconv"`` for a
        weight-standardised conv), ``("linear", f_in, f_out, rows)``, ``("bn", channels, area)``,
        ``("gn", channels, area)``, ``("ln", channels, rows)``."""
        self.merged = False
        """True once :meth:`add_params` or :meth:`merge` has taken this tally into another."""
        self.detailed = not _COUNTS_ONLY.get()
        """False inside :func:`counts_only`: ``types`` and ``calls`` stay empty."""
        tallies = _RECORDING.get()
        if tallies is not None:
            tallies.append(self)

    def _tag(self, kind: str, params: int, weights: int, flops: int) -> None:
        row = self.types.setdefault(kind, [0, 0, 0])
        row[0] += params
        row[1] += weights
        row[2] += flops
        if flops:
            self.calls[kind] = self.calls.get(kind, 0) + 1

    def _shape(self, key: tuple[int | str, ...]) -> None:
        self.shapes[key] = self.shapes.get(key, 0) + 1

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
        variant: str = "conv",
    ) -> int:
        """A square Conv2d on a ``size``x``size`` input; returns the output size. ``variant``
        names its kind in :attr:`shapes` (``"wsconv"``: a weight-standardised conv, timed apart).

        ``padding=None`` means ``(kernel - 1) // 2 * dilation`` ("same" for odd kernels).
        """
        if padding is None:
            padding = (kernel - 1) // 2 * dilation
        out = conv_out(size, kernel, stride, padding, dilation)
        weights = c_out * (c_in // groups) * kernel * kernel
        area = out * out
        params, flops = weights + (c_out if bias else 0), area * weights
        self.params += params
        self.flops += flops
        self.activations += area * c_out
        if self.detailed:
            self._tag(layer_type("conv", kernel, groups, c_in, c_out), params, weights, flops)
            self._shape((variant, c_in, c_out, groups, kernel, kernel, stride, area))
        return out

    def bn(self, channels: int, size: int, affine: bool = True) -> None:
        """BatchNorm2d in eval mode on a ``channels``x``size``x``size`` input."""
        params, flops = 2 * channels if affine else 0, (2 if affine else 1) * channels * (size * size)
        self.params += params
        self.flops += flops
        if self.detailed:
            self._tag(layer_type("batch_norm"), params, 0, flops)
            self._shape(("bn", channels, size * size))

    def linear(self, f_in: int, f_out: int, bias: bool = True) -> None:
        params = f_in * f_out + (f_out if bias else 0)
        self.params += params
        self.flops += f_in * f_out
        self.activations += f_out
        if self.detailed:
            self._tag(layer_type("linear"), params, f_in * f_out, f_in * f_out)
            self._shape(("linear", f_in, f_out, 1))

    def adaptive_avgpool(self, channels: int, size: int) -> None:
        """Global (adaptive) average pooling to 1x1."""
        self.flops += channels * size * size
        if self.detailed:
            self._tag(layer_type("adaptive_avg_pool2d"), 0, 0, channels * size * size)

    def layer(
        self,
        op: str,
        params: int,
        flops: int,
        activations: int = 0,
        weights: int = 0,
        kernel: int | tuple[int, int] | None = None,
        groups: int = 1,
        c_in: int = 0,
        c_out: int = 0,
    ) -> None:
        """Any other layer, counted by the caller and tagged ``layer_type(op, kernel, groups, c_in,
        c_out)``: a non-square conv (``op="conv"``, ``kernel=(1, 7)``), a layer norm
        (``"layer_norm"``), a linear layer on every pixel (``"linear"``), a layer scale (``"other"``).
        Use it rather than adding to ``params``/``flops`` directly, so the breakdown by type sees it."""
        self.params += params
        self.flops += flops
        self.activations += activations
        if self.detailed:
            self._tag(layer_type(op, kernel, groups, c_in, c_out), params, weights, flops)
            if op == "conv" and kernel is not None and c_out and flops:
                kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
                self._shape(("conv", c_in, c_out, groups, kh, kw, 1, activations // c_out))
            elif op == "linear" and weights and flops and activations:  # on every pixel
                rows = flops // weights
                self._shape(("linear", weights * rows // activations, activations // rows, rows))
            elif op in ("layer_norm", "group_norm") and params and flops:
                self._shape((op[0] + "n", params // 2, flops // (5 * (params // 2))))

    def merge(self, other: Tally, times: int = 1) -> None:
        """Adds ``times`` runs of everything ``other`` counted (a module repeated unchanged: count
        it once, merge it n times); ``other`` is then left out of the breakdown by type."""
        self.params += times * other.params
        self.flops += times * other.flops
        self.activations += times * other.activations
        for kind, row in other.types.items():
            mine = self.types.setdefault(kind, [0, 0, 0])
            for i in range(3):
                mine[i] += times * row[i]
        for kind, n in other.calls.items():
            self.calls[kind] = self.calls.get(kind, 0) + times * n
        for shape, n in other.shapes.items():
            self.shapes[shape] = self.shapes.get(shape, 0) + times * n
        other.merged = True

    def add_params(self, other: Tally) -> None:
        """Adds the parameters of layers built but not run (an auxiliary head in eval mode): their
        params by type, no FLOPs; ``other`` is then left out of the breakdown by type."""
        self.params += other.params
        for kind, (params, weights, _) in other.types.items():
            self._tag(kind, params, weights, 0)
        other.merged = True

    def counts(self) -> Counts:
        return Counts(self.params, self.flops, self.activations)


def count_blocks(
    t: Tally,
    blocks: Sequence[B],
    size: Any,
    count: Callable[[Tally, B, Any], Any],
    key: Callable[[B], Hashable],
) -> Any:
    """Counts ``blocks`` in order from input side ``size`` (``count(tally, block, size)`` returns
    the output side); a run of consecutive blocks with equal ``key`` that keep the side (a stage's
    blocks after its first) is counted once and merged as many times as it runs. Returns the side."""
    i = 0
    while i < len(blocks):
        n = 1
        while i + n < len(blocks) and key(blocks[i + n]) == key(blocks[i]):
            n += 1
        one = Tally() if n > 1 else t
        out = count(one, blocks[i], size)
        kept = out is size or (isinstance(out, int) and isinstance(size, int) and out == size)
        runs = n if kept else 1
        if one is not t:
            t.merge(one, runs)
        size, i = out, i + runs
    return size
