import pytest

from scalesearch.errors import BudgetError
from scalesearch.verdict.budget import Budget, parse_budget, parse_number


def fake(name: str, metric: str) -> float:
    table = {("resnet50", "flops"): 4.0e9, ("resnet50", "params"): 25.0e6}
    if (name, metric) not in table:
        from scalesearch.errors import PointError

        raise PointError(f"unknown network {name!r}")
    return table[(name, metric)]


def test_numbers_with_suffixes():
    assert parse_number("4.2e9") == 4.2e9
    assert parse_number("30M") == 30e6
    assert parse_number("1.5G") == 1.5e9


def test_absolute_and_relative_bounds():
    b = parse_budget("flops<=1.05*resnet50, params<30M,latency_ms<=5", resolve=fake)
    assert [x.value for x in b.bounds] == [pytest.approx(4.2e9), 30e6, 5.0]
    assert b.bounds[0].reference == "resnet50"
    v = b.check({"flops": 4.3e9, "params": 10e6, "latency_ms": 4.0})
    assert not v.feasible
    assert v.violations == ("flops=4.3G breaks flops<=1.05*resnet50 (limit 4.2G)",)
    assert b.check({"flops": 4.0e9, "params": 10e6, "latency_ms": 4.0}).feasible


def test_tolerance_bound_both_sides():
    b = parse_budget("params~resnet50±2%", resolve=fake)
    assert b.check({"params": 25.4e6}).feasible
    assert not b.check({"params": 24.0e6}).feasible
    assert not b.check({"params": 26.0e6}).feasible
    assert parse_budget("params~25M+-2%").check({"params": 25.2e6}).feasible


def test_several_violations_are_all_reported():
    v = parse_budget(["flops<=1G", "params<=1M"]).check({"flops": 2e9, "params": 2e6})
    assert len(v.violations) == 2


def test_unmeasured_metric_is_a_violation_not_a_pass():
    v = parse_budget("latency_ms<=5").check({"latency_ms": None})
    assert not v.feasible and "not measured" in v.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speed<=5", "unknown metric 'speed'"),
        ("flops<=", "must be written METRIC OP VALUE"),
        ("flops=>5", "must be written METRIC OP VALUE"),
        ("flops<=-1", "must be non-negative"),
        ("flops<=1.1*resnet9000", "unknown network 'resnet9000'"),
        ("params~resnet50", "'~' needs a tolerance"),
        ("flops<=2*resnet50*3", "right side must be a number"),
    ],
)
def test_bad_budgets_have_one_clear_message(text, message):
    with pytest.raises(BudgetError, match=None) as err:
        parse_budget(text, resolve=fake)
    assert message in str(err.value)


def test_empty_budget_is_falsy():
    assert not Budget()
    assert not parse_budget(None)


@pytest.mark.parametrize("text", ["flops<=1e400", "params<=1e400*resnet50", "params~resnet50±1e400%"])
def test_numbers_too_large_to_be_finite_are_refused(text):
    with pytest.raises(BudgetError, match="1e400"):
        parse_budget(text, resolve=fake)
