"""Cost by layer type: where a network's parameters and FLOPs go ("conv 1x1", "conv dw 3x3"...).

Two paths give the same table, as for the totals:

- analytic: every :class:`~scalesearch.cost.analytic.Tally` call tags what it adds with
  :func:`layer_type` of its arguments; :func:`analytic_breakdown` sums the tags;
- fvcore: :func:`~scalesearch.cost.fvcore_count.count_by_module` gives each module's own
  FLOPs by operator; :func:`fvcore_breakdown` classifies them, and each module's own parameters,
  with the same :func:`layer_type`.

Columns: ``params`` (every parameter: weights, biases, norm affines), ``weights`` (conv and linear
kernels only, no biases and no norm parameters: the count the MobileNet paper tabulates), ``flops``
(fvcore's convention, 1 multiply-add = 1 flop; batch norm 2 flops per element in eval mode,
adaptive pooling 1 per input element) and ``mult_adds`` (conv and linear multiply-adds only: the
papers' "Mult-Adds", batch norm and pooling excluded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalesearch.cost.layer_types import OTHER, is_mult_add, layer_type

if TYPE_CHECKING:
    from torch import nn

    from scalesearch.cost.analytic import Tally
    from scalesearch.family import Family
    from scalesearch.space import Point

METHODS = ("fvcore", "analytic")


@dataclass(frozen=True)
class TypeCost:
    """One layer type's share of a network."""

    type: str
    params: int
    weights: int
    flops: int

    @property
    def mult_adds(self) -> int:
        return self.flops if is_mult_add(self.type) else 0


def _share(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


@dataclass(frozen=True)
class Breakdown:
    """A network's costs by layer type (rows by FLOPs, largest first), by one method."""

    method: str
    rows: tuple[TypeCost, ...]

    def total(self, column: str) -> int:
        return sum(getattr(r, column) for r in self.rows)

    def row(self, kind: str) -> TypeCost:
        for r in self.rows:
            if r.type == kind:
                return r
        raise KeyError(f"no layer of type {kind!r}; types: {', '.join(r.type for r in self.rows)}")

    def share(self, kind: str, column: str) -> float:
        """``kind``'s percentage of ``column`` (params, weights, flops or mult_adds)."""
        return _share(getattr(self.row(kind), column), self.total(column))

    def records(self) -> list[dict[str, Any]]:
        """One dict per type with counts and percentage shares (the CLI's table and JSON rows)."""
        columns = ("params", "weights", "flops", "mult_adds")
        totals = {c: self.total(c) for c in columns}
        return [
            {
                "type": r.type,
                **{c: getattr(r, c) for c in columns},
                **{f"{c}_%": round(_share(getattr(r, c), totals[c]), 2) for c in columns},
            }
            for r in self.rows
        ]


def _table(method: str, acc: Mapping[str, Sequence[int]]) -> Breakdown:
    rows = [TypeCost(k, *v) for k, v in acc.items() if any(v)]
    rows.sort(key=lambda r: (-r.flops, -r.params, r.type))
    return Breakdown(method, tuple(rows))


def _add(acc: dict[str, list[int]], kind: str, params: int = 0, weights: int = 0, flops: int = 0) -> None:
    row = acc.setdefault(kind, [0, 0, 0])
    row[0] += params
    row[1] += weights
    row[2] += flops


def analytic_breakdown(family: Family, point: Mapping[str, Any]) -> Breakdown:
    """Sum the layer-type tags of the Tally ``family.complexity`` fills; untagged remainder: ``other``."""
    from scalesearch.cost.analytic import recording

    with recording() as tallies:
        counts = family.complexity(point)
    return tally_breakdown(tallies, counts.params, counts.flops)


def tally_breakdown(tallies: Sequence[Tally], params: int, flops: int) -> Breakdown:
    """The tags of ``tallies`` (those not merged into another) against the totals they must make up."""
    acc: dict[str, list[int]] = {}
    for t in tallies:
        if t.merged:
            continue
        for kind, (p, w, f) in t.types.items():
            _add(acc, kind, p, w, f)
    tagged = [sum(v[i] for v in acc.values()) for i in (0, 2)]
    _add(acc, OTHER, params=params - tagged[0], flops=flops - tagged[1])
    return _table("analytic", acc)


def _module_kind(module: nn.Module) -> str | None:
    """The op a module with its own parameters runs (None: no layer type, its params are ``other``)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batch_norm"
    if isinstance(module, nn.LayerNorm):
        return "layer_norm"
    if isinstance(module, nn.GroupNorm):
        return "group_norm"
    return None


def _module_type(module: nn.Module, op: str) -> str:
    if op == "conv" and _module_kind(module) == "conv":
        m: Any = module
        return layer_type("conv", m.kernel_size, m.groups, m.in_channels, m.out_channels)
    return layer_type(op)


def fvcore_breakdown(model: nn.Module, resolution: int, channels: int = 3) -> Breakdown:
    """fvcore's per-module FLOPs and each module's own parameters, classified by :func:`layer_type`."""
    from scalesearch.cost.fvcore_count import count_by_module

    modules = dict(model.named_modules())
    acc: dict[str, list[int]] = {}
    for name, ops in count_by_module(model, resolution, channels).items():
        for op, flops in ops.items():
            _add(acc, _module_type(modules[name], op), flops=flops)
    for module in modules.values():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if not own:
            continue
        kind = _module_kind(module)
        if kind is None:
            _add(acc, OTHER, params=own)
            continue
        weights = module.weight.numel() if kind in ("conv", "linear") else 0
        _add(acc, _module_type(module, kind), params=own, weights=int(weights))
    return _table("fvcore", acc)


def breakdown(family: Family, point: Point, method: str = "fvcore") -> Breakdown:
    """``family``'s costs at ``point`` by layer type, by fvcore (builds and traces) or analytically."""
    from scalesearch.errors import ScalesearchError

    if method not in METHODS:
        raise ScalesearchError(f"method must be one of {', '.join(METHODS)}, but got method={method}")
    point = family.point(point)
    if method == "analytic":
        return analytic_breakdown(family, point)
    from scalesearch.cost.record import check_buildable

    check_buildable(family, point, "the fvcore trace")
    return fvcore_breakdown(family.build(point), point["resolution"])
