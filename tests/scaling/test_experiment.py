"""experiments/scaling_rules.py derives equal-FLOPs networks and summarises them, without training."""

import pandas as pd

from scalesearch.experiment import load_experiment
from scalesearch.registry import get_family
from tests.helpers import ROOT


def test_scaling_rules_experiment_compares_rules_at_equal_flops():
    exp = load_experiment(ROOT / "experiments" / "scaling_rules.py")
    assert len(exp.all_stages()[0].space.grid()) == 6  # the default: the base and five rules at 2x
    exp.options["factors"] = "2,4"
    space = exp.all_stages()[0].space
    grid = space.grid()
    assert len(grid) == 11 and sum(v["rule"] == "base" for v in grid) == 1
    fam = get_family("efficientnet")
    run_level = {"resolution": exp.evaluation.resolution, "num_classes": 10}
    points = [space.values_to_point(v, run_level) for v in grid]
    base = fam.complexity(points[[v["rule"] for v in grid].index("base")]).flops
    for v, p in zip(grid, points, strict=True):
        assert abs(fam.complexity(p).flops / (base * v["factor"]) - 1) <= 0.05, v
    results = pd.DataFrame(
        {"values": grid, "point": points, "accuracy": [0.9] * len(grid), "state": ["COMPLETE"] * len(grid)}
    )
    text = exp.summarize(results, exp)
    assert "flops_x" in text and "acts_x" in text and "accuracy" in text
    assert text.splitlines()[0].startswith("base: efficientnet width 0.4, depth 0.7 at 64 px")
