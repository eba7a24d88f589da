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


SLOW_FILES_FIRST = (
    "tests/search/test_ray_cluster.py",
    "tests/test_notebooks.py",
    "tests/test_conformance.py",
)
"""The longest files, collected first so pytest-xdist hands them out first: the Ray cluster file alone
takes about 4 minutes, and started last it would leave the other worker idle for as long."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOW_FILES_FIRST.index(path) if path in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)

    items.sort(key=rank)  # stable: the order within each file and among the others is kept
