"""The rules' exponents (as the papers write them) and the knobs' rounding, without counting anything."""

import math

import pytest

from scalesearch.errors import UsageError
from scalesearch.registry import get_family
from scalesearch.scaling import KNOBS, RULES, Knob, dollar, get_rule, knobs_of
from scalesearch.scaling.knobs import derived_knobs


@pytest.mark.parametrize("name", list(RULES))
def test_every_rule_spends_the_flops_it_names(name):
    e_d, e_w, e_r = RULES[name].exponents
    assert e_d + 2 * e_w + 2 * e_r == pytest.approx(1.0)
    t = 3.7
    d, w, r = RULES[name].multipliers(t)
    assert d * w**2 * r**2 == pytest.approx(t)


def test_dollar_family_exponents_and_activations():
    assert RULES["fast"].exponents == pytest.approx((0.1, 0.4, 0.05))  # alpha = 0.8
    assert RULES["fast"].activation_exponent == pytest.approx(0.6)
    d, w, r = RULES["uniform"].multipliers(8.0)  # alpha = 1/3: d, w² and r² grow alike
    assert d == pytest.approx(w**2) == pytest.approx(r**2) == pytest.approx(2.0)
    assert RULES["uniform"].activation_exponent == pytest.approx(5 / 6)
    assert dollar(0.5).exponents == pytest.approx((0.25, 0.25, 0.125))


def test_compound_follows_efficientnet_coefficients():
    phi = 2.0
    t = (1.2 * 1.1**2 * 1.15**2) ** phi  # alpha beta² gamma² = 1.92 per unit phi
    assert RULES["compound"].multipliers(t) == pytest.approx((1.2**phi, 1.1**phi, 1.15**phi))


def test_resnet_rs_grows_depth_and_resolution_not_width():
    e_d, e_w, e_r = RULES["resnet_rs"].exponents
    assert e_w == 0 and e_r == pytest.approx(RULES["compound"].exponents[2] / 2)
    assert RULES["resnet_rs"].dimensions == ("depth", "resolution")


def test_single_dimension_rules():
    assert RULES["depth"].multipliers(2.0) == pytest.approx((2.0, 1.0, 1.0))
    assert RULES["width"].multipliers(2.0) == pytest.approx((1.0, math.sqrt(2), 1.0))
    assert RULES["resolution"].dimensions == ("resolution",)


def test_get_rule_errors_are_one_line():
    with pytest.raises(UsageError, match="unknown scaling rule 'fastest'; known rules: compound, fast"):
        get_rule("fastest")
    with pytest.raises(UsageError, match="--alpha applies to the fast and uniform rules only"):
        get_rule("depth", alpha=0.5)
    with pytest.raises(UsageError, match=r"alpha must be in \[0, 1\]"):
        get_rule("fast", alpha=1.5)
    assert get_rule("fast", alpha=0.6).exponents == pytest.approx((0.2, 0.3, 0.1))


def test_knob_rounding():
    assert Knob("depth_mult").apply(0.5, 1.23456) == 0.6173
    assert Knob("resolution", "int").apply(64, 1.16) == 74
    assert Knob("w0", "int", step=8).apply(48, 1.3) == 64
    assert Knob("layers", "depths").apply([3, 4, 0, 3], 1.5) == [5, 6, 0, 5]  # ceil; 0 stays out
    assert Knob("layers", "depths").apply([3, 4, 6, 3], 2.0) == [6, 8, 12, 6]  # no float noise
    assert Knob("dims", "widths", step=8).apply([96, 192], 1.1) == [104, 208]
    assert Knob("depth", "6n+4").apply(28, 2.0) == 52
    with pytest.raises(ValueError, match="knob kind must be one of"):
        Knob("x", "cubic")


def test_knobs_name_family_parameters():
    for name, knobs in KNOBS.items():
        params = get_family(name).space.names
        assert all(k.param in params for ks in knobs.values() for k in ks), name


def test_knobs_derive_from_parameter_names():
    fam = get_family("efficientnet")
    assert derived_knobs(fam) == knobs_of(fam)
    assert set(derived_knobs(get_family("mobilenet_v3"))) == {"width", "resolution"}
