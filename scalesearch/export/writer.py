"""Writing an exported file: export, parity check, then the atomic move into place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from scalesearch.atomic import atomic_path
from scalesearch.errors import ScalesearchError
from scalesearch.export import FORMATS, OPSET
from scalesearch.export.parity import Parity, check_parity, example_input


@dataclass(frozen=True)
class ExportResult:
    """Where the file went, its format and size, and the parity it passed."""

    path: Path
    format: str
    bytes: int
    parity: Parity
    exporter: str | None = None
    opset: int | None = None

    def summary(self) -> str:
        how = f"onnx opset {self.opset}, {self.exporter} exporter" if self.format == "onnx" else "torchscript"
        return f"wrote {self.path} ({how}, dynamic batch, {self.bytes / 2**20:.1f} MiB); {self.parity.summary()}: ok"


def export_model(
    model: nn.Module,
    fmt: str,
    path: str | os.PathLike[str],
    channels: int,
    resolution: int,
    exporter: str = "auto",
) -> ExportResult:
    """Export ``model`` (put in eval mode) for inputs of ``channels`` x ``resolution``², check its
    parity, then move it to ``path``; on any failure no file is left there."""
    if fmt not in FORMATS:
        raise ScalesearchError(f"format must be one of {', '.join(FORMATS)}, but got {fmt}")
    model.eval()
    example = example_input(channels, resolution)
    with atomic_path(path) as tmp:
        if fmt == "onnx":
            from scalesearch.export import onnx

            exporter = onnx.export_onnx(model, example, tmp, exporter)
            parity = check_parity(model, onnx.runner(tmp), "onnxruntime", channels, resolution)
        else:
            from scalesearch.export import torchscript

            torchscript.export_torchscript(model, example, tmp)
            parity = check_parity(model, torchscript.runner(tmp), "torch.jit.load", channels, resolution)
        size = tmp.stat().st_size
    onnx_only = fmt == "onnx"
    return ExportResult(
        Path(path), fmt, size, parity, exporter if onnx_only else None, OPSET if onnx_only else None
    )
