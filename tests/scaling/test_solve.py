"""Scaling lands within 5 % of s x the base FLOPs by the exact counts (analytic; one fvcore check)."""

import pytest

from scalesearch.registry import get_family
from scalesearch.scaling import KNOBS, RULES, TOLERANCE, ScalingError, check_applies, scale
from searchspaces.efficientnet import compound_scaling

SMALL_B0 = {"width_mult": 0.4, "depth_mult": 0.7, "resolution": 64, "num_classes": 10}
"""The experiment's base: every rule lands within 5 % at s = 2 and 4."""


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("rule", list(RULES))
def test_every_rule_hits_the_factor_on_a_small_b0(rule, factor):
    result = scale("efficientnet", SMALL_B0, RULES[rule], factor)
    assert abs(result.ratio() / factor - 1) <= TOLERANCE
    assert result.counts == get_family("efficientnet").complexity(result.point)
    moved = {p for p in ("depth_mult", "width_mult", "resolution") if result.point[p] != SMALL_B0[p]}
    knob = {"depth": "depth_mult", "width": "width_mult", "resolution": "resolution"}
    assert moved <= {knob[d] for d in RULES[rule].dimensions}


def test_nominal_compound_exponents_overshoot_where_the_solver_does_not():
    """At 32 px one pixel takes the last maps from 1x1 to 2x2: phi = 1 costs ~2.9x, not ~2x."""
    fam = get_family("efficientnet")
    base = {"width_mult": 0.5, "depth_mult": 0.5, "resolution": 32, "num_classes": 10}
    nominal = compound_scaling(1.0, base_resolution=32)
    nominal = {
        **base,
        **nominal,
        "width_mult": 0.5 * nominal["width_mult"],
        "depth_mult": 0.5 * nominal["depth_mult"],
    }
    overshoot = fam.complexity(nominal).flops / fam.complexity(base).flops
    assert overshoot > 2.5
    result = scale(fam, base, RULES["compound"], 2)
    assert abs(result.ratio() / 2 - 1) <= TOLERANCE
    assert result.off_path and result.point["resolution"] == 32  # dimensions rounded one by one
    assert result.as_dict()["off_path"] is True


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_every_family_with_knobs_scales(name):
    fam = get_family(name)
    knobs = set(KNOBS[name])
    rule = (
        RULES["fast"]
        if "depth" in knobs and "width" in knobs
        else RULES["width" if "width" in knobs else "depth"]
    )
    result = scale(fam, {}, rule, 2)
    assert abs(result.ratio() / 2 - 1) <= TOLERANCE


def test_scaling_down_and_the_identity():
    down = scale("efficientnet", {}, RULES["fast"], 0.5)
    assert abs(down.ratio() / 0.5 - 1) <= TOLERANCE and down.point["width_mult"] < 1
    same = scale("efficientnet", SMALL_B0, RULES["compound"], 1)
    assert same.point == same.base and same.ratio() == 1


def test_a_rule_refuses_a_family_without_its_knob():
    with pytest.raises(ScalingError) as err:
        check_applies(get_family("mobilenet_v3"), RULES["compound"])
    assert str(err.value) == (
        "rule compound scales depth, width, resolution, but family mobilenet_v3 has no depth knob "
        "(its knobs: width=width_mult, resolution=resolution)"
    )


def test_errors_say_why_no_point_lands():
    with pytest.raises(
        ScalingError, match=r"reaches at best 2\.\d+x .* not within 5% \(the family's rounding"
    ):
        scale("wrn", {}, RULES["resolution"], 2)  # 45 px costs 2.10x, 44 px 1.89x
    with pytest.raises(ScalingError, match="past the family's domain: modules must be"):
        scale("inception_resnet_v2", {}, RULES["depth"], 2)
    with pytest.raises(ScalingError, match="must be a positive number"):
        scale("efficientnet", {}, RULES["depth"], -1)


def test_scaled_counts_equal_fvcore():
    from scalesearch.cost.fvcore_count import count

    fam = get_family("efficientnet")
    result = scale(fam, {**SMALL_B0, "resolution": 32}, RULES["fast"], 2)
    exact = count(fam.build(result.point), result.point["resolution"])
    assert (exact.params, exact.flops) == (result.counts.params, result.counts.flops)
