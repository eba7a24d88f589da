"""Parity of an exported model with PyTorch: the same random inputs through both, max |Δ| reported.

The rule: ``max |y_export - y_torch| <= TOLERANCE * max(1, max |y_torch|)`` over every output
value at every batch size checked, i.e. 1e-4 absolute while the logits stay within ±1, relative
to the largest logit beyond that. The inputs are drawn at a batch size other than the one the
model was exported with too, which proves the batch dimension is dynamic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from scalesearch.errors import ScalesearchError
from scalesearch.export import TOLERANCE

EXPORT_BATCH = 2
"""The batch size of the example input the model is exported (traced) with."""
BATCHES = (EXPORT_BATCH, 1)
"""Batch sizes parity is checked at: the export's, and another (the dynamic batch at work)."""
SEED = 0

Runner = Callable[[Tensor], list[Tensor]]
"""Runs the exported model on an input, returning its outputs as tensors."""


class ParityError(ScalesearchError):
    """The exported model disagrees with PyTorch, or cannot run at a batch size."""


@dataclass(frozen=True)
class Parity:
    """The worst |Δ| over the checked batch sizes and the bound it was held to."""

    backend: str
    batches: tuple[int, ...]
    max_abs_diff: float
    max_abs_ref: float

    @property
    def bound(self) -> float:
        return TOLERANCE * max(1.0, self.max_abs_ref)

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.bound

    def summary(self) -> str:
        batches = ", ".join(map(str, self.batches))
        return (
            f"parity vs PyTorch ({self.backend}, random inputs at batch {batches}): max |Δ| "
            f"{self.max_abs_diff:.2e} <= {self.bound:.0e} (1e-4 x max(1, max |logit| {self.max_abs_ref:.2g}))"
        )


def outputs(value: object) -> list[Tensor]:
    """The tensors of a model's output (a tensor, or a tuple/list of them), in order."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in outputs(v)]
    raise ParityError(f"a model's output must be tensors, but got {type(value).__name__}")


def example_input(channels: int, resolution: int, batch: int = EXPORT_BATCH, seed: int = SEED) -> Tensor:
    """A random image batch, the same for the same arguments."""
    gen = torch.Generator().manual_seed(seed + batch)
    return torch.randn(batch, channels, resolution, resolution, generator=gen)


def check_parity(
    model: nn.Module,
    run: Runner,
    backend: str,
    channels: int,
    resolution: int,
    batches: Sequence[int] = BATCHES,
) -> Parity:
    """Run ``model`` (eval mode) and ``run`` on the same random inputs; raise ParityError beyond the bound."""
    model.eval()
    worst = ref_max = 0.0
    for batch in batches:
        x = example_input(channels, resolution, batch)
        with torch.no_grad():
            expected = outputs(model(x))
        try:
            got = run(x)
        except Exception as err:  # any runtime failure of the exported file is a parity failure
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ParityError(
                f"{backend} could not run the exported model at batch {batch}: {first[:300]}"
            ) from None
        if [tuple(t.shape) for t in got] != [tuple(t.shape) for t in expected]:
            raise ParityError(
                f"{backend} output shapes {[tuple(t.shape) for t in got]} differ from PyTorch's "
                f"{[tuple(t.shape) for t in expected]} at batch {batch}"
            )
        for e, g in zip(expected, got, strict=True):
            diff = float((g.float() - e.float()).abs().max())
            worst = max(worst, math.inf if math.isnan(diff) else diff)
            ref_max = max(ref_max, float(e.abs().max()))
    result = Parity(backend, tuple(batches), worst, ref_max)
    if not result.ok:
        raise ParityError(f"exported model fails the parity check: {result.summary()}")
    return result
