"""What every family test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """fvcore traces many tiny convolutions: one intra-op thread avoids OpenMP spin-waits that make
    them 10-50x slower on a busy 2-core machine (under pytest-xdist each worker has one already)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
