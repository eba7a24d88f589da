"""Conformance suite over every family: canonical counts equal the references, the analytic path
equals fvcore exactly, forward passes have the right shape, random valid points build and run,
invalid points raise the documented error."""

from __future__ import annotations

import os
import random

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from scalesearch.registry import families, get_family
from scalesearch.space import Choice, Float, Int, IntList

FAMILIES = [f.name for f in families()]
CANONICAL = [(f.name, c.name) for f in families() for c in f.canonical]

# Small networks that still exercise every rule of each family (strides, groups, rounding,
# transitions, SE, skipped expansions), so fvcore traces stay fast.
SMALL = {
    "resnet": {
        "layers": Choice(((1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 1, 2), (2, 2, 2, 2))),
        "block": Choice(("basic", "bottleneck", "bottleneck")),
        "cardinality": Choice((1, 2, 3, 4, 8)), "bottleneck_width": Int(1, 16),
        "resolution": Choice((8, 17, 32, 40)), "num_classes": Int(2, 20),
    },
    "wrn": {"depth": Choice((10, 16)), "widen_factor": Int(1, 4), "resolution": Choice((8, 16, 27, 32)),
            "num_classes": Int(2, 20)},
    "densenet": {
        "form": Choice(("imagenet", "cifar")), "growth_rate": Int(2, 16),
        "bn_size": Int(1, 4), "compression": Float(0.3, 1.0, step=0.1),
        "resolution": Choice((32, 48, 64)), "num_classes": Int(2, 20),
    },
    "mbconv": {"width_mult": Float(0.1, 1.0, step=0.05), "depth_mult": Float(0.1, 0.4, step=0.1),
               "expand_ratio": Float(1.0, 6.0, step=0.5), "resolution": Choice((32, 40, 48)),
               "num_classes": Int(2, 20)},
    "efficientnet": {"width_mult": Float(0.1, 1.0, step=0.05), "depth_mult": Float(0.1, 0.4, step=0.1),
                     "resolution": Choice((32, 45, 48)), "num_classes": Int(2, 20)},
}
SMALL_FIXED = {"densenet": {"block_config": None, "num_init_features": None}}
N_RANDOM = int(os.environ.get("SCALESEARCH_EQUALITY_POINTS", "200"))


def small_point(family: str, rng: random.Random) -> dict:
    fam = get_family(family)
    domains = dict(SMALL[family])
    values = {}
    if family == "densenet":
        if domains["form"].sample(rng) == "cifar":
            domains.pop("form")
            values = {"form": "cifar", "depth": rng.choice((10, 16, 22))}
        else:
            domains.pop("form")
            values = {"form": "imagenet", "block_config": rng.choice(([1, 1, 1, 1], [2, 1, 2, 1], [1, 2, 3])),
                      "num_init_features": rng.randint(4, 32)}
    point = fam.space.sample(rng, domains, values)
    return point


@pytest.mark.parametrize(("family", "name"), CANONICAL)
def test_canonical_counts_equal_reference(family, name):
    fam = get_family(family)
    c = next(c for c in fam.canonical if c.name == name)
    counts = fam.complexity(c.values)
    ref = c.reference
    if ref.params is not None:
        assert counts.params == ref.params
    if ref.flops is not None:
        assert counts.flops == ref.flops
    if ref.params is None:  # no reference implementation: the paper's table at its printed precision
        digits = len(ref.paper_params.rstrip("M").split(".")[1]) if "." in ref.paper_params else 0
        assert f"{counts.params / 1e6:.{digits}f}M" == ref.paper_params
    assert ref.params is not None or ref.paper_params is not None
    assert ref.source


@pytest.mark.parametrize("family", FAMILIES)
def test_analytic_equals_fvcore_on_random_points(family):
    rng = random.Random(f"equality-{family}")
    fam = get_family(family)
    for _ in range(N_RANDOM):
        point = small_point(family, rng)
        model = fam.build(point)
        exact = count(model, point["resolution"])
        fast = fam.complexity(point)
        assert (fast.params, fast.flops, fast.activations) == (exact.params, exact.flops, exact.activations), point


@pytest.mark.parametrize("family", FAMILIES)
def test_random_valid_points_build_and_run(family):
    rng = random.Random(f"forward-{family}")
    fam = get_family(family)
    for _ in range(3):
        point = small_point(family, rng)
        model = fam.build(point).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, point["resolution"], point["resolution"]))
        assert out.shape == (2, point["num_classes"])


@pytest.mark.parametrize("family", FAMILIES)
def test_default_point_forward_shape_at_small_resolution(family):
    fam = get_family(family)
    low = fam.space.param("resolution").domain.low
    point = fam.point(resolution=max(32, low), num_classes=7)
    with torch.no_grad():
        assert fam.build(point).eval()(torch.randn(2, 3, point["resolution"], point["resolution"])).shape == (2, 7)


@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_points_raise_point_error(family):
    fam = get_family(family)
    with pytest.raises(PointError, match=f"{family} has no parameter 'bogus'; valid parameters: "):
        fam.point(bogus=1)
    with pytest.raises(PointError, match="resolution must be an int in"):
        fam.point(resolution=0)
    with pytest.raises(PointError, match="num_classes must be an integer"):
        fam.point(num_classes=2.5)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_parameter_is_documented_and_has_a_valid_default(family):
    fam = get_family(family)
    fam.point()  # defaults form a valid point
    for p in fam.space.params:
        assert p.help, f"{family}.{p.name} has no help text"
        assert not isinstance(p.domain, IntList) or p.search is None
