"""Cost by layer type: one classification rule, the analytic and fvcore paths equal on every family."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from scalesearch.cost.analytic import Tally, recording
from scalesearch.cost.breakdown import analytic_breakdown, fvcore_breakdown, tally_breakdown
from scalesearch.cost.fvcore_count import count, count_by_module
from scalesearch.cost.layer_types import layer_type
from scalesearch.registry import families, get_family
from tests.helpers import main_json, run_main

POINTS_PER_FAMILY = 2


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_layer_type_rule() -> None:
    assert layer_type("conv", 1, 1, 32, 64) == "conv 1x1"
    assert layer_type("conv", 3, 1, 3, 32) == "conv 3x3"
    assert layer_type("conv", 3, 32, 32, 32) == "conv dw 3x3"
    assert layer_type("conv", (5, 5), 8, 8, 8) == "conv dw 5x5"
    assert layer_type("conv", 3, 4, 64, 64) == "conv group 3x3"
    assert layer_type("conv", 3, 32, 32, 64) == "conv group 3x3"  # depthwise with a channel multiplier
    assert layer_type("conv", (1, 7), 1, 8, 8) == "conv 1x7"
    assert layer_type("conv", 1, 1, 1, 1) == "conv 1x1"
    assert layer_type("linear") == layer_type("addmm") == "linear"
    assert layer_type("batch_norm") == "batch norm"
    assert layer_type("adaptive_avg_pool2d") == "pool"
    assert layer_type("group_norm") == "group norm"


def test_tally_totals_unchanged_and_tagged() -> None:
    with recording() as tallies:
        t = Tally()
        size = t.conv(3, 8, 16, 3, stride=2)
        t.bn(8, size)
        t.conv(8, 8, size, 3, groups=8, bias=True)
        t.adaptive_avgpool(8, size)
        t.linear(8, 10)
    assert tallies == [t]
    assert (t.params, t.flops, t.activations) == (
        216 + 16 + 80 + 90,
        13824 + 1024 + 4608 + 512 + 80,
        512 + 512 + 10,
    )
    assert t.types == {
        "conv 3x3": [216, 216, 13824],
        "batch norm": [16, 0, 1024],
        "conv dw 3x3": [80, 72, 4608],
        "pool": [0, 0, 512],
        "linear": [90, 80, 80],
    }
    assert Tally().types == {}  # outside recording() nothing is collected


def test_by_module_counts_sum_to_fvcore_total() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    own = count_by_module(model, 8)
    assert sum(sum(c.values()) for c in own.values()) == count(model, 8).flops
    assert dict(own["0"]) == {"conv": 36 * 4 * 27} and own[""] == {}


class _Aux(nn.Module):
    """A (1, 3) conv, batch norm, pooling and a classifier, plus an auxiliary head never run."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, (1, 3), padding=(0, 1), bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)
        self.aux = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def test_layer_and_add_params_are_tagged() -> None:
    """Costs a family counts itself go through Tally.layer; unrun heads through Tally.add_params."""
    with recording() as tallies:
        t = Tally()
        t.layer("conv", 36, 8 * 8 * 36, 8 * 8 * 4, weights=36, kernel=(1, 3), c_in=3, c_out=4)
        t.bn(4, 8)
        t.layer("mean", 0, 0)  # fvcore counts no flops for mean
        t.linear(4, 2)
        aux = Tally()
        aux.linear(4, 3)
        t.add_params(aux)
    model = _Aux()
    counted = count(model, 8)
    assert (t.params, t.flops, t.activations) == (counted.params, counted.flops, counted.activations)
    assert tally_breakdown(tallies, t.params, t.flops).rows == fvcore_breakdown(model, 8).rows


@pytest.mark.parametrize("family", families(), ids=lambda f: f.name)
def test_analytic_equals_fvcore_by_type(family) -> None:
    rng = random.Random(f"by-type {family.name}")
    for _ in range(POINTS_PER_FAMILY):
        point = family.small_point(rng)
        fv = fvcore_breakdown(family.build(point), point["resolution"], family.input_channels(point))
        an = analytic_breakdown(family, point)
        assert an.rows == fv.rows, point
        totals = family.complexity(point)
        assert (an.total("params"), an.total("flops")) == (totals.params, totals.flops)


def test_cost_by_type_command() -> None:
    data = main_json("cost", "mobilenet_v1", "width_mult=0.25", "resolution=128", "--by", "type")
    rows = {r["type"]: r for r in data["rows"]}
    assert set(rows) == {"conv 1x1", "conv dw 3x3", "conv 3x3", "batch norm", "linear", "pool"}
    fam = get_family("mobilenet_v1")
    assert data["totals"]["params"] == fam.complexity({"width_mult": 0.25, "resolution": 128}).params
    assert (
        data["totals"]["mult_adds"]
        == data["totals"]["flops"] - rows["batch norm"]["flops"] - rows["pool"]["flops"]
    )
    assert abs(sum(r["mult_adds_%"] for r in data["rows"]) - 100) < 0.05
    analytic = main_json(
        "cost", "mobilenet_v1", "width_mult=0.25", "resolution=128", "--by", "type", "--method", "analytic"
    )
    assert analytic["rows"] == data["rows"]
    out = run_main("cost", "mobilenet_v1", "--by", "type", "--method", "analytic")
    assert out.returncode == 0
    assert "conv dw 3x3" in out.stdout and "94.86" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
    bad = run_main("cost", "mobilenet_v1", "--by", "type", "--latency")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
