"""Shared fixtures: every test gets its own latency cache and data directory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALESEARCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
