import json
import random

import pytest

from scalesearch.errors import PointError
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Space, point_key

SPACE = Space(
    "toy",
    (
        Param("depth", Int(10, 100), 28, search=Choice((10, 16, 22))),
        Param("k", Float(0.5, 4.0, step=0.5), 1.0, search=Float(0.5, 2.0, step=0.5)),
        Param("act", Choice(("relu", "silu")), "relu"),
        Param("blocks", IntList(1, 64, 1, 4), [1, 2]),
        Param("slope", Float(0.0, 1.0), 0.1, when={"act": ("relu",)}),
    ),
    constraints=(Constraint("depth must be 6N+4", ("depth",), lambda p: p["depth"] % 6 == 4),),
)


def test_complete_fills_defaults_and_round_trips_json():
    p = SPACE.complete({"depth": 16, "blocks": (3, 4)})
    assert p == {"depth": 16, "k": 1.0, "act": "relu", "blocks": [3, 4], "slope": 0.1}
    assert json.loads(json.dumps(p)) == p
    assert point_key(p) == point_key(json.loads(json.dumps(p)))


def test_conditional_parameter_is_dropped_when_inactive():
    assert SPACE.complete({"act": "silu"})["slope"] is None


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"depth": 27}, "depth must be 6N+4, but got depth=27"),
        ({"depth": 5}, "depth must be an int in [10, 100], but got depth=5"),
        ({"k": 0.7}, "k must be a float in [0.5, 4.0], step 0.5, but got k=0.7"),
        ({"act": "gelu"}, "act must be one of {relu, silu}, but got act=gelu"),
        ({"blocks": [1, 99]}, "blocks must be a list of 1 to 4 integers in [1, 64]"),
        ({"nope": 1}, "toy has no parameter 'nope'; valid parameters: depth, k, act, blocks, slope"),
        ({"depth": True}, "depth must be an integer"),
    ],
)
def test_invalid_points_name_the_rule_and_value(values, text):
    with pytest.raises(PointError, match=None) as err:
        SPACE.complete(values)
    assert text in str(err.value)


def test_parse_command_line_values():
    assert SPACE.parse(["depth=22", "k=1.5", "blocks=6,12,24", "act=silu"]) == {
        "depth": 22,
        "k": 1.5,
        "blocks": [6, 12, 24],
        "act": "silu",
    }
    with pytest.raises(PointError, match="key=value"):
        SPACE.parse(["depth"])
    with pytest.raises(PointError, match="depth must be an integer"):
        SPACE.parse(["depth=abc"])


def test_sample_respects_search_domains_and_constraints():
    rng = random.Random(0)
    domains = SPACE.search_domains()
    assert set(domains) == {"depth", "k"}
    for _ in range(50):
        p = SPACE.sample(rng, domains)
        assert p["depth"] in (10, 16, 22) and p["k"] in (0.5, 1.0, 1.5, 2.0)


def test_sample_gives_up_on_an_empty_space_instead_of_spinning():
    with pytest.raises(PointError, match="no valid point in 20 random draws"):
        SPACE.sample(random.Random(0), {"depth": Choice((11, 12))}, max_tries=20)


def test_grid_skips_invalid_combinations():
    pts = SPACE.grid({"depth": [10, 11, 16], "k": [1.0, 2.0]})
    assert [(p["depth"], p["k"]) for p in pts] == [(10, 1.0), (10, 2.0), (16, 1.0), (16, 2.0)]


def test_domain_errors_state_the_invariant():
    with pytest.raises(ValueError, match="`low <= high` must hold, but got low=3, high=1"):
        Int(3, 1)
    assert Int(1, 10, step=3).values() == [1, 4, 7, 10]
    assert Float(1.0, 1.3, step=0.1).values() == [1.0, 1.1, 1.2, 1.3]


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ("depth=nan", "depth must be a finite integer"),
        ("depth=inf", "depth must be a finite integer"),
        ("depth=1e400", "but got depth=1e400"),
        ("k=nan", "k must be a finite number"),
        ("k=-inf", "k must be a finite number"),
        ("depth=none", "depth is not derived, so it cannot be none"),
        ("blocks=6,,12", "but got blocks=6,,12"),
        ("blocks=6,", "but got blocks=6,"),
        ("blocks=", "but got blocks="),
    ],
)
def test_values_that_parse_but_cannot_be_used_are_errors(item, text):
    with pytest.raises(PointError) as err:
        SPACE.parse([item])
    assert text in str(err.value)


def test_contradictory_duplicates_are_errors_and_equal_ones_are_not():
    with pytest.raises(PointError, match="depth is given twice with different values: depth=16 and depth=22"):
        SPACE.parse(["depth=16", "depth=22"])
    assert SPACE.parse(["depth=16", "depth=16.0"]) == {"depth": 16}


def test_none_is_for_conditional_parameters_only():
    assert SPACE.parse(["slope=none"]) == {"slope": None}  # switched off by `act`, may be none
    with pytest.raises(PointError, match="depth is not derived"):
        SPACE.complete({"depth": None})
    point = SPACE.complete({"act": "silu"})
    assert SPACE.complete(point) == point  # a completed point (slope=None) completes again
