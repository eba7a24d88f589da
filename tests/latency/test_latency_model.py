"""The latency-model machinery on synthetic data: fits recover known relations, errors are right."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scalesearch.latency.errors import error_row, error_table, spearman
from scalesearch.latency.features import FEATURES, GROUPS, point_features
from scalesearch.latency.measure import choose_clock, robust_summary
from scalesearch.latency.model import LatencyModel, choose, fit, fit_additive, fit_loglinear
from scalesearch.latency.sample import design, sample_family, spread_order
from scalesearch.registry import get_family


def _synthetic(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(FEATURES)))
    x[:, 0] = 1.0
    x[:, 1:] = rng.uniform(0, 1, (n, len(FEATURES) - 1)) * 10 ** rng.uniform(3, 8, (n, 1))
    return x, x


def test_additive_fit_recovers_known_costs() -> None:
    x, _ = _synthetic()
    true = np.zeros(len(FEATURES))
    true[0], true[1], true[3] = 0.5, 2e-7, 9e-7  # constant, conv 1x1 and depthwise time per FLOP
    y = x @ true
    model = fit_additive(x, y)
    assert np.allclose(model.predict(x), y, rtol=1e-6)
    raw = np.asarray(model.coef) / np.asarray(model.scale)
    assert np.allclose(raw, true, rtol=1e-5, atol=1e-12)


def test_loglinear_fit_recovers_a_power_law() -> None:
    x, _ = _synthetic(seed=1)
    y = 0.01 * (1 + x[:, 1]) ** 0.7
    model = fit_loglinear(x, y, ridge=0.0)
    assert model.coef[1] == pytest.approx(0.7, rel=1e-6)
    assert np.allclose(model.predict(x), y, rtol=1e-6)


def test_family_factors_and_choice() -> None:
    x, _ = _synthetic(seed=2)
    true = np.zeros(len(FEATURES))
    true[0], true[2] = 0.2, 5e-7
    families = ["a", "b"] * (len(x) // 2)
    y = (x @ true) * np.where(np.array(families) == "b", 1.5, 1.0)
    model, errors = choose(x, y, families)
    assert model.name == "additive+family"
    assert set(errors) == {"additive", "additive+family", "loglinear", "loglinear+family"}
    assert model.family_factor["b"] / model.family_factor["a"] == pytest.approx(1.5, rel=2e-2)
    again = LatencyModel.from_dict(model.as_dict())
    assert np.allclose(again.predict(x, families), model.predict(x, families))
    assert fit("loglinear+family", x, y, families).name == "loglinear+family"


def test_error_table() -> None:
    measured = np.array([1.0, 2.0, 3.0, 4.0])
    row = error_row(measured * np.array([1.05, 0.95, 1.2, 1.0]), measured)
    assert row["n"] == 4 and row["spearman"] == 1.0 and row["within_10pct"] == 0.75
    assert spearman(np.array([1.0, 2.0]), np.array([2.0, 1.0])) != spearman(measured, measured)
    table = error_table(measured, measured, ["x", "x", "y", "y"])
    assert list(table) == ["x", "y", "all"] and table["all"]["median_abs_pct"] == 0


def test_robust_summary_rejects_interrupted_runs() -> None:
    t = robust_summary([10.0, 10.2, 9.9, 10.1, 35.0, 10.0, 60.0])
    assert t.rejected == 2 and t.runs == 5 and t.median_ms == 10.0 and t.spread_ms < 0.3


def test_clock_rules() -> None:
    assert choose_clock("wall", "cpu", 2) == ("wall", None)
    with pytest.raises(Exception, match="one torch thread"):
        choose_clock("cpu", "cpu", 2)
    with pytest.raises(Exception, match="clock must be one of"):
        choose_clock("sundial", "cpu", 1)


def test_features_add_up_and_sample_covers_the_range() -> None:
    fam = get_family("mobilenet_v1")
    point = fam.small_point(random.Random(0))
    f = point_features(fam, point, batch_size=2)
    named = f.named()
    assert sum(named[f"flops_{g}"] for g in GROUPS) == 2 * f.counts.flops
    assert named["flops_conv_dw"] > 0 and f.layers > 0 and f.bytes_moved() > 0
    sample = sample_family(fam, 5, 1e7)
    flops = sorted(s.features.counts.flops for s in sample)
    assert len(sample) >= 5 and flops[-1] > 10 * flops[0] and flops[-1] <= 1e7
    assert design(sample, 100) == sample
    assert [p for p in spread_order(list(range(5)))] == [0, 4, 2, 1, 3]  # type: ignore[arg-type]
