"""ONNX export (opset :data:`OPSET`, dynamic batch) and running the file in ONNX Runtime.

Two exporters of torch can write it: ``legacy``, the TorchScript-based one (``dynamo=False``,
deprecated by torch since 2.9 but still shipped), and ``dynamo``, the torch.export-based one
(torch's default, needs onnxscript). Both export every family with parity in torch 2.13, but the
legacy one is 10-50x faster (about 0.5 s against 5-30 s for a small network), which matters when
ONNX Runtime serves as a latency device inside a search, and cannot express a few ops (an adaptive
pooling whose output size does not divide its input's, e.g. VGG's 7x7 pooling at 128 px). So
``auto``, the default, tries the legacy exporter and falls back to dynamo.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.errors import ScalesearchError
from scalesearch.export import EXPORTERS, INSTALL, OPSET
from scalesearch.export.parity import Runner

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def require(*modules: str) -> None:
    """Import ``modules`` (the ``export`` extra); a missing one is one line naming the install command."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ScalesearchError(
            f"ONNX export and ONNX Runtime need the export extra ({', '.join(modules)}), but "
            f"{', '.join(missing)} cannot be imported: {INSTALL}"
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' deprecation warnings and progress prints (the command reports itself)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping torchvision::nms" and the like
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """Send file descriptors 1 and 2 to /dev/null: torch's legacy exporter always enables its C++
    log (a bug of torch 2.13's ``setup_onnx_logging``) and dumps the whole graph there on failure."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


class _ExporterFailed(Exception):
    """One exporter could not write the network (``auto`` then tries the other)."""


def export_onnx(
    model: nn.Module, example: Tensor, path: str | os.PathLike[str], exporter: str = "auto"
) -> str:
    """Write ``model`` (eval mode) to ``path`` as one ONNX file, batch dimension dynamic; returns the
    exporter used (``auto``: legacy, then dynamo where the legacy one cannot express the network)."""
    if exporter not in EXPORTERS:
        raise ScalesearchError(f"exporter must be one of {', '.join(EXPORTERS)}, but got {exporter}")
    require("onnx", "onnxruntime", *(("onnxscript",) if exporter != "legacy" else ()))
    model.eval()
    tried = ("legacy", "dynamo") if exporter == "auto" else (exporter,)
    reasons = []
    for name in tried:
        try:
            _export(name, model, example, path)
            return name
        except _ExporterFailed as err:
            reasons.append(f"the {name} exporter failed ({err})")
    hint = (
        ""
        if exporter == "auto"
        else f"; try --onnx-exporter {'dynamo' if exporter == 'legacy' else 'legacy'}"
    )
    raise ScalesearchError(f"ONNX export failed: {'; '.join(reasons)}{hint}")


def _export(exporter: str, model: nn.Module, example: Tensor, path: str | os.PathLike[str]) -> None:
    common: dict[str, Any] = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "opset_version": OPSET,
    }
    try:
        with quiet(), torch.no_grad():
            if exporter == "dynamo":
                batch = torch.export.Dim("batch")
                program = torch.onnx.export(
                    model, (example,), dynamo=True, dynamic_shapes=({0: batch},), **common
                )
                assert program is not None
                program.save(str(path), external_data=False)
            else:
                axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
                with _native_output_silenced():
                    torch.onnx.export(model, (example,), str(path), dynamo=False, dynamic_axes=axes, **common)
    except Exception as err:  # any exporter failure: reported on one line, or the other exporter tried
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise _ExporterFailed(f"{type(err).__name__}: {first[:300]}") from None


def session(path: str | os.PathLike[str], threads: int = 1) -> Any:
    """An ONNX Runtime CPU session on ``path`` with ``threads`` intra-op threads, run sequentially."""
    require("onnxruntime")
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(Path(path)), opts, providers=["CPUExecutionProvider"])


def runner(path: str | os.PathLike[str], threads: int = 1) -> Runner:
    """A function running the ONNX file at ``path`` on a tensor, returning its outputs as tensors."""
    sess = session(path, threads)
    name = sess.get_inputs()[0].name

    def run(x: Tensor) -> list[Tensor]:
        return [torch.from_numpy(y) for y in sess.run(None, {name: x.numpy()})]

    return run
