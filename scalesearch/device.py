"""Choosing the torch device: one rule for training and latency measurement."""

from __future__ import annotations

import torch

from scalesearch.errors import ScalesearchError

ONNXRUNTIME = "onnxruntime"
"""A latency-only device: the network exported to ONNX and timed in ONNX Runtime on the CPU."""


def resolve_device(name: str = "auto") -> torch.device:
    """A torch device from ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ScalesearchError(f"device must be auto, cpu, cuda or cuda:N, but got device={name}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ScalesearchError(
                f"device {name} is not available: torch sees no CUDA GPU here; use cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ScalesearchError(
                f"device {name} is not available: torch sees {torch.cuda.device_count()} CUDA GPU(s)"
            )
    elif device.type != "cpu":
        raise ScalesearchError(f"device must be auto, cpu, cuda or cuda:N, but got device={name}")
    return device
