"""ResNet family: torchvision's exact params and fvcore FLOPs, depth resolution, bad points."""

from __future__ import annotations

import random

import pytest

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.resnet import DEPTHS, FAMILY, SPACE, build, complexity

CANONICAL = {c.name: c for c in FAMILY.canonical}
DEPTH_BLOCK = {depth: block for depth, (block, _) in DEPTHS.items()}


def _fvcore(point: dict) -> tuple[int, int, int]:
    c = count(build(point), point["resolution"])
    assert not set(c.unsupported) - {"aten::add_", "aten::max_pool2d"}
    return c.params, c.flops, c.activations


def _analytic(point: dict) -> tuple[int, int, int]:
    a = complexity(point)
    return a.params, a.flops, a.activations


# Tracing the larger networks at 224 px costs 2-5 s each on 2 CPU cores, so the suite checks fvcore at
# 224 on three smaller ones and every other canonical structure (same blocks, widths and groups) at
# 32 px; the conformance suite ties all ten to the torchvision + fvcore Reference at 224 (all ten
# matched it exactly, fvcore on our build, when the references were measured).
AT_224 = ("resnet18", "resnet34", "resnext50_32x4d")


@pytest.mark.parametrize("name", AT_224)
def test_canonical_fvcore_flops_at_224(name: str) -> None:
    ref = CANONICAL[name].reference
    point = FAMILY.canonical_point(name)
    got = _fvcore(point)
    assert got[:2] == (ref.params, ref.flops)
    assert _analytic(point) == got


@pytest.mark.parametrize("name", [n for n in CANONICAL if n not in AT_224])
def test_canonical_structure_analytic_equals_fvcore(name: str) -> None:
    point = {**FAMILY.canonical_point(name), "resolution": 32}
    assert _analytic(point) == _fvcore(point)


def test_canonical_points() -> None:
    assert FAMILY.canonical_point("resnet18")["layers"] == [2, 2, 2, 2]
    assert FAMILY.canonical_point("resnet18")["block"] == "basic"
    assert FAMILY.canonical_point("resnet152")["layers"] == [3, 8, 36, 3]
    x = FAMILY.canonical_point("resnext101_64x4d")
    assert (x["block"], x["cardinality"], x["bottleneck_width"]) == ("bottleneck", 64, 4)
    assert CANONICAL["resnet50"].reference.paper_params == "25.5M"
    assert CANONICAL["resnext50_32x4d"].reference.paper_flops == "4.2e9"


# Golden non-canonical points: torchvision 0.29.1 ResNet(BasicBlock|Bottleneck, layers, num_classes,
# groups=cardinality, width_per_group=bottleneck_width) built directly, params = sum of numel and flops
# from fvcore 0.1.5 FlopCountAnalysis in eval mode on a 1x3xRxR input (scalesearch.cost.fvcore_count.count).
GOLDEN = [
    ({"depth": 50, "cardinality": 16, "bottleneck_width": 8}, 26_443_560, 4_490_592_256),
    ({"depth": 50, "cardinality": 8, "bottleneck_width": 14, "resolution": 160}, 25_603_016, 2_192_160_000),
    ({"depth": 101, "cardinality": 2, "bottleneck_width": 40, "resolution": 128}, 44_456_296, 2_573_987_840),
    ({"depth": 50, "cardinality": 3, "bottleneck_width": 7, "resolution": 256}, 8_347_477, 1_490_238_464),
    ({"depth": 200, "resolution": 64}, 64_673_832, 1_232_244_736),
    ({"depth": 34, "resolution": 160, "num_classes": 100}, 21_335_972, 1_872_883_200),
    ({"depth": 18, "resolution": 32, "num_classes": 10}, 11_181_642, 37_118_464),
    ({"layers": [1, 2, 3, 1], "block": "basic", "resolution": 128}, 8_075_560, 518_598_656),
    (
        {
            "layers": [2, 3, 4, 2],
            "cardinality": 4,
            "bottleneck_width": 24,
            "resolution": 96,
            "num_classes": 10,
        },
        16_188_746,
        566_025_728,
    ),
    (
        {"depth": 18, "layers": [1, 1, 1, 1], "block": "bottleneck", "bottleneck_width": 1, "resolution": 64},
        4_876_193,
        42_356_928,
    ),
]


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN)
def test_golden_points(values: dict, params: int, flops: int) -> None:
    point = FAMILY.point(values)
    got = _fvcore(point)
    assert got[:2] == (params, flops)
    assert _analytic(point) == got


def test_resolve_derives_layers_and_block() -> None:
    assert FAMILY.point()["layers"] == [3, 4, 6, 3]
    p = FAMILY.point(depth=34)
    assert (p["layers"], p["block"]) == ([3, 4, 6, 3], "basic")
    p = FAMILY.point(depth=200)
    assert (p["layers"], p["block"]) == ([3, 24, 36, 3], "bottleneck")
    p = FAMILY.point(depth=18, layers=[1, 1, 1, 1])
    assert (p["layers"], p["block"]) == ([1, 1, 1, 1], "basic")
    p = FAMILY.point(depth=18, block="bottleneck")
    assert (p["layers"], p["block"]) == ([2, 2, 2, 2], "bottleneck")
    assert FAMILY.point(p) == p
    assert SPACE.parse(["layers=2,2,2,2", "block=basic"]) == {"layers": [2, 2, 2, 2], "block": "basic"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depth": 18, "cardinality": 32}, "resnet: cardinality must be 1 with block=basic"),
        ({"depth": 34, "bottleneck_width": 4}, "bottleneck_width must be 64 with block=basic"),
        ({"block": "basic", "cardinality": 2}, "but got block=basic, cardinality=2"),
        ({"depth": 26}, "depth must be one of {18, 34, 50, 101, 152, 200}, but got depth=26"),
        ({"layers": [3, 4, 6]}, "layers must be a list of 4 integers in [1, 64]"),
        ({"layers": [3, 0, 6, 3]}, "but got layers=3,0,6,3"),
        ({"bottleneck_width": 0}, "bottleneck_width must be an int in [1, 1024], but got bottleneck_width=0"),
        ({"cardinality": 0}, "but got cardinality=0"),
        ({"block": "preact"}, "block must be one of {basic, bottleneck}"),
        ({"resolution": 4}, "resolution must be an int in [8, 1024], but got resolution=4"),
    ],
)
def test_invalid_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    assert message in str(err.value)


def test_default_search_domains_are_valid() -> None:
    domains = SPACE.search_domains()
    assert set(domains) == {"depth", "cardinality", "bottleneck_width"}
    for name, domain in domains.items():
        for value in domain.values():
            SPACE.param(name).domain.check(name, value)
    point = SPACE.sample(random.Random(0), domains)
    assert point["block"] == DEPTH_BLOCK[point["depth"]]
