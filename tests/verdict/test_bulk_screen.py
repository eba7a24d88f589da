"""Fast screening (issue 14, item 5): the bulk path draws the same points and gives the same counts
as the point-by-point path (``space.sample`` then ``cost_of``), on every family."""

from __future__ import annotations

import random
from typing import Any

import pytest

from scalesearch.cost.analytic import Counts, Tally, counts_only
from scalesearch.cost.record import METRICS, cost_of
from scalesearch.errors import PointError
from scalesearch.family import Family
from scalesearch.registry import families, get_family
from scalesearch.space import Choice, Domain, Float, Int, IntList, Param, Point, Space
from scalesearch.space.sampling import Sampler
from scalesearch.verdict import bulk
from scalesearch.verdict.budget import parse_budget
from scalesearch.verdict.screen import screen, screened_points


@pytest.fixture(autouse=True)
def _always_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share a walk whenever a structure has 3 points, whatever the timings measured so far say
    (whether sharing pays is timed; what it returns must not depend on it)."""
    monkeypatch.setattr(bulk, "_worth_sharing", lambda family, points: points >= bulk.SHARED_MIN)


def _resolutions(family: Family) -> list[int]:
    values: set[int] = set()
    for domain in (family.test_domains.get("resolution"), family.space.param("resolution").search):
        if isinstance(domain, (Choice, Int)) and domain.size <= 64:
            values.update(domain.values())
    return sorted(values) or [family.point()["resolution"]]


def _structures_at_many_resolutions(family: Family, structures: int, seed: int) -> list[Point]:
    """Random small points of the family, each at every resolution its tests and search use."""
    rng = random.Random(seed)
    points = []
    for _ in range(structures):
        base = family.small_point(rng)
        for r in _resolutions(family):
            try:
                points.append(family.point({**base, "resolution": r}))
            except PointError:
                continue
    return points


@pytest.mark.parametrize("name", [f.name for f in families()])
def test_counts_of_many_points_equal_the_walk_of_each(name: str) -> None:
    """Resolutions sharing a walk (and structures that cannot) give exactly ``family.complexity``."""
    family = get_family(name)
    points = _structures_at_many_resolutions(family, 2, seed=len(name))
    rng = random.Random(1)
    points += [family.small_point(rng) for _ in range(4)]
    assert bulk.costs_many(family, points) == [family.complexity(p) for p in points]


@pytest.mark.parametrize(
    ("name", "fixed", "samples"),
    [
        ("efficientnet", None, 300),
        ("mbconv", None, 300),
        ("mobilenet_v3", None, 200),
        ("resnet", None, 150),
        ("regnet", None, 150),  # continuous domains: no two draws alike
        ("wrn", {"depth": 16}, 300),
    ],
)
def test_fast_screen_gives_the_points_and_counts_of_the_slow_path(
    name: str, fixed: dict[str, Any] | None, samples: int
) -> None:
    family = get_family(name)
    budget = parse_budget("flops<=400M")
    fast = list(screened_points(family, budget, samples, fixed, seed=3))
    rng = random.Random(3)
    domains = family.space.search_domains(fixed)
    for s in fast:
        slow = cost_of(family, family.space.sample(rng, domains, fixed))
        verdict = budget.check({m: getattr(slow, m) for m in METRICS})
        assert (s.record.point, s.record.params, s.record.flops, s.record.activations) == (
            slow.point,
            slow.params,
            slow.flops,
            slow.activations,
        )
        assert (s.feasible, s.violations) == (verdict.feasible, verdict.violations)
        assert s.record.resolution == slow.resolution and s.record.method == "analytic"


def test_a_large_screen_shares_walks_across_the_resolution_domain() -> None:
    """Enough samples that each EfficientNet structure is costed at all 60 resolutions in one walk."""
    family = get_family("efficientnet")
    domains: dict[str, Domain] = {
        "width_mult": Float(0.5, 0.6, step=0.05),
        "depth_mult": Choice((0.5,)),
        "resolution": Int(128, 600, step=8),
    }
    budget = parse_budget("flops<=400M")
    got = list(screened_points(family, budget, 800, domains=domains, seed=5))
    assert bulk._resolution_axis(family, domains, 800) == tuple(range(128, 601, 8))
    for s in got[::7]:
        want = family.complexity(s.record.point)
        assert (s.record.params, s.record.flops, s.record.activations) == (
            want.params,
            want.flops,
            want.activations,
        )
    result = screen(family, budget, 800, domains=domains, seed=5)
    assert (result.screened, result.feasible) == (800, sum(s.feasible for s in got))


def test_sampler_draws_what_space_sample_draws() -> None:
    space = Space(
        "toy",
        (
            Param("a", Choice((1, 1.0, True, "x")), 1),
            Param("b", Int(0, 9), 0),
            Param("c", Float(0.0, 1.0, step=0.25), 0.0),
            Param("d", IntList(1, 3, 1, 3), [1]),
        ),
    )
    domains = {
        "a": space.param("a").domain,
        "b": Int(0, 9),
        "c": Float(0.0, 1.0, step=0.25),
        "d": IntList(1, 3, 1, 3),
    }
    sampler = Sampler(space, domains)
    r1, r2 = random.Random(7), random.Random(7)
    for _ in range(200):
        drawn, expected = sampler.draw(r1), space.sample(r2, domains)
        assert drawn == expected and [type(v) for v in drawn.values()] == [type(v) for v in expected.values()]


def _toy_family(complexity: Any) -> Family:
    space = Space(
        "toy",
        (
            Param("width", Int(1, 8), 4, search=Int(1, 8)),
            Param("resolution", Int(8, 64), 32, search=Int(8, 64)),
        ),
    )
    return Family("toy_bulk", "a toy", space, build_fn=lambda p: None, complexity_fn=complexity)  # type: ignore[arg-type,return-value]


def test_a_walk_that_branches_on_the_resolution_is_walked_point_by_point() -> None:
    def complexity(p: Point) -> Counts:
        t = Tally()
        size = t.conv(3, 8 * p["width"], p["resolution"], 3, stride=2)
        if size > 10:  # raises on an array of sizes: no shared walk
            size = t.conv(8 * p["width"], 8, size, 3, stride=2)
        t.adaptive_avgpool(8, size)
        return t.counts()

    family = _toy_family(complexity)
    points = [family.point({"width": w, "resolution": r}) for w in (1, 2) for r in range(8, 64, 3)]
    bulk._UNSHAREABLE.discard(family.name)
    assert bulk.costs_many(family, points) == [family.complexity(p) for p in points]
    assert family.name in bulk._UNSHAREABLE
    bulk._UNSHAREABLE.discard(family.name)


def test_a_shared_walk_that_disagrees_is_caught() -> None:
    """A walk that runs on an array but computes something else (here: only the first resolution) is
    caught by the per-walk check on one point, and every point is then walked alone."""

    def complexity(p: Point) -> Counts:
        t = Tally()
        r = p["resolution"]
        first = int(r.flat[-1]) if hasattr(r, "flat") else r  # wrong on an array, silently
        t.conv(3, 8 * p["width"], first, 3)
        return t.counts()

    family = _toy_family(complexity)
    points = [family.point({"width": 2, "resolution": r}) for r in (8, 16, 24, 32)]
    bulk._UNSHAREABLE.discard(family.name)
    assert bulk.costs_many(family, points) == [family.complexity(p) for p in points]
    assert family.name in bulk._UNSHAREABLE
    bulk._UNSHAREABLE.discard(family.name)


def test_counts_only_tallies_skip_the_breakdown_not_the_counts() -> None:
    family = get_family("mobilenet_v3")
    point = family.point()
    with counts_only():
        fast = family.complexity(point)
        assert Tally().detailed is False and Tally().types == {}
    assert fast == family.complexity(point) and Tally().detailed
