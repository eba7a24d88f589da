"""Every experiment file loads, validates, and derives a valid family point for its first candidate
(no training): a broken experiment file fails here, not in a user's first run."""

from __future__ import annotations

import random

import pytest

from scalesearch.experiment import load_experiment
from scalesearch.registry import get_family
from tests.helpers import ROOT

FILES = sorted((ROOT / "experiments").glob("*.py"))


def test_there_is_an_experiment_per_new_family() -> None:
    names = {f.stem for f in FILES}
    assert {"efficientnet_grid", "xception_middle_flow", "res2net_scale_width", "scaling_rules"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_experiment_loads_and_derives_a_valid_point(path) -> None:
    exp = load_experiment(path)
    run_level = {"resolution": exp.evaluation.resolution, "num_classes": 10}
    for stage in exp.all_stages():
        if stage.fix_from is not None:  # its values come from an earlier stage's best trial
            continue
        space = stage.space
        candidate = space.grid()[0] if stage.strategy == "grid" else space.sample(random.Random(0))
        point = space.values_to_point(candidate, run_level)
        fam = get_family(space.family)
        assert fam.space.is_valid(point), (stage.name, candidate)
        assert fam.complexity(point).params > 0
