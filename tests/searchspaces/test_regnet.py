"""regnet family: the quantised-linear design space, torchvision-exact params, FLOPs and layout."""

from __future__ import annotations

import re

import pytest

from scalesearch.errors import PointError
from searchspaces.regnet import FAMILY, generate_regnet, stages
from tests.searchspaces.golden import check_counts, check_golden_point, check_layout

# sha256 of the reference state dict's "key shape" lines, shape written 16x3x3x3, joined by "\n",
# computed from /work/refdata/golden.json (torchvision 0.28.0 regnet_*(weights=None)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "regnet_x_400mf": "40e921e51d6f9c092e09df5df2156e383277063081758a1d19d62af7cdbc1959",
    "regnet_x_800mf": "8200857aba7f3fc5e131365464bb71ed5176b76ef76b704c1e3952ded0a8046d",
    "regnet_x_1_6gf": "4bdf81bb7ca79ed8281aa16db6e6367387d183061cd71aa2f52216c8051b30d1",
    "regnet_x_3_2gf": "c8ee634b70e228d9e0e5249d913c33f7e575ca0ac51df9d4aebd2ee07e23e3ab",
    "regnet_x_8gf": "61acabcaca4939ed279ea36b2685fe2d5dd308587bd256c57efc8c18c62e7cf6",
    "regnet_y_400mf": "78d2dffc2c3e6a406b82c4781c497b550000fe33dafdd343650ae64ba1a63c48",
    "regnet_y_800mf": "a715d1e2ab673a16d89c548c3e208ea686675d77caa09e2516212a0174c7a37e",
    "regnet_y_1_6gf": "01624af9fded2abccf3cbe6f6d7fba8a209d1ec4c8d53ffae4118fa973055884",
    "regnet_y_3_2gf": "13e631b64b9127cda3ba2a2ab958eadc639432b87ed9bb9f02be3b28e8d25767",
    "regnet_y_8gf": "bd4875332da7e60c6b9a736c8271bb3d3cecffb39ca8670e375dbe0a0b81e58d",
}

# Non-canonical points: (values, stage widths, stage depths, params, flops), measured with
# torchvision 0.28.0 RegNet(BlockParams.from_init_params(depth, w_0, w_a, w_m, group_width,
# bottleneck_multiplier=1/b, se_ratio), num_classes) and fvcore 0.1.5 FlopCountAnalysis, eval, 1x3xRxR.
GOLDEN = [
    (
        {"w0": 16, "wa": 12.5, "wm": 2.2, "depth": 8, "group_width": 4, "bottleneck_ratio": 2.0,
         "se_ratio": 0.25, "resolution": 64, "num_classes": 10},
        [16, 32, 80], [1, 2, 5], 56_294, 2_531_616,
    ),
    (
        {"w0": 32, "wa": 40.0, "wm": 1.7, "depth": 10, "group_width": 8, "bottleneck_ratio": 4.0,
         "se_ratio": 0.0, "resolution": 96, "num_classes": 5},
        [32, 96, 160, 256, 448], [1, 2, 2, 3, 2], 529_221, 11_515_744,
    ),
]  # fmt: skip

_SLOW = {"regnet_x_8gf", "regnet_y_8gf", "regnet_x_3_2gf", "regnet_y_3_2gf"}
CANONICAL = [
    pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in _SLOW else []) for c in FAMILY.canonical
]


@pytest.mark.parametrize("canonical", FAMILY.canonical, ids=lambda c: c.name)
def test_canonical_layout(canonical) -> None:
    check_layout(FAMILY, canonical, STATE_DICT_SHA256[canonical.name])


@pytest.mark.parametrize("canonical", CANONICAL)
def test_canonical_fvcore(canonical) -> None:
    check_counts(FAMILY, canonical)


@pytest.mark.parametrize(("values", "widths", "depths", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values, widths, depths, params, flops) -> None:
    point = FAMILY.point(values)
    assert [(s.width, s.depth) for s in stages(point)] == list(zip(widths, depths, strict=True))
    check_golden_point(FAMILY, values, params, flops)


def test_generate_regnet() -> None:
    """RegNetX-400MF: 22 blocks quantised into 4 stages (torchvision BlockParams: [32, 64, 160, 400])."""
    assert generate_regnet(24.48, 24, 2.54, 22) == ([24, 64, 152, 392], [1, 2, 7, 12])
    # the group width (16) then rounds the stage widths to its multiples: 24 -> 32, 152 -> 160, 392 -> 400
    assert [s.width for s in stages(FAMILY.canonical_point("regnet_x_400mf"))] == [32, 64, 160, 400]
    assert generate_regnet(0.0, 64, 2.0, 5) == ([64], [5])  # wa = 0: one stage of constant width
    widths, depths = generate_regnet(36.0, 24, 2.5, 20)
    assert sum(depths) == 20 and widths == sorted(widths) and all(w % 8 == 0 for w in widths)
    with pytest.raises(ValueError, match="w0 % 8 == 0 must hold"):
        generate_regnet(10.0, 12, 2.0, 4)


def test_x_and_y_blocks() -> None:
    x = FAMILY.build(FAMILY.canonical_point("regnet_x_400mf"))
    y = FAMILY.build(FAMILY.canonical_point("regnet_y_400mf"))
    block = y.trunk_output.block2[0]
    assert [n for n, _ in block.f.named_children()] == ["a", "b", "se", "c"]
    assert block.f.se.fc1.out_channels == round(0.25 * 48) and block.proj is not None
    assert not any(n.endswith(".se") for n, _ in x.named_modules())
    assert x.trunk_output.block3[1].proj is None and x.trunk_output.block3[1].f.b[0].groups == 160 // 16


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"w0": 12}, "w0 must be an int in [8, 1024], step 8, but got w0=12"),
        ({"wm": 1.0}, "wm must be a float in [1.05, 4.0], but got wm=1.0"),
        ({"bottleneck_ratio": 3.0}, "bottleneck_ratio must be one of {1.0, 2.0, 4.0}"),
        ({"se_ratio": 0.01}, "round(se_ratio * width) must be >= 1 for every block input width"),
    ],
)
def test_invalid_points(values, message) -> None:
    with pytest.raises(PointError, match=re.escape(message)):
        FAMILY.point(values)
