"""Shared by the export tests: tiny points and weights whose logits are far from zero."""

from __future__ import annotations

import torch
from torch import nn

WRN = ("wrn", "depth=10", "widen_factor=1", "resolution=8")
"""The cheapest network of the suite (a 10-layer Wide-ResNet on 8x8 images)."""


def scrambled(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` with random weights of unit scale, so its logits are O(1) and parity is a real test
    (initialisations such as a zeroed classifier give logits near 0, which any file would match)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if name.endswith("weight") else 0.1))
            if "bn" in name and name.endswith("weight"):
                p.abs_().add_(0.5)
    return model.eval()
