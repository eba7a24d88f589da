"""The per-layer table: the analytic walk and the built network name the same layer shapes, layers
are timed in place, the table reads and interpolates, the ``layers`` model fits per family, and
timing rounds combine by their median."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from scalesearch.cost.analytic import Tally, recording
from scalesearch.latency.features import FEATURES, point_features
from scalesearch.latency.layers import LayerTable, merge_timings, module_shape, time_layers
from scalesearch.latency.measure import Timing, combine_rounds, round_agreement
from scalesearch.latency.model import LatencyModel, choose, fit_layers
from scalesearch.registry import families, get_family
from tests.helpers import run_main


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread while the test runs (timings), the count before restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", [f.name for f in families()])
def test_analytic_shapes_are_the_built_networks(name: str, one_thread: None) -> None:
    fam = get_family(name)
    point = fam.point(fam.small_point(random.Random(3)))
    analytic = point_features(fam, point).shapes
    torch.manual_seed(0)
    model = fam.build(point).eval()
    x = torch.randn(1, fam.input_channels(point), point["resolution"], point["resolution"])
    timed = time_layers(model, x, runs=1)
    assert timed and all(v > 0 for v in timed.values())
    assert set(timed) == set(analytic)


def test_time_layers_counts_repeated_shapes_once_each(one_thread: None) -> None:
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))
    timed = time_layers(model.eval(), torch.randn(1, 4, 8, 8), runs=3)
    assert set(timed) == {("conv", 4, 4, 1, 3, 3, 1, 64), ("bn", 4, 64)}
    x, y = torch.randn(2, 5, 7), torch.randn(2, 5, 3)
    assert module_shape(nn.Linear(7, 3), x, y) == ("linear", 7, 3, 5)  # rows per image, batch 2
    assert module_shape(nn.LayerNorm(7), x, x) == ("ln", 7, 5)
    assert module_shape(nn.ReLU(), x, x) is None


def test_merge_equals_counting_again() -> None:
    def module(t: Tally) -> None:
        t.conv(8, 16, 10, 3)
        t.bn(16, 10)
        t.layer("linear", 16 * 4 + 4, 100 * 16 * 4, 100 * 4, 16 * 4)

    with recording() as twice:
        a = Tally()
        module(a)
        module(a)
    with recording() as merged:
        b, one = Tally(), Tally()
        module(one)
        b.merge(one, 2)
    assert (a.counts(), a.types, a.calls, a.shapes) == (b.counts(), b.types, b.calls, b.shapes)
    assert one.merged and not b.merged and len(twice) == 1 and len(merged) == 2
    assert b.shapes[("linear", 16, 4, 100)] == 2 and b.shapes[("conv", 8, 16, 1, 3, 3, 1, 100)] == 2


def test_table_reads_interpolates_and_round_trips() -> None:
    small, big = ("conv", 16, 16, 1, 3, 3, 1, 64), ("conv", 64, 64, 1, 3, 3, 1, 64)
    table = LayerTable(merge_timings([{small: 0.1, big: 1.0}, {small: 0.3}]))
    assert table.rows[small] == pytest.approx(0.2)  # the median of the two networks' timings
    mid = table.lookup([("conv", 32, 32, 1, 3, 3, 1, 64)])[("conv", 32, 32, 1, 3, 3, 1, 64)]
    assert 0.2 < mid < 1.0
    dense, norm = table.sums({small: 3, big: 1, ("bn", 8, 64): 2})  # no bn rows: left out
    assert dense == pytest.approx(3 * 0.2 + 1.0) and norm == 0.0
    again = LayerTable.from_rows(json.loads(json.dumps(table.as_rows())))
    assert again.rows == pytest.approx(table.rows)
    assert math.isnan(table.lookup([("ln", 8, 4)])[("ln", 8, 4)])


def test_layers_model_fits_each_family_and_falls_back() -> None:
    rng = np.random.default_rng(0)
    n = 12
    x = np.zeros((2 * n, len(FEATURES)))
    x[:, 0] = 1.0
    x[:, FEATURES.index("calls_dense")] = rng.integers(5, 50, 2 * n)
    sums = rng.uniform(0.1, 5.0, (2 * n, 2))
    fams = ["a"] * n + ["b"] * n
    calls = x[:, FEATURES.index("calls_dense")]
    y = np.where(np.array(fams) == "a", sums[:, 0] + 0.5 * sums[:, 1], 2 * sums[:, 0] + 0.01 * calls) + 0.05
    model = fit_layers(x, y, fams, sums)
    assert set(model.family_coef) == {"a", "b"}
    assert np.allclose(model.predict(x, fams, sums), y, rtol=1e-4)
    between = model.predict(x, ["unseen"] * len(y), sums)  # one fit over both families
    assert np.all(np.isfinite(between)) and not np.allclose(between, y, rtol=1e-2)
    again = LatencyModel.from_dict(json.loads(json.dumps(model.as_dict())))
    assert np.allclose(again.predict(x, fams, sums), model.predict(x, fams, sums))
    best, errors = choose(x, y, fams, sums)
    assert best.kind == "layers" and set(errors) >= {"additive", "layers"}
    assert "layers" not in choose(x, y, fams)[1]


def test_rounds_combine_by_their_median() -> None:
    rounds = [Timing(1.0, 0.01, 20, 0), Timing(1.5, 0.2, 12, 8), Timing(1.02, 0.02, 20, 0)]
    t = combine_rounds(rounds)
    assert t.median_ms == 1.02 and t.runs == 52 and t.rejected == 8
    assert round_agreement(rounds) == pytest.approx(1.5 / 1.02 - 1)


def test_profile_at_another_thread_count_needs_threads(one_thread: None) -> None:
    out = run_main(
        "latency", "calibrate", "--family", "wrn", "--time-budget", "0.1", "--points", "4",
        "--max-flops", "2e6", "--threads", "1", "--name", "t1", "--format", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"]["kind"] in ("additive", "loglinear", "layers") and data["layer_table"]
    assert all(p["rounds"] >= 1 for p in data["points"])
    torch.set_num_threads(2)  # screening in a process with torch's default threads
    refused = run_main("cost", "wrn", "--method", "analytic", "--latency-profile", "t1")
    assert refused.returncode == 2 and "pass --threads 1" in refused.stderr
    ok = run_main(
        "cost", "wrn", "--method", "analytic", "--latency-profile", "t1", "--threads", "1", "--format", "json"
    )  # fmt: skip
    assert torch.get_num_threads() == 1
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["latency_ms_predicted"] > 0
    bad = run_main("screen", "wrn", "--budget", "flops<=1e9", "--threads", "0")
    assert bad.returncode == 2 and "--threads must be at least 1, but got --threads 0" in bad.stderr


def test_onnxruntime_calibrates_without_a_table(one_thread: None) -> None:
    """ONNX Runtime runs the exported graph, where no hook sees a layer: whole-network models only
    (its calibration used to stop at the GPU spin-up, which named onnxruntime a bad device)."""
    from scalesearch.latency.calibrate import CalibrationConfig, calibrate

    fam = get_family("mobilenet_v1")
    cfg = CalibrationConfig("onnxruntime", (fam.name,), time_budget=0.1, points_per_family=4, max_flops=2e6)
    profile = calibrate(cfg, [fam])
    assert profile.table is None and profile.model.kind != "layers" and len(profile.points) >= 4
    assert (
        profile.setting.hardware.startswith("onnxruntime") and profile.predict(fam, {"resolution": 32}).ms > 0
    )


def test_rounds_far_apart_are_said() -> None:
    from scalesearch.latency.calibrate import Measured, noise_notes

    steady = [Timing(1.0, 0.01, 20, 0)] * 3
    moved = [Timing(1.0, 0.01, 20, 0), Timing(1.3, 0.01, 20, 0), Timing(1.0, 0.01, 20, 0)]
    calm = [Measured(None, list(steady)) for _ in range(4)]  # type: ignore[arg-type]
    assert noise_notes(calm) == []
    shaken = calm[:2] + [Measured(None, list(moved)) for _ in range(2)]  # type: ignore[arg-type]
    (note,) = noise_notes(shaken)
    assert note.startswith("2 of 4 points had a timing round over 10% from their median")
