"""Screening, fail-fast feasibility and budget solving on the analytic path."""

import re

import pytest

from scalesearch.errors import BudgetError, PointError
from scalesearch.registry import get_family
from scalesearch.space import Choice, Int
from scalesearch.verdict.budget import parse_budget
from scalesearch.verdict.screen import ensure_feasible, screen, screened_points, solve


def test_screen_counts_feasible_points_and_orders_extremes():
    wrn = get_family("wrn")
    r = screen(wrn, parse_budget("params<=5M"), 500, seed=1)
    points = list(
        screened_points(wrn, parse_budget("params<=5M"), 500, seed=1)
    )  # the same points, one by one
    assert r.screened == 500 and 0 < r.feasible < 500
    assert r.feasible == sum(s.feasible for s in points)
    assert all(s.feasible == (s.record.params <= 5e6) for s in points)
    assert r.cheapest.record.params == min(s.record.params for s in points)
    assert r.dearest.record.params == max(s.record.params for s in points)
    assert r.cheapest_feasible.feasible
    assert r.cheapest_feasible.record.params == min(s.record.params for s in points if s.feasible)


def test_screen_keeps_tallies_not_points():
    """Memory stays flat whatever the sample count (issue 15, item 15): no list of every point."""
    import tracemalloc

    wrn = get_family("wrn")
    budget = parse_budget("params<=5M")
    peaks = []
    for samples in (100, 2000):
        tracemalloc.start()
        r = screen(wrn, budget, samples, seed=2)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert r.screened == samples and not hasattr(r, "points")
    assert peaks[1] < 2 * peaks[0], peaks  # 20x the points, not 20x the memory


def test_screen_reports_progress():
    seen = []
    screen(get_family("wrn"), parse_budget(None), 7, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 7) for i in range(1, 8)]


def test_fixed_values_are_kept_while_screening():
    wrn = get_family("wrn")
    points = screened_points(wrn, parse_budget(None), 50, fixed={"depth": 16})
    assert {s.record.point["depth"] for s in points} == {16}


def test_infeasible_budget_fails_fast_with_the_cheapest_cost():
    wrn = get_family("wrn")
    with pytest.raises(BudgetError) as err:
        ensure_feasible(wrn, parse_budget("params<=1000"), domains=wrn.space.search_domains())
    text = str(err.value)
    examined = re.search(r"(\d[\d,]*) points examined", text)
    assert examined and int(examined.group(1).replace(",", "")) <= 2_000  # bounded work, not a time
    assert "no point of the wrn space can meet the budget params<=1000" in text
    assert "params=" in text and "depth" in text  # names the cheapest point and its cost


def test_feasible_budget_returns_a_witness():
    wrn = get_family("wrn")
    hit = ensure_feasible(
        wrn, parse_budget("params<=1M"), domains={"widen_factor": Int(1, 12)}, fixed={"depth": 16}
    )
    assert hit is not None and hit.record.params <= 1e6


@pytest.mark.parametrize(("c", "d"), [(2, 40), (4, 24), (8, 14), (32, 4)])
def test_solve_reproduces_the_resnext_table(c, d):
    resnet = get_family("resnet")
    target = resnet.complexity({"depth": 50}).params
    sol = solve(resnet, {"depth": 50, "cardinality": c}, "bottleneck_width", "params", target)
    assert sol.value == d
    assert abs(sol.relative_error) < 0.025


def test_solve_a_continuous_parameter_by_bisection():
    eff = get_family("efficientnet")
    target = eff.complexity({"width_mult": 1.4}).flops
    sol = solve(eff, {}, "width_mult", "flops", target)
    assert eff.complexity({"width_mult": sol.value}).flops == sol.achieved
    assert abs(sol.relative_error) < 0.02


def test_solve_rejects_bad_requests():
    wrn = get_family("wrn")
    with pytest.raises(PointError, match="no parameter 'k'"):
        solve(wrn, {}, "k", "params", 1e6)
    with pytest.raises(PointError, match="cannot be both fixed"):
        solve(wrn, {"depth": 16}, "depth", "params", 1e6)
    with pytest.raises(BudgetError, match="matches params, flops or activations"):
        solve(wrn, {}, "depth", "latency_ms", 1.0)


def test_screen_with_explicit_domains():
    points = screened_points(
        get_family("wrn"), parse_budget("flops<=1G"), 40, domains={"depth": Choice((10, 16))}
    )
    assert {s.record.point["depth"] for s in points} <= {10, 16}
