"""mobilenet_v1 family: timm-exact params and fvcore FLOPs, state-dict layout, the paper's tables."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.breakdown import breakdown
from searchspaces.mobilenet_v1 import FAMILY, PAPER_TABLE, STAGES, DepthwiseSeparableConv
from tests.searchspaces.golden import check_canonical, check_golden_point

# sha256 of the reference state dict's "key shape" lines, shape written 32x3x3x3, joined by "\n",
# computed from /work/refdata/golden.json (timm 1.0.31 create_model(name, pretrained=False)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "mobilenetv1_100": "0942a04e31d4b6246d01f1cb16c6f433a181e9ec2b433690c694d80556837b01",
    "mobilenetv1_125": "9c850c0c3dcda539ee11511d6bd98e3c8e4a698be980cc6e3f5a24227cabb7db",
}

# Non-canonical points: (values, params, flops), measured with timm 1.0.31
# timm.models.efficientnet._gen_mobilenet_v1("mobilenetv1_100", channel_multiplier=width_mult,
# depth_multiplier=depth_mult, num_classes=...) and fvcore 0.1.5 FlopCountAnalysis, eval mode, 1x3xRxR.
GOLDEN = [
    ({"width_mult": 0.25, "resolution": 128}, 470_072, 14_397_440),
    ({"width_mult": 0.75, "resolution": 192}, 2_585_560, 244_858_368),
    ({"width_mult": 0.35, "depth_mult": 0.5, "num_classes": 10, "resolution": 96}, 160_474, 7_651_512),
    ({"width_mult": 0.6, "depth_mult": 1.4, "num_classes": 37, "resolution": 160}, 1_895_333, 187_808_192),
]


def test_stage_table_is_table_1() -> None:
    assert STAGES.columns == ("c", "n", "s")
    assert sum(n for _, n, _ in STAGES.rows) == 13  # 13 depthwise separable layers, 28 layers in all


@pytest.mark.parametrize("canonical", FAMILY.canonical, ids=lambda c: c.name)
def test_canonical(canonical) -> None:
    check_canonical(FAMILY, canonical, STATE_DICT_SHA256[canonical.name])


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values, params, flops) -> None:
    check_golden_point(FAMILY, values, params, flops)


def test_blocks_have_no_shortcut() -> None:
    model = FAMILY.build({"width_mult": 0.25, "num_classes": 3})
    blocks = [m for m in model.modules() if isinstance(m, DepthwiseSeparableConv)]
    assert len(blocks) == 13
    assert blocks[2].conv_dw.groups == blocks[2].conv_dw.in_channels == 32  # blocks.1.1: 32 -> 32, stride 1
    x = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        blocks[2].eval()
        assert torch.equal(
            blocks[2](x), blocks[2].bn2(blocks[2].conv_pw(blocks[2].bn1(blocks[2].conv_dw(x))))
        )


def _mult_adds(values: dict) -> int:
    return breakdown(FAMILY, FAMILY.point(values), "analytic").total("mult_adds")


@pytest.mark.parametrize("row", [r for r in PAPER_TABLE.rows if r[1] == 224], ids=lambda r: f"alpha={r[0]}")
def test_paper_width_rows(row) -> None:
    """Table 6 at 224 px, to printed precision: mult-adds = conv + linear multiply-adds (fvcore's
    flops less batch norm and pooling); params = every parameter (biases and batch norm included)."""
    width_mult, resolution, mult_adds, params = row
    point = FAMILY.point(width_mult=width_mult, resolution=resolution)
    assert f"{round(_mult_adds(point) / 1e6)}M" == mult_adds
    assert f"{FAMILY.complexity(point).params / 1e6:.1f}M" == params


@pytest.mark.parametrize("row", [r for r in PAPER_TABLE.rows if r[1] != 224], ids=lambda r: f"{r[1]}px")
def test_paper_resolution_rows(row) -> None:
    """Table 7 at alpha = 1. The paper's rows are 224 px's count scaled by rho**2 (its eq. 7): all
    three round to the printed figure that way. Counted exactly, 192 px gives 418.1M and 128 px
    186.4M (as printed), 160 px 290.7M (the ρ² rule's 290.2M is printed as 290M)."""
    _, resolution, mult_adds, _ = row
    scaled = _mult_adds({}) * (resolution / 224) ** 2
    assert f"{round(scaled / 1e6)}M" == mult_adds
    exact = _mult_adds({"resolution": resolution})
    assert f"{round(exact / 1e6)}M" == {192: "418M", 160: "291M", 128: "186M"}[resolution]


def test_resource_per_layer_type() -> None:
    """The paper's Table 2 from the breakdown: shares of mult-adds and of weights (conv and linear
    kernels, no biases or batch norm: the count the paper tabulates)."""
    b = breakdown(FAMILY, FAMILY.point(), "fvcore")
    shares = {
        k: (round(b.share(k, "mult_adds"), 2), round(b.share(k, "weights"), 2))
        for k in ("conv 1x1", "conv dw 3x3", "conv 3x3", "linear")
    }
    # The paper prints 1.19 % for the first (full) 3x3 convolution, a transposition of 1.91 %:
    # 112*112*32*3*3*3 = 10.84M of 568.7M, and the paper's four shares sum to 100 only with 1.91.
    assert shares == {
        "conv 1x1": (94.86, 74.59),
        "conv dw 3x3": (3.06, 1.06),
        "conv 3x3": (1.91, 0.02),
        "linear": (0.18, 24.33),
    }
