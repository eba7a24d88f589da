"""mbconv (MobileNetV2) family: torchvision-exact params and fvcore FLOPs, rounding, block layout."""

from __future__ import annotations

import re

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.blocks import InvertedResidual
from searchspaces.mbconv import FAMILY, STAGES
from searchspaces.rounding import make_divisible, round_repeats

# Non-canonical points: (values, params, flops). Measured with torchvision 0.29.1
# MobileNetV2(num_classes, width_mult, inverted_residual_setting=[[t', c, ceil(n * depth_mult), s]])
# (t' = expand_ratio where the table's t is 6) and fvcore 0.1.5 FlopCountAnalysis, eval mode,
# on 1x3xRxR at the point's resolution.
GOLDEN = [
    ({"width_mult": 0.35, "resolution": 96}, 1_677_128, 12_997_280),
    ({"width_mult": 0.5, "resolution": 160}, 1_968_680, 53_930_400),
    ({"width_mult": 0.75, "resolution": 192}, 2_636_424, 162_591_680),
    ({"width_mult": 1.4, "resolution": 224}, 6_108_776, 601_430_480),
    (
        {"width_mult": 1.3, "depth_mult": 1.5, "expand_ratio": 4, "resolution": 128, "num_classes": 10},
        5_281_186,
        202_020_608,
    ),
    ({"expand_ratio": 1, "depth_mult": 0.5, "resolution": 64, "num_classes": 100}, 668_204, 4_758_912),
    ({"width_mult": 0.6, "expand_ratio": 2.5, "resolution": 80}, 1_817_720, 13_208_120),
]


def test_rounding_rules() -> None:
    assert make_divisible(32 * 0.35) == 16  # 8 would shrink 11.2 by more than 10%
    assert make_divisible(20) == 24
    assert make_divisible(1280 * 1.4) == 1792
    assert make_divisible(0.1) == 8
    assert make_divisible(3, divisor=4, min_value=1) == 4
    assert make_divisible(1.0, divisor=1, min_value=1) == 1
    assert round_repeats(3, 1.1) == 4
    assert round_repeats(4, 1.8) == 8
    assert round_repeats(1, 0.1) == 1


def test_stage_table_is_mobilenet_v2() -> None:
    assert STAGES.columns == ("t", "c", "n", "s")
    assert sum(n for _, _, n, _ in STAGES.rows) == 17


@pytest.mark.parametrize("canonical", FAMILY.canonical, ids=lambda c: c.name)
def test_canonical(canonical) -> None:
    point = FAMILY.point(canonical.values)
    counted = count(FAMILY.build(point), point["resolution"])
    assert counted.params == canonical.reference.params
    assert counted.flops == canonical.reference.flops
    assert FAMILY.complexity(point).as_dict() == {
        "params": counted.params,
        "flops": counted.flops,
        "activations": counted.activations,
    }


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values, params, flops) -> None:
    point = FAMILY.point(values)
    counted = count(FAMILY.build(point), point["resolution"])
    assert (counted.params, counted.flops) == (params, flops)
    assert (FAMILY.complexity(point).params, FAMILY.complexity(point).flops) == (params, flops)


def test_forward_shape_and_residuals() -> None:
    model = FAMILY.build({"width_mult": 0.5, "depth_mult": 0.7, "num_classes": 7})
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == sum(round_repeats(n, 0.7) for _, _, n, _ in STAGES.rows)
    assert [b.use_res_connect for b in blocks[:3]] == [False, False, True]


def test_expand_ratio_one_drops_the_expansion_conv() -> None:
    model = FAMILY.build({"expand_ratio": 1})
    assert all(len(m.conv) == 3 for m in model.modules() if isinstance(m, InvertedResidual))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"width_mult": 0}, "width_mult must be a float in [0.1, 4.0], but got width_mult=0.0"),
        ({"expand_ratio": 0.5}, "expand_ratio must be a float in [1.0, 10.0], but got expand_ratio=0.5"),
        ({"depth_mult": -1}, "depth_mult must be a float in [0.1, 4.0], but got depth_mult=-1.0"),
        ({"resolution": 16}, "resolution must be an int in [32, 1024], but got resolution=16"),
        ({"resolution": 224.5}, "resolution must be an integer"),
        ({"dropout": 1.0}, "dropout must be a float in [0.0, 0.9], but got dropout=1.0"),
        ({"num_classes": 0}, "num_classes must be an int in [1, 100000], but got num_classes=0"),
        ({"width_mult": "1.0"}, "number (float in [0.1, 4.0]), but got width_mult=1.0"),
    ],
)
def test_invalid_points(values, message) -> None:
    with pytest.raises(PointError, match=re.escape(message)):
        FAMILY.point(values)
