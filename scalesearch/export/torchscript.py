"""TorchScript export: ``torch.jit.trace`` of the eval-mode model, saved with ``torch.jit.save``.

torch (2.13) marks TorchScript deprecated in favour of torch.export but still ships and runs it;
the file loads with ``torch.jit.load`` and runs without scalesearch's code.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from scalesearch.errors import ScalesearchError
from scalesearch.export.onnx import quiet
from scalesearch.export.parity import Runner, outputs


def export_torchscript(model: nn.Module, example: Tensor, path: str | os.PathLike[str]) -> None:
    """Trace ``model`` (eval mode) on ``example`` and save it to ``path``."""
    model.eval()
    try:
        with quiet(), torch.no_grad():
            traced = torch.jit.trace(model, (example,), check_trace=False)
            torch.jit.save(traced, str(path))
    except Exception as err:  # a tracing failure is reported as one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ScalesearchError(f"TorchScript tracing failed ({type(err).__name__}: {first[:300]})") from None


def runner(path: str | os.PathLike[str]) -> Runner:
    """A function running the TorchScript file at ``path`` (``torch.jit.load``) on a tensor."""
    with quiet():
        loaded = torch.jit.load(str(path), map_location="cpu")
    loaded.eval()

    def run(x: Tensor) -> list[Tensor]:
        with torch.no_grad(), quiet():
            return outputs(loaded(x))

    return run
