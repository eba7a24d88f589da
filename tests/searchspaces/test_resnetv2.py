"""resnetv2 family: timm-exact layouts and counts, weight standardisation counted as fvcore does,
stochastic depth (linear rule, identity in eval, whole branches per sample in training) in
resnetv2 and resnet, bad points."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.breakdown import analytic_breakdown
from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from scalesearch.registry import get_family
from searchspaces.blocks import StdConv2d, StochasticDepth, linear_drop_rates
from searchspaces.resnetv2 import FAMILY, PreActBottleneck, plan
from tests.searchspaces.golden import check_golden_point, state_dict_sha256

CANONICAL = {c.name: c for c in FAMILY.canonical}

# sha256 of the reference state dict's "key shape" lines, shape written 64x3x7x7, joined by "\n",
# computed from /work/refdata/golden.json (timm 1.0.31 create_model(name, pretrained=False)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "resnetv2_50": "0d84f7f0d66cc1d7a91e42e7f0bb55aaaac6fd236025cfa88ba773f68bf864dc",
    "resnetv2_50x1_bit": "714ccd929fb1bf87886eaf58e54487df7979c6fa46896ad600727ebb1f2e1a7e",
    "resnetv2_101x1_bit": "d2594364a4c8bf6696c7f7e0614154d40ac95a29f4123c0067540d758b9532b7",
}

# golden.json's fvcore by_operator at the native resolution: weight standardisation is an
# aten::batch_norm in training mode on the weights (4 flops per weight), GroupNormAct an
# aten::group_norm (5 flops per element); the 1x1 conv head is counted as conv.
BY_OPERATOR = {
    "resnetv2_50": {"conv": 4_089_184_256, "batch_norm": 18_013_184, "adaptive_avg_pool2d": 100_352},
    "resnetv2_50x1_bit": {
        "conv": 4_089_184_256,
        "batch_norm": 93_819_648,
        "group_norm": 45_032_960,
        "adaptive_avg_pool2d": 100_352,
    },
    "resnetv2_101x1_bit": {
        "conv": 31_199_477_760,
        "batch_norm": 169_579_264,
        "group_norm": 282_490_880,
        "adaptive_avg_pool2d": 401_408,
    },
}
_TYPE = {"batch_norm": "batch norm", "group_norm": "group norm", "adaptive_avg_pool2d": "pool"}

# Non-canonical points (values, params, flops), measured with timm 1.0.31 timm.models.resnetv2.ResNetV2
# built directly and fvcore 0.1.5 FlopCountAnalysis, eval mode, 1x3xRxR:
#   ResNetV2(layers=[1, 2, 3, 1], channels=(64, 128, 256, 512), width_factor=2, stem_chs=32, bottle_ratio=0.5,
#            num_classes=10, conv_layer=create_conv2d, norm_layer=BatchNormAct2d) at 48 px;
#   ResNetV2(layers=[2, 1, 1, 2], channels=(128, 256, 512, 1024), num_classes=37, stem_type="fixed",
#            conv_layer=partial(StdConv2d, eps=1e-8), norm_layer=partial(GroupNormAct, num_groups=16)) at 40 px;
#   ResNetV2(layers=[1, 2, 1, 1], channels=(128, 256, 512, 1024), width_factor=3, num_classes=100,
#            stem_type="fixed", conv_layer=partial(StdConv2d, eps=1e-8)) at 56 px.
GOLDEN = [
    (
        {
            "layers": [1, 2, 3, 1],
            "widths": [64, 128, 256, 512],
            "width_factor": 2,
            "stem_width": 32,
            "bottle_ratio": 0.5,
            "num_classes": 10,
            "resolution": 48,
        },
        6_823_754,
        73_022_976,
    ),
    (
        {
            "layers": [2, 1, 1, 2],
            "widths": [128, 256, 512, 1024],
            "norm": "groupnorm_ws",
            "gn_groups": 16,
            "num_classes": 37,
            "resolution": 40,
        },
        3_190_117,
        38_907_712,
    ),
    (
        {
            "layers": [1, 2, 1, 1],
            "widths": [128, 256, 512, 1024],
            "width_factor": 3,
            "norm": "groupnorm_ws",
            "num_classes": 100,
            "resolution": 56,
        },
        18_999_460,
        356_032_704,
    ),
]


@pytest.mark.parametrize("name", CANONICAL)
def test_canonical_layout_and_counts_by_operator(name: str) -> None:
    point = FAMILY.canonical_point(name)
    with torch.device("meta"):
        assert state_dict_sha256(FAMILY.build(point)) == STATE_DICT_SHA256[name]
    table = analytic_breakdown(FAMILY, point)
    flops: dict[str, int] = {}
    for record in table.records():
        kind = "conv" if record["type"].startswith("conv") else record["type"]
        flops[kind] = flops.get(kind, 0) + record["flops"]
    assert {k: v for k, v in flops.items() if v} == {_TYPE.get(k, k): v for k, v in BY_OPERATOR[name].items()}


def test_bit_101_at_224_and_defaults() -> None:
    point = FAMILY.canonical_point("resnetv2_101x1_bit")
    assert point["resolution"] == 448 and point["stem_pad"] == "fixed" and point["gn_groups"] == 32
    assert FAMILY.complexity({**point, "resolution": 224}).flops == 8_041_707_776  # golden flops_at_224
    assert FAMILY.canonical_point("resnetv2_50")["stem_pad"] == "pool"


@pytest.mark.parametrize("name", ["resnetv2_50", "resnetv2_50x1_bit"])
def test_fvcore_unsupported_ops_are_the_references(name: str) -> None:
    """A one-block-per-stage network of each norm traced by fvcore: analytic == fvcore, and the ops
    fvcore leaves uncounted are golden.json's for the reference (the full-size traces: check.py)."""
    small = {"layers": [1, 1, 1, 1], "widths": [128, 128, 256, 256], "num_classes": 10, "resolution": 32}
    point = FAMILY.point({**FAMILY.canonical_point(name), **small})
    c = count(FAMILY.build(point), 32)
    a = FAMILY.complexity(point)
    assert (a.params, a.flops, a.activations) == (c.params, c.flops, c.activations)
    extra = {"aten::reshape_as", "aten::pad"} if name.endswith("bit") else set()
    assert set(c.unsupported) == {"aten::max_pool2d", "aten::add"} | extra


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values: dict, params: int, flops: int) -> None:
    check_golden_point(FAMILY, values, params, flops)


def test_weight_standardisation() -> None:
    conv = StdConv2d(4, 6, 3, eps=1e-8)
    w = conv.weight.detach().reshape(6, -1)
    std = (w - w.mean(1, keepdim=True)) / torch.sqrt(w.var(1, unbiased=False, keepdim=True) + 1e-8)
    x = torch.randn(2, 4, 5, 5)
    ref = torch.nn.functional.conv2d(x, std.reshape_as(conv.weight), padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-5)


def test_linear_drop_rule() -> None:
    assert linear_drop_rates(0.5, 4) == [0.125, 0.25, 0.375, 0.5]
    layers = [1, 2, 1, 2]
    expected = [0.3 * (i + 1) / 6 for i in range(6)]
    _, stages = plan(FAMILY.point(layers=layers, drop_path_rate=0.3))
    assert [b.drop_path for s in stages for b in s] == expected
    for family in ("resnetv2", "resnet"):
        with torch.device("meta"):
            model = get_family(family).build({"layers": layers, "drop_path_rate": 0.3, "num_classes": 3})
        assert [m.p for m in model.modules() if isinstance(m, StochasticDepth)] == expected


@pytest.mark.parametrize("family", ["resnetv2", "resnet"])
def test_drop_path_keeps_state_dict_and_is_identity_in_eval(family: str) -> None:
    fam = get_family(family)
    small = {"resnet": {"block": "basic"}, "resnetv2": {"widths": [16, 32, 32, 64]}}[family]
    values = {"layers": [1, 1, 2, 1], "num_classes": 5, "resolution": 32, **small}
    torch.manual_seed(0)
    plain, dropped = fam.build(values), fam.build({**values, "drop_path_rate": 0.5})
    assert not any(isinstance(m, StochasticDepth) for m in plain.modules())  # p=0: reference layout
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    dropped.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(plain.eval()(x), dropped.eval()(x))


def _per_sample(sd: StochasticDepth, inputs: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Checks each sample's branch is dropped whole or kept scaled by 1/(1-p); returns which dropped."""
    dropped = output.flatten(1).abs().amax(1) < 1e-6  # resnetv2 compares (branch + shortcut) - shortcut
    kept = torch.isclose(output, inputs / (1 - sd.p), atol=1e-5).flatten(1).all(1)
    assert torch.all(dropped ^ kept)
    assert dropped.any() and kept.any()
    return dropped


def test_train_mode_drops_whole_branches_per_sample() -> None:
    """resnetv2: out = shortcut + drop(branch); each sample's out - shortcut is 0 or branch / (1 - p)."""
    point = FAMILY.point(
        layers=[1, 1, 1, 1],
        widths=[32] * 4,
        stem_width=32,
        norm="groupnorm_ws",
        gn_groups=4,
        drop_path_rate=0.5,
    )
    block = FAMILY.build(point).stages[0].blocks[0].train()
    assert isinstance(block, PreActBottleneck) and block.drop_path.p == 0.5 / 4
    block.drop_path.p = 0.5
    x = torch.randn(64, 32, 6, 6)
    torch.manual_seed(3)
    with torch.no_grad():
        shortcut = block.downsample(block.norm1(x))
        branch = block.conv3(block.norm3(block.conv2(block.norm2(block.conv1(block.norm1(x))))))
        out = block(x)
    _per_sample(block.drop_path, branch, out - shortcut)


def test_resnet_train_mode_drops_whole_branches_per_sample() -> None:
    """resnet: the StochasticDepth on each block's residual branch (before the add) drops whole samples."""
    model = get_family("resnet").build(
        {"layers": [1, 1, 1, 2], "block": "basic", "drop_path_rate": 0.8, "num_classes": 3}
    )
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    last = model.layer4[1]
    last.stochastic_depth.register_forward_hook(lambda m, i, o: seen.append((i[0], o.clone())))
    torch.manual_seed(3)
    with torch.no_grad():
        model.train()(torch.randn(32, 3, 32, 32))
    ((branch, dropped_branch),) = seen
    assert branch.shape[1] == last.bn2.num_features  # the hook sits on the residual branch
    _per_sample(last.stochastic_depth, branch, dropped_branch)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"norm": "groupnorm_ws", "stem_width": 24}, "gn_groups must divide the stem width"),
        (
            {"norm": "groupnorm_ws", "gn_groups": 8, "widths": [8, 8, 8, 8], "resolution": 8},
            "every GroupNorm group needs more than one value",
        ),
        ({"layers": [3, 4, 6]}, "layers must be a list of 4 integers in [1, 64]"),
        ({"norm": "layernorm"}, "norm must be one of {batchnorm, groupnorm_ws}"),
        ({"depth": 34}, "depth must be one of {50, 101, 152, 200}"),
        ({"drop_path_rate": 1.5}, "drop_path_rate must be"),
    ],
)
def test_bad_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    text = str(err.value)
    assert message in text and "\n" not in text
