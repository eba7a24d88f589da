"""fvcore counts of a built network: the authority every other cost path is checked against."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

FLOP_CONVENTION = "fvcore: 1 multiply-add = 1 flop, batch norm counted as in eval mode, batch 1"


@dataclass(frozen=True)
class FvcoreCounts:
    """fvcore's totals for one forward pass, with the operators fvcore did not count."""

    params: int
    flops: int
    activations: int
    unsupported: dict[str, int] = field(default_factory=dict)


def count(model: nn.Module, resolution: int, channels: int = 3) -> FvcoreCounts:
    """Trace ``model`` in eval mode on one real ``channels``x``resolution``² image."""
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, channels, resolution, resolution)
        with torch.no_grad():
            flops = FlopCountAnalysis(model, x)
            flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = int(flops.total())
            unsupported = dict(sorted(flops.unsupported_ops().items()))
            acts = ActivationCountAnalysis(model, x)
            acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            activations = int(acts.total())
    finally:
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return FvcoreCounts(params=params, flops=total, activations=activations, unsupported=unsupported)
