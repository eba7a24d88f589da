"""Checkpoints: weights-only loadable, every generator restored, and a real SIGKILL then resume ends
with the metrics of an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from scalesearch.cli.main import main
from scalesearch.errors import ScalesearchError
from scalesearch.train import checkpoint

ROOT = Path(__file__).parents[2]
TINY = [
    "mobilenet_v1",
    "width_mult=0.1",
    "depth_mult=0.1",
    *("--set", "epochs=3", "--set", "max_batches_per_epoch=3", "--set", "batch_size=16"),
    *("--set", "lr=0.2", "--set", "threads=1", "--set", "device=cpu", "--set", "seed=5"),
]
CHILD = """
import sys, threading
import scalesearch.train.checkpoint as c
from scalesearch.cli.main import main
save = c.save_checkpoint
def save_then_hang(path, state):
    save(path, state)
    threading.Event().wait()  # as if the next epoch never ended: the test kills this process here
c.save_checkpoint = save_then_hang
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _draws(shuffle: torch.Generator) -> list[float]:
    return [
        *torch.rand(2).tolist(),
        *np.random.rand(2).tolist(),
        random.random(),
        *torch.randperm(5, generator=shuffle).tolist(),
    ]


def test_generators_come_back_from_a_weights_only_load(tmp_path: Path) -> None:
    shuffle = torch.Generator().manual_seed(3)
    np.random.normal()  # numpy's cached gaussian is part of its state
    state = {"format": checkpoint.FORMAT, "rng": checkpoint.rng_state(shuffle, torch.device("cpu"))}
    expected = _draws(shuffle)
    checkpoint.save_checkpoint(tmp_path / "c.pt", state)
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    checkpoint.set_rng_state(loaded["rng"], shuffle)
    assert _draws(shuffle) == expected


def test_a_damaged_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ScalesearchError, match="not a readable checkpoint") as err:
        checkpoint.load_checkpoint(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in csv.DictReader(f)]


def _kill_after_first_checkpoint(out: Path) -> None:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    with (out.parent / "child.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, "train", *TINY, "--out", str(out)], cwd=ROOT, env=env, stderr=log
        )
        deadline = time.monotonic() + 180
        try:
            while not (out / "checkpoint.pt").exists():
                assert proc.poll() is None, (out.parent / "child.log").read_text()
                assert time.monotonic() < deadline, "no checkpoint within the deadline"
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (out / "summary.json").exists()


def test_sigkill_then_the_same_command_ends_like_an_uninterrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    _kill_after_first_checkpoint(killed)

    assert main(["train", *TINY, "--out", str(killed)]) == 0
    assert "resuming from epoch 1/3" in capsys.readouterr().err
    assert main(["train", *TINY, "--out", str(whole)]) == 0

    assert len(_rows(whole)) == 3
    assert _rows(killed) == _rows(whole)
    resumed, uninterrupted = (json.loads((d / "summary.json").read_text()) for d in (killed, whole))
    for key in ("accuracy", "val_loss", "train_loss", "epochs", "params", "flops"):
        assert resumed[key] == uninterrupted[key], key
    final = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert final["epoch"] == 3 and len(final["history"]) == 3
