"""Export a network to ONNX or TorchScript, with its parity against PyTorch checked before the file is kept.

::

    from scalesearch.export.writer import export_model
    result = export_model(model, "onnx", "model.onnx", channels=3, resolution=224)
    print(result.parity.summary())

The file is written atomically: nothing is left at the destination when the export or its parity
check fails. ONNX files are pinned to opset :data:`OPSET` with a dynamic batch dimension.
"""

from __future__ import annotations

FORMATS = ("onnx", "torchscript")
OPSET = 18
"""The ONNX opset every export is pinned to (native to the dynamo exporter, supported by the legacy one)."""
EXPORTERS = ("auto", "legacy", "dynamo")
"""torch's ONNX exporters: the TorchScript-based one (``dynamo=False``), the torch.export-based one,
or ``auto``: the legacy one (fast), then dynamo where the legacy one cannot express the network."""
TOLERANCE = 1e-4
"""Largest max |Δ| allowed against PyTorch: absolute up to logits of magnitude 1, relative beyond."""
INSTALL = "pip install 'scalesearch[export]'"
"""How to install the optional dependencies of ONNX export and ONNX Runtime (onnx, onnxscript, onnxruntime)."""

__all__ = ["EXPORTERS", "FORMATS", "INSTALL", "OPSET", "TOLERANCE"]
