"""res2net family: timm-exact params and fvcore FLOPs, state-dict layout, the Res2Net module's rules."""

from __future__ import annotations

import random

import pytest
import torch

from scalesearch.errors import PointError
from scalesearch.registry import get_family
from searchspaces.res2net import FAMILY, SPACE, Bottle2neck, split_width
from tests.searchspaces.golden import check_golden_point, state_dict_sha256

CANONICAL = {c.name: c for c in FAMILY.canonical}

# sha256 of the reference state dict's "key shape" lines, shape written 64x3x7x7, joined by "\n",
# computed from /work/refdata/golden.json (timm 1.0.31 create_model(name, pretrained=False)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "res2net50_26w_4s": "b2936179ace2f6d61f23270d553365f3ad6b4baec15a9d36c42bd1d232d0e389",
    "res2net50_48w_2s": "cdedbdd549fde364532272557d82a6252c1255c2c5871eaf488e8341eb38e2a5",
    "res2net50_14w_8s": "de210e6ef171e17a095d0f00ac1285d1d0c1dd5049820a22369932f1bdbcc62a",
    "res2net101_26w_4s": "6d25fef2e7756a1bf633f28197068a6e12569758b7b0b04a91a384330dc7534b",
}

# Non-canonical points: (values, params, flops), measured with timm 1.0.31
# timm.models.resnet.ResNet(block=timm.models.res2net.Bottle2neck, layers=..., base_width=w,
# cardinality=C, block_args=dict(scale=s), num_classes=...) and fvcore 0.1.5 FlopCountAnalysis,
# eval mode, 1x3xRxR. The first has the blocks of timm's res2next50 (w=4, C=8, s=4).
GOLDEN = [
    (
        {"layers": [1, 1, 2, 1], "base_width": 4, "cardinality": 8, "scale": 4, "resolution": 32},
        10_420_712,
        38_862_336,
    ),
    (
        {"layers": [1, 1, 1, 1], "base_width": 26, "scale": 6, "resolution": 64, "num_classes": 10},
        10_490_418,
        176_071_552,
    ),
    (
        {
            "layers": [1, 2, 1, 1],
            "base_width": 7,
            "cardinality": 3,
            "scale": 3,
            "resolution": 96,
            "num_classes": 10,
        },
        5_235_682,
        211_220_960,
    ),
    (
        {"layers": [2, 1, 1, 2], "base_width": 64, "scale": 1, "resolution": 48, "num_classes": 37},
        12_624_741,
        105_540_096,
    ),
    (
        {
            "layers": [1, 1, 1, 1],
            "base_width": 5,
            "cardinality": 2,
            "scale": 8,
            "resolution": 57,
            "num_classes": 5,
        },
        5_682_367,
        92_386_618,
    ),
]


@pytest.mark.parametrize("name", STATE_DICT_SHA256)
def test_canonical_counts_and_state_dict_layout(name: str) -> None:
    """Analytic counts equal timm's at 224 px and the layout is timm's (meta device: no weights).
    fvcore is not traced at 224 here (seconds per network on 2 shared cores): the golden points
    below and the conformance suite prove analytic == fvcore on the same blocks, and all four
    matched timm exactly through /work/refdata/check.py (fvcore on our build, strict load, logits)."""
    counts, ref = FAMILY.complexity(CANONICAL[name].values), CANONICAL[name].reference
    assert (counts.params, counts.flops) == (ref.params, ref.flops)
    with torch.device("meta"):
        assert state_dict_sha256(FAMILY.build(CANONICAL[name].values)) == STATE_DICT_SHA256[name]


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values: dict, params: int, flops: int) -> None:
    check_golden_point(FAMILY, values, params, flops)


def test_split_width_is_timm_floor_rule() -> None:
    assert [split_width(p, 26, 1) for p in (64, 128, 256, 512)] == [26, 52, 104, 208]
    assert [split_width(p, 14, 1) for p in (64, 128, 256, 512)] == [14, 28, 56, 112]
    assert split_width(64, 7, 3) == 21 and split_width(128, 5, 2) == 20
    with torch.device("meta"):
        model = FAMILY.build({"base_width": 14, "scale": 8})
    block = model.get_submodule("layer4.0")
    assert isinstance(block, Bottle2neck)
    assert block.conv1.out_channels == 8 * 112 and len(block.convs) == 7


def test_scale_one_is_the_resnet_bottleneck() -> None:
    """s = 1, w = 64: one 3x3 of planes channels, so ResNet-50's exact params and FLOPs."""
    resnet50 = get_family("resnet").canonical_point("resnet50")
    counts = FAMILY.complexity({"scale": 1, "base_width": 64})
    assert (counts.params, counts.flops) == (
        get_family("resnet").complexity(resnet50).params,
        get_family("resnet").complexity(resnet50).flops,
    )


def test_hierarchical_residual_connections() -> None:
    """y1 = K1(x1), y_i = K_i(x_i + y_{i-1}), y_s = x_s; the stage-first block: y_i = K_i(x_i), y_s = pool(x_s)."""
    torch.manual_seed(0)
    inner = Bottle2neck(64, 16, 1, 1, 32, 4).eval()  # 4 groups of 8 channels, identity shortcut
    first = Bottle2neck(32, 16, 2, 1, 32, 4).eval()
    pool, downsample = first.pool, first.downsample
    assert inner.pool is None and inner.downsample is None and pool is not None and downsample is not None
    x = torch.randn(1, 64, 6, 6)
    with torch.no_grad():
        xs = torch.split(inner.relu(inner.bn1(inner.conv1(x))), 8, 1)
        y, ys = None, []
        for i, (conv, bn) in enumerate(zip(inner.convs, inner.bns, strict=True)):
            y = torch.relu(bn(conv(xs[i] if y is None else xs[i] + y)))
            ys.append(y)
        want = torch.relu(inner.bn3(inner.conv3(torch.cat([*ys, xs[3]], 1))) + x)
        assert torch.allclose(inner(x), want)
        xs = torch.split(first.relu(first.bn1(first.conv1(x[:, :32]))), 8, 1)
        ys = [
            torch.relu(bn(conv(xs[i])))
            for i, (conv, bn) in enumerate(zip(first.convs, first.bns, strict=True))
        ]
        out = first.bn3(first.conv3(torch.cat([*ys, pool(xs[3])], 1)))
        assert torch.allclose(first(x[:, :32]), torch.relu(out + downsample(x[:, :32])))


def test_resolve_derives_layers() -> None:
    assert FAMILY.point()["layers"] == [3, 4, 6, 3]
    assert FAMILY.point(depth=101)["layers"] == [3, 4, 23, 3]
    assert FAMILY.point(depth=101, layers=[1, 1, 1, 1])["layers"] == [1, 1, 1, 1]
    assert SPACE.parse(["scale=8", "base_width=14"]) == {"scale": 8, "base_width": 14}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depth": 34}, "depth must be one of {50, 101, 152, 200}, but got depth=34"),
        ({"scale": 0}, "scale must be an int in [1, 16], but got scale=0"),
        ({"base_width": 0}, "base_width must be an int in [1, 1024], but got base_width=0"),
        ({"cardinality": 0}, "but got cardinality=0"),
        ({"layers": [3, 4, 6]}, "layers must be a list of 4 integers in [1, 64]"),
        ({"resolution": 4}, "resolution must be an int in [8, 1024], but got resolution=4"),
    ],
)
def test_invalid_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    assert message in str(err.value)


def test_default_search_domains_are_valid() -> None:
    domains = SPACE.search_domains()
    assert set(domains) == {"depth", "scale", "base_width", "cardinality"}
    for name, domain in domains.items():
        for value in domain.values():
            SPACE.param(name).domain.check(name, value)
    FAMILY.point(SPACE.sample(random.Random(0), domains))
