"""fvcore counts of a built network: the authority every other cost path is checked against."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class FvcoreCounts:
    """fvcore's totals for one forward pass, with the operators fvcore did not count."""

    params: int
    flops: int
    activations: int
    unsupported: dict[str, int] = field(default_factory=dict)


def _combined_handles() -> dict[str, Callable[[list[Any], list[Any]], Counter[str]]]:
    """fvcore's FLOP and activation handles merged, so one trace yields both counts.

    Each handle returns ``Counter({"flops": f, "activations": a})``; ``by_operator()`` then
    sums each key over the graph exactly as the two separate analyses would.
    """
    from fvcore.nn.activation_count import _DEFAULT_SUPPORTED_OPS as ACT_OPS
    from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as FLOP_OPS

    def merged(kind: str) -> Callable[[list[Any], list[Any]], Counter[str]]:
        def handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
            out: Counter[str] = Counter()
            for key, table in (("flops", FLOP_OPS), ("activations", ACT_OPS)):
                if kind in table:
                    value = table[kind](inputs, outputs)
                    out[key] += sum(value.values()) if isinstance(value, Counter) else value
            return out

        return handle

    return {kind: merged(kind) for kind in {*FLOP_OPS, *ACT_OPS}}


def count(model: nn.Module, resolution: int, channels: int = 3) -> FvcoreCounts:
    """Trace ``model`` once in eval mode on one real ``channels``x``resolution``² image.

    Totals equal ``FlopCountAnalysis(...).total()`` and ``ActivationCountAnalysis(...).total()``.
    """
    from fvcore.nn.jit_analysis import JitModelAnalysis

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, channels, resolution, resolution)
        with torch.no_grad():
            analysis = JitModelAnalysis(model, x).set_op_handle(**_combined_handles())
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            totals = analysis.by_operator()
            unsupported = dict(sorted(analysis.unsupported_ops().items()))
    finally:
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return FvcoreCounts(
        params=params,
        flops=int(totals["flops"]),
        activations=int(totals["activations"]),
        unsupported=unsupported,
    )


def count_by_module(model: nn.Module, resolution: int, channels: int = 3) -> dict[str, Counter[str]]:
    """fvcore's FLOPs of each module's own ops, by operator: ``{module name: Counter(op -> flops)}``.

    fvcore's ``by_module_and_operator()`` counts a module with everything inside it; a module's
    own ops are its count less its children's (functional ops in its ``forward`` and, for a leaf,
    everything it runs). Summed over the modules they equal ``FlopCountAnalysis(...).total()``.
    """
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, channels, resolution, resolution)
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            inclusive = analysis.by_module_and_operator()
    finally:
        model.train(was_training)
    own: dict[str, Counter[str]] = {}
    for name, module in model.named_modules():
        counts = Counter(inclusive.get(name, {}))
        for child, _ in module.named_children():
            counts.subtract(inclusive.get(f"{name}.{child}" if name else child, {}))
        own[name] = +counts
    return own
