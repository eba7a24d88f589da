"""Plain conv stacks: torchvision VGG/AlexNet layouts, the papers' map sizes, bad points.

check.py (/work/refdata) proved each torchvision network strict-loads into ours with equal logits;
here the state-dict layout is pinned by hash so that stays true without torchvision.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.plain import ALEXNET, FAMILY, LENET5, LENET5_C3_TABLE, VGG_DEPTHS, ZFNET, feature_sizes
from tests.searchspaces.golden import state_dict_sha256

CANONICAL = {c.name: c for c in FAMILY.canonical}

# sha256 of the reference state dict's "key shape" lines, shape written 64x3x3x3, joined by "\n",
# computed from /work/refdata/golden.json (torchvision 0.28.0 {name}(weights=None)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "vgg11": "b5be72eb18e373b9d033363c7a8d970dc8f0ff42b058c487f4e3a60673dfa276",
    "vgg11_bn": "584c020e58f14a47eeb5c13937a54933e56f12415cc07cf2a5b889448ed58002",
    "vgg13": "d7ec027e64a962d0902826d87e21518323323553f4a2d24bea9eedc29aaf9cd4",
    "vgg13_bn": "5ed408f3007b756f0a63067553652cb846460993b54870603662d5fd9efa5a8e",
    "vgg16": "9eb5cb12aeb518661a363bb6979eee408b0ff9c6d31f82b8824f90609d03efc2",
    "vgg16_bn": "3b23644c6cb2848b4f357adcfcf8fe0216b78e86158a1e0fb9a4ed801a56339c",
    "vgg19": "516450fdcf4b4ef8749dcba46e9c09a6ac426cd85f69d4b5d1e2992c8cb82af1",
    "vgg19_bn": "af3b94f3fd7ba0bdd02ae3c0532dc5f4a766e024027ee262d4d2f383dee57974",
    "alexnet": "25c71b0a8ccd1962eb983e966250035b0f3909510528cf58fc7bb93d36ea4e5e",
}


@pytest.mark.parametrize("name", list(STATE_DICT_SHA256))
def test_state_dict_layout_is_torchvisions(name: str) -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point(name))
    assert state_dict_sha256(model) == STATE_DICT_SHA256[name]


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn", "lenet5", "zfnet", "nin"])
def test_fvcore_equals_reference_and_analytic(name: str) -> None:
    point = FAMILY.canonical_point(name)
    fv = count(FAMILY.build(point), point["resolution"], point["in_channels"])
    analytic = FAMILY.complexity(point)
    assert (analytic.params, analytic.flops, analytic.activations) == (fv.params, fv.flops, fv.activations)
    ref = CANONICAL[name].reference
    if ref.params is not None:
        assert (fv.params, fv.flops) == (ref.params, ref.flops)


def test_headline_parameter_counts() -> None:
    """The seeds' "VGG-16: approx. 138M parameters"; AlexNet's single-tower torchvision form has
    61.1M (the two-tower paper network, 48-128-192-192-128 per tower, is the paper's "60M")."""
    assert f"{FAMILY.complexity(FAMILY.canonical_point('vgg16')).params / 1e6:.0f}M" == "138M"
    assert FAMILY.complexity(FAMILY.canonical_point("alexnet")).params == 61_100_840
    assert FAMILY.complexity(FAMILY.canonical_point("lenet5")).params == 60_000 + 850  # + Linear output


def test_lenet5_per_layer_counts_are_the_papers() -> None:
    """LeCun et al. 1998 section II.B: trainable parameters and connections of C1 ... C5. A conv's
    connections are its multiply-adds plus one bias per output: fvcore's FLOPs + outputs."""
    model = FAMILY.build(FAMILY.canonical_point("lenet5"))
    c1, _, s2, c3, _, s4, c5, _ = model.features
    f6 = model.classifier[0]
    layers = {"C1": c1, "S2": s2, "C3": c3, "S4": s4, "C5": c5, "F6": f6}
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in layers.items()}
    assert params == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48_120, "F6": 10_164}
    assert sum(params.values()) == 60_000
    inputs = {"C1": (1, 32), "S2": (6, 28), "C3": (6, 14), "S4": (16, 10), "C5": (16, 5)}
    connections = {}
    for name, (c, size) in inputs.items():
        fv = count(layers[name], size, c)
        if name in ("S2", "S4"):  # a 2x2 window and a bias per unit; fvcore: one multiply per unit
            assert fv.flops == fv.activations
            connections[name] = (4 + 1) * fv.activations
        else:
            connections[name] = fv.flops + fv.activations
    assert connections == {"C1": 122_304, "S2": 5_880, "C3": 151_600, "S4": 2_000, "C5": 48_120}


def test_lenet5_c3_connection_table() -> None:
    """Table I: six contiguous triples, six contiguous quadruples, three discontinuous quadruples,
    one map reading all six S2 maps; every S2 map feeds ten C3 maps."""
    contiguous = lambda s: any(set(s) == {(a + i) % 6 for i in range(len(s))} for a in range(6))  # noqa: E731
    kinds = [(len(s), contiguous(s)) for s in LENET5_C3_TABLE]
    assert kinds == [(3, True)] * 6 + [(4, True)] * 6 + [(4, False)] * 3 + [(6, True)]
    assert [sum(i in s for s in LENET5_C3_TABLE) for i in range(6)] == [10] * 6


def test_lenet5_c3_equals_a_masked_dense_convolution() -> None:
    """Each C3 map reads only its table's S2 maps: the same as a dense 6 -> 16 conv whose weights
    from the other maps are zero; c3_table=full is that dense conv (2,416 parameters)."""
    sparse = FAMILY.build(FAMILY.canonical_point("lenet5")).features[3]
    dense = nn.Conv2d(6, 16, 5)
    with torch.no_grad():
        dense.weight.zero_()
        for j, (conv, inputs) in enumerate(zip(sparse.maps, LENET5_C3_TABLE, strict=True)):
            dense.weight[j, list(inputs)] = conv.weight[0]
            dense.bias[j] = conv.bias[0]
        x = torch.randn(2, 6, 14, 14)
        torch.testing.assert_close(sparse(x), dense(x))
    full = FAMILY.build({**LENET5, "c3_table": "full"}).features[3]
    assert sum(p.numel() for p in full.parameters()) == 2416


def test_vgg_configurations_are_table_1() -> None:
    """Weight layers: 11, 13, 16, 19 (convolutions plus three fully connected)."""
    assert {name: sum(d) + 3 for name, d in VGG_DEPTHS.items()} == {
        "vgg11": 11,
        "vgg13": 13,
        "vgg16": 16,
        "vgg19": 19,
    }
    assert FAMILY.point()["depths"] == VGG_DEPTHS["vgg16"]


def test_papers_map_sizes() -> None:
    # LeNet-5 (LeCun et al. 1998, Fig. 2): C1 28, S2 14, C3 10, S4 5, C5 1.
    assert feature_sizes(FAMILY.point(LENET5)) == [28, 14, 10, 5, 1]
    # ZFNet (Zeiler & Fergus 2014, Fig. 3): 110, pool 55, 26, pool 13, 13, 13, 13, pool 6.
    assert feature_sizes(FAMILY.point(ZFNET)) == [110, 55, 26, 13, 13, 13, 13, 6]
    # AlexNet (torchvision): 55, 27, 27, 13, 13, 13, 13, 6 -> AdaptiveAvgPool2d((6, 6)).
    assert feature_sizes(FAMILY.point(ALEXNET)) == [55, 27, 27, 13, 13, 13, 13, 6]


def test_alexnet_head_puts_dropout_first_vgg_last() -> None:
    with torch.device("meta"):
        alex = FAMILY.build(FAMILY.canonical_point("alexnet"))
        vgg = FAMILY.build(FAMILY.canonical_point("vgg11"))
    kinds = lambda m: [type(x).__name__ for x in m.classifier]  # noqa: E731
    assert kinds(alex) == ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    assert kinds(vgg) == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_nin_mlpconv_and_global_average_pooling() -> None:
    point = FAMILY.canonical_point("nin")
    model = FAMILY.build(point)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [11, 1, 1, 5, 1, 1, 3, 1, 1, 3, 1, 1]
    assert convs[-1].out_channels == 1000 and not any(isinstance(m, nn.Linear) for m in model.modules())
    assert point["avgpool"] is None and point["head_layers"] is None  # fc-head parameters are inactive
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_width_multiplier_and_lenet_input_channels() -> None:
    with torch.device("meta"):
        half = FAMILY.build({"depths": [1, 1, 2, 2, 2], "width_multiplier": 0.5})
        lenet = FAMILY.build(FAMILY.canonical_point("lenet5"))
    assert [m.out_channels for m in half.features if isinstance(m, nn.Conv2d)] == [
        32,
        64,
        128,
        128,
        256,
        256,
        256,
        256,
    ]
    assert lenet.features[0].in_channels == 1
    with torch.no_grad():
        assert FAMILY.build(LENET5)(torch.randn(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depths": [1, 1], "widths": [8, 16, 32]}, "widths must have one entry per stage (as many as depths), "
         "but got depths=1,1, widths=8,16,32"),
        ({"depths": [1, 1], "widths": [8, 16], "kernels": [3]}, "kernels must have one entry per stage"),
        ({"depths": [1], "widths": [8], "pools": [1, 0]}, "pools must have one entry per stage"),
        ({"resolution": 16}, "resolution must leave a map of at least 1x1 after every convolution and pooling "
         "window, but got resolution=16"),
        ({**ALEXNET, "resolution": 32}, "resolution must leave a map of at least 1x1"),
        ({"pools": [1, 1, 2, 1, 1]}, "pools must be a list of 1 to 8 integers in [0, 1]"),
        ({"head": "mlp"}, "head must be one of {fc, gap}, but got head=mlp"),
        ({"depths": [0, 1]}, "depths must be a list of 1 to 8 integers in [1, 16]"),
        ({**LENET5, "width_multiplier": 2.0}, "c3_table=paper needs a second stage whose first convolution "
         "maps 6 to 16 channels (LeNet-5's C3), but got"),
        ({"c3_table": "paper"}, "c3_table=paper needs a second stage"),
    ],
)  # fmt: skip
def test_invalid_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
