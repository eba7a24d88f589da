"""The torch-free modules stay torch-free: budgets, metrics and the analysis of runs."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "scalesearch",
        "scalesearch.metrics",
        "scalesearch.verdict.budget",
        "scalesearch.analysis.pareto",
        "scalesearch.analysis.results",
        "scalesearch.cli.main",
    ],
)
def test_module_imports_without_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"importing {module} imports torch"


def test_every_cost_and_training_metric_has_a_direction_and_label() -> None:
    from scalesearch.metrics import COST_METRICS, DIRECTIONS, METRICS, TRAINING_METRICS, direction

    for name in (*COST_METRICS, *TRAINING_METRICS):
        assert DIRECTIONS[name] in ("max", "min") and METRICS[name].label
    assert direction("maximize") == "max" and direction("Minimise") == "min" and direction("up") is None
