"""Checkpoints of a training run: everything it needs to go on exactly where it stopped.

A checkpoint holds the completed epoch, the model, optimiser and scheduler states, every random
generator the run draws from (torch's global and CUDA ones, numpy's, python's and the data-order
generator) and the per-epoch metrics so far. It holds only tensors, plain containers, numbers and
strings, so it loads with ``torch.load(weights_only=True)``, and it is written atomically: a kill
mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalesearch.atomic import atomic_path
from scalesearch.errors import ScalesearchError
from scalesearch.train.loop import TrainingRun

FORMAT = 1
"""Bumped when the layout changes; a checkpoint of another format is refused, not misread."""


def rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    """The states of every generator a run draws from, as tensors and plain values."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "shuffle": shuffle.get_state(),
    }


def set_rng_state(state: dict[str, Any], shuffle: torch.Generator) -> None:
    """Put every generator back in the state :func:`rng_state` recorded."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    shuffle.set_state(state["shuffle"])


def capture(run: TrainingRun, epoch: int, history: list[dict[str, float]]) -> dict[str, Any]:
    """The checkpoint of ``run`` after ``epoch`` completed epochs (``history``: their metrics)."""
    return {
        "format": FORMAT,
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.opt.state_dict(),
        "scheduler": run.schedule.state_dict(),
        "rng": rng_state(run.shuffle, run.device),
        "history": [dict(row) for row in history],
    }


def restore(run: TrainingRun, state: dict[str, Any]) -> tuple[int, list[dict[str, float]]]:
    """Load a checkpoint into ``run``; returns its completed epochs and their metrics."""
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"], run.shuffle)
    return int(state["epoch"]), [dict(row) for row in state["history"]]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, read with ``weights_only=True``; a damaged or
    foreign file is one line naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ScalesearchError(
            f"{path}: not a readable checkpoint ({reason[:200]}); move it away to start over"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ScalesearchError(
            f"{path}: not a scalesearch training checkpoint of format {FORMAT} (found {found}); "
            "move it away to start over"
        )
    return state
