"""Shared fixtures: every test gets its own latency cache and data directory.

Under pytest-xdist (two workers: pyproject's addopts) each worker, and every process it starts,
runs torch on one thread: two workers with torch's default threads each would oversubscribe
the two cores and slow each other down several times.
"""

from __future__ import annotations

import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALESEARCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
