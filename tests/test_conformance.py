"""Conformance suite over every registered family: canonical counts equal the references, the
analytic path equals fvcore exactly, forward passes have the right shape, random valid points
build and run, invalid points raise the documented error.

Each check is a function of a :class:`Family`, so a family added anywhere (a new module in
``searchspaces/``, an entry point, ``register_family``) runs here with no edit: the tests below
are parametrised from the registry, and :func:`check_family` runs every check on one family.
"""

from __future__ import annotations

import os
import random

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from scalesearch.family import Canonical, Family
from scalesearch.registry import families, get_family
from scalesearch.space import Int, IntList

FAMILIES = [f.name for f in families()]
CANONICAL = [pytest.param(f.name, c, id=c.name) for f in families() for c in f.canonical]
N_RANDOM = int(os.environ.get("SCALESEARCH_EQUALITY_POINTS", "0"))
"""Random points per family for analytic == fvcore; 0: each family's own ``test_points``."""


def check_canonical_counts(fam: Family, c: Canonical) -> None:
    """Analytic counts equal the reference's exact figures, or the paper's at its printed
    precision; the built network (on the meta device: no weights allocated) has those params."""
    counts = fam.complexity(c.values)
    ref = c.reference
    assert ref.source and (ref.params is not None or ref.paper_params is not None), c
    if ref.params is not None:
        assert counts.params == ref.params
    if ref.flops is not None:
        assert counts.flops == ref.flops
    if ref.params is None and ref.paper_params is not None:
        digits = len(ref.paper_params.rstrip("M").split(".")[1]) if "." in ref.paper_params else 0
        assert f"{counts.params / 1e6:.{digits}f}M" == ref.paper_params
    with torch.device("meta"):
        assert sum(p.numel() for p in fam.build(c.values).parameters()) == counts.params


def check_analytic_equals_fvcore(fam: Family, n: int) -> None:
    rng = random.Random(f"equality-{fam.name}")
    for _ in range(n):
        point = fam.small_point(rng)
        exact = count(fam.build(point), point["resolution"], fam.input_channels(point))
        fast = fam.complexity(point)
        assert (fast.params, fast.flops, fast.activations) == (
            exact.params,
            exact.flops,
            exact.activations,
        ), point


def check_random_points_run(fam: Family, n: int = 3) -> None:
    rng = random.Random(f"forward-{fam.name}")
    for _ in range(n):
        point = fam.small_point(rng)
        model = fam.build(point).eval()
        with torch.no_grad():
            out = model(torch.randn(2, fam.input_channels(point), point["resolution"], point["resolution"]))
        assert out.shape == (2, point["num_classes"])


def check_default_point_forward(fam: Family) -> None:
    resolution = fam.space.param("resolution").domain
    assert isinstance(resolution, Int), f"{fam.name}: resolution must be an Int domain"
    point = fam.point(resolution=max(32, resolution.low), num_classes=7)
    with torch.no_grad():
        size = point["resolution"]
        out = fam.build(point).eval()(torch.randn(2, fam.input_channels(point), size, size))
    assert out.shape == (2, 7)


def check_invalid_points(fam: Family) -> None:
    with pytest.raises(PointError, match=f"{fam.name} has no parameter 'bogus'; valid parameters: "):
        fam.point(bogus=1)
    with pytest.raises(PointError, match="resolution must be an int in"):
        fam.point(resolution=0)
    with pytest.raises(PointError, match="num_classes must be an integer"):
        fam.point(num_classes=2.5)


def check_spec(fam: Family) -> None:
    """Defaults form a valid point, every parameter is documented, the suite has test domains."""
    fam.point()
    for p in fam.space.params:
        assert p.help, f"{fam.name}.{p.name} has no help text"
        assert not isinstance(p.domain, IntList) or p.search is None
    assert fam.test_domains, f"{fam.name} declares no test_domains for the conformance suite"
    assert fam.canonical, f"{fam.name} declares no canonical network"


def check_family(fam: Family, n_random: int = 0) -> None:
    """Every check of this suite on one family."""
    check_spec(fam)
    for c in fam.canonical:
        check_canonical_counts(fam, c)
    check_analytic_equals_fvcore(fam, n_random or N_RANDOM or fam.test_points)
    check_random_points_run(fam)
    check_default_point_forward(fam)
    check_invalid_points(fam)


@pytest.mark.parametrize(("family", "canonical"), CANONICAL)
def test_canonical_counts_equal_reference(family: str, canonical: Canonical) -> None:
    check_canonical_counts(get_family(family), canonical)


@pytest.mark.parametrize("family", FAMILIES)
def test_analytic_equals_fvcore_on_random_points(family: str) -> None:
    fam = get_family(family)
    check_analytic_equals_fvcore(fam, N_RANDOM or fam.test_points)


@pytest.mark.parametrize("family", FAMILIES)
def test_random_valid_points_build_and_run(family: str) -> None:
    check_random_points_run(get_family(family))


@pytest.mark.parametrize("family", FAMILIES)
def test_default_point_forward_shape_at_small_resolution(family: str) -> None:
    check_default_point_forward(get_family(family))


@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_points_raise_point_error(family: str) -> None:
    check_invalid_points(get_family(family))


@pytest.mark.parametrize("family", FAMILIES)
def test_spec_is_documented_and_testable(family: str) -> None:
    check_spec(get_family(family))
