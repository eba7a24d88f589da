"""Our domains ↔ Ray Tune search spaces: the round trip keeps steps, logs, choices, grids and conditions."""

from __future__ import annotations

import collections
import statistics

import numpy as np
import pytest
from ray.tune.search import sample as ts
from ray.tune.search.variant_generator import generate_variants

from scalesearch.errors import ExperimentError
from scalesearch.experiment import SearchSpace
from scalesearch.search import tune_space
from scalesearch.space import Choice, Constraint, Float, Int

DOMAINS = {
    "int": Int(1, 12),
    "int_step_offset": Int(3, 11, step=2),  # Tune's qrandint would give multiples of 2
    "int_log": Int(1, 1024, log=True),
    "int_log_step": Int(4, 256, step=4, log=True),
    "float": Float(0.0, 0.9),
    "float_log": Float(1e-4, 1e-1, log=True),
    "float_step": Float(1.0, 1.4, step=0.1),
    "choice_int": Choice((10, 16, 22, 28)),
    "choice_mixed": Choice(("a", 2, 0.5, True)),
}


@pytest.mark.parametrize("name", list(DOMAINS))
def test_round_trip_gives_back_the_same_domain(name):
    domain = DOMAINS[name]
    assert tune_space.domain_from_tune(name, tune_space.domain_to_tune(name, domain)) == domain


@pytest.mark.parametrize("name", list(DOMAINS))
def test_every_sample_is_valid_in_our_domain(name):
    domain = DOMAINS[name]
    tune = tune_space.domain_to_tune(name, domain)
    space = {name: tune}
    rng = np.random.default_rng(0)
    drawn = [tune_space.sample(space, rng)[name] for _ in range(400)]
    drawn += [tune.sample() for _ in range(50)]  # Tune's own sampling path (global numpy state)
    for value in drawn:
        checked = domain.check(name, tune_space._py(value))
        assert checked == value and type(tune_space._py(value)) is type(checked), (value, checked)
    if isinstance(domain, (Choice, Int)) or (isinstance(domain, Float) and domain.step):
        assert set(drawn) <= set(domain.values())


def test_steps_keep_their_offset_and_weight_both_ends_fully():
    rng = np.random.default_rng(1)
    space = {"x": tune_space.domain_to_tune("x", Int(3, 11, step=2))}
    counts = collections.Counter(tune_space.sample(space, rng)["x"] for _ in range(5000))
    assert set(counts) == {3, 5, 7, 9, 11}
    assert min(counts.values()) > 0.8 * 1000  # uniform over the grid, ends included
    floats = {"f": tune_space.domain_to_tune("f", Float(1.0, 1.4, step=0.1))}
    assert {tune_space.sample(floats, rng)["f"] for _ in range(500)} == {1.0, 1.1, 1.2, 1.3, 1.4}


def test_log_domains_sample_log_uniformly():
    rng = np.random.default_rng(2)
    ints = {"n": tune_space.domain_to_tune("n", Int(1, 1024, log=True))}
    floats = {"lr": tune_space.domain_to_tune("lr", Float(1e-4, 1e-1, log=True))}
    assert statistics.median(tune_space.sample(ints, rng)["n"] for _ in range(2000)) < 80  # uniform: ~512
    lrs = [tune_space.sample(floats, rng)["lr"] for _ in range(2000)]
    assert 1e-3 < statistics.median(lrs) < 1e-2 and min(lrs) >= 1e-4 and max(lrs) <= 1e-1


def test_choices_come_back_as_the_original_objects():
    rng = np.random.default_rng(3)
    space = {"c": tune_space.domain_to_tune("c", Choice((True, False)))}
    values = {tune_space.sample(space, rng)["c"] for _ in range(50)}
    assert values == {True, False} and all(type(v) is bool for v in values)


def test_grid_points_are_the_constrained_grid():
    space = SearchSpace(
        family="wrn",
        search={"widen_factor": Int(1, 8), "depth": Choice((10, 16, 22))},
        constraints=(
            Constraint(
                "widen_factor * depth <= 60",
                ("widen_factor", "depth"),
                lambda v: v["widen_factor"] * v["depth"] <= 60,
            ),
        ),
    )
    assert tune_space.grid_points(space) == space.grid()
    assert len(space.grid()) < 8 * 3
    assert tune_space.grid_points(space, 4) == space.grid()[:4]


def test_whole_space_round_trip_and_tune_resolves_it():
    space = SearchSpace(
        family="wrn",
        search={
            "widen_factor": Int(1, 12, step=2),
            "depth": Choice((10, 16)),
            "dropout": Float(0.0, 0.3, step=0.1),
        },
    )
    param_space = tune_space.to_tune(space)
    domains, whens = tune_space.from_tune(param_space)
    assert domains == dict(space.search) and whens == {}
    for _, config in generate_variants(param_space):  # Tune's own variant generator
        values = tune_space.to_values(space, config)
        assert space.values_to_point(values, {"resolution": 32, "num_classes": 10})["widen_factor"] % 2 == 1


def densenet_space(**fixed) -> SearchSpace:
    return SearchSpace(
        family="densenet",
        fixed=fixed,
        search={
            "form": Choice(("imagenet", "cifar")),
            "depth": Int(40, 100, step=6),
            "growth_rate": Int(8, 32, step=4),
        },
    )


def test_conditional_parameter_is_drawn_only_when_active():
    space = densenet_space()
    param_space = tune_space.to_tune(space)
    assert isinstance(param_space["depth"], ts.Function)
    domains, whens = tune_space.from_tune(param_space)
    assert domains == dict(space.search) and whens == {"depth": {"form": ("cifar",)}}
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(60):
        config = tune_space.sample(param_space, rng)
        assert (config["depth"] is None) == (config["form"] == "imagenet")
        values = tune_space.to_values(space, config)
        assert ("depth" in values) == (config["form"] == "cifar")
        point = space.values_to_point(values, {"resolution": 32, "num_classes": 10})
        seen.add(point["form"])
    assert seen == {"imagenet", "cifar"}
    for _, config in generate_variants(param_space):
        assert (config["depth"] is None) == (config["form"] == "imagenet")


def test_conditions_see_fixed_values():
    space = SearchSpace(
        family="densenet",
        fixed={"form": "imagenet"},
        search={"depth": Int(40, 100, step=6), "growth_rate": Int(8, 32, step=4)},
    )
    assert not tune_space.is_active(space, "depth", {})
    config = tune_space.sample(tune_space.to_tune(space), np.random.default_rng(5))
    assert config["depth"] is None and "depth" not in tune_space.to_values(space, config)
    assert tune_space.is_active(densenet_space(), "depth", {"form": "cifar"})
    assert not tune_space.is_active(densenet_space(), "depth", {"form": "imagenet"})


def test_lossy_tune_domains_are_refused_not_approximated():
    with pytest.raises(ExperimentError, match="no exact scalesearch equivalent"):
        tune_space.domain_from_tune("x", ts.qrandint(2, 10, 2))


def test_bad_config_values_are_named():
    space = SearchSpace(family="wrn", search={"widen_factor": Int(1, 4)})
    with pytest.raises(ExperimentError, match="no value for widen_factor"):
        tune_space.to_values(space, {})
    with pytest.raises(Exception, match="widen_factor"):
        tune_space.to_values(space, {"widen_factor": 9})
