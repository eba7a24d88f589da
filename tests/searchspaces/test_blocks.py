"""Shared blocks: each cost twin equals fvcore on its layer, module names are torchvision's, and
one InvertedResidual lays out MobileNetV2's, EfficientNet's and MobileNetV3's blocks."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from scalesearch.cost.analytic import Tally
from scalesearch.cost.fvcore_count import count
from searchspaces.blocks import (
    ConvNormAct,
    InvertedResidual,
    InvertedResidualConfig,
    SqueezeExcitation,
    StochasticDepth,
)
from searchspaces.rounding import make_divisible

V3_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
CONFIGS = {
    # MobileNetV2: expansion kept whenever t != 1, even where round(c_in * t) == c_in
    "v2": InvertedResidualConfig(16, 16, 16, act=nn.ReLU6, expand=True, layout="conv"),
    "v2-t1": InvertedResidualConfig(32, 32, 16, stride=2, act=nn.ReLU6, expand=False, layout="conv"),
    "efficientnet": InvertedResidualConfig(
        24, 144, 24, 5, act=nn.SiLU, squeeze=6, se_act=partial(nn.SiLU, inplace=True), drop_path=0.1
    ),
    # mobilenet_v3_large features.5: bneck_conf(40, 5, 120, 40, True, "RE", 1, 1)
    "v3": InvertedResidualConfig(
        40, 120, 40, 5, act=nn.ReLU, squeeze=make_divisible(120 // 4, 8), se_gate=nn.Hardsigmoid, norm=V3_NORM
    ),
    "v3-hs": InvertedResidualConfig(80, 80, 112, act=nn.Hardswish, squeeze=24, se_gate=nn.Hardsigmoid),
}


def fvcore_equals_twin(module: nn.Module, twin: partial[int], c_in: int, size: int) -> None:
    t = Tally()
    out_size = twin(t, size=size)
    fv = count(module, size, channels=c_in)
    assert (t.params, t.flops, t.activations) == (fv.params, fv.flops, fv.activations)
    with torch.no_grad():
        assert module.eval()(torch.randn(1, c_in, size, size)).shape[-1] == out_size


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel": 1},
        {"kernel": 3, "stride": 2},
        {"kernel": 5, "groups": 8},
        {"kernel": 3, "dilation": 2},
        {"kernel": 3, "stride": 2, "padding": 0},
    ],
    ids=str,
)
def test_conv_norm_act_twin(kw: dict) -> None:
    module = ConvNormAct(8, 16, act=nn.Hardswish, **kw)
    fvcore_equals_twin(module, partial(ConvNormAct.complexity, c_in=8, c_out=16, **kw), 8, 13)


def test_conv_norm_act_layout() -> None:
    linear = ConvNormAct(8, 16, 1, norm=V3_NORM, act=None)
    assert [type(m) for m in linear] == [nn.Conv2d, nn.BatchNorm2d]
    assert linear[0].bias is None and linear[1].eps == 0.001
    relu6 = ConvNormAct(8, 8, groups=8, act=nn.ReLU6)
    assert isinstance(relu6[2], nn.ReLU6) and relu6[2].inplace
    assert list(relu6.state_dict())[:2] == ["0.weight", "1.weight"]


def test_squeeze_excitation_twin_and_names() -> None:
    se = SqueezeExcitation(32, 8, gate=nn.Hardsigmoid)
    fvcore_equals_twin(se, partial(SqueezeExcitation.complexity, channels=32, squeeze=8), 32, 7)
    assert list(se.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert isinstance(se.activation, nn.ReLU) and isinstance(se.scale_activation, nn.Hardsigmoid)


@pytest.mark.parametrize("name", CONFIGS)
def test_inverted_residual_twin(name: str) -> None:
    cfg = CONFIGS[name]
    twin = partial(InvertedResidual.complexity, cfg=cfg)
    fvcore_equals_twin(InvertedResidual(cfg), twin, cfg.c_in, 15)


def test_mobilenet_v2_layout() -> None:
    block = InvertedResidual(CONFIGS["v2"])
    assert block.use_res_connect and block.stochastic_depth is None
    assert [k for k in block.state_dict() if k.endswith("weight")] == [
        "conv.0.0.weight", "conv.0.1.weight", "conv.1.0.weight", "conv.1.1.weight", "conv.2.weight",
        "conv.3.weight",
    ]  # fmt: skip
    assert len(InvertedResidual(CONFIGS["v2-t1"]).conv) == 3


def test_efficientnet_layout() -> None:
    block = InvertedResidual(CONFIGS["efficientnet"])
    assert isinstance(block.stochastic_depth, StochasticDepth) and block.stochastic_depth.p == 0.1
    assert [type(m).__name__ for m in block.block] == [
        "ConvNormAct", "ConvNormAct", "SqueezeExcitation", "ConvNormAct",
    ]  # fmt: skip
    assert isinstance(block.block[2].activation, nn.SiLU) and isinstance(block.block[0][2], nn.SiLU)


def test_mobilenet_v3_layout() -> None:
    """torchvision's mobilenet_v3_large block: expansion and depthwise with ReLU or Hardswish,
    SE squeezing to make_divisible(hidden // 4, 8) with ReLU and a hard-sigmoid gate."""
    block = InvertedResidual(CONFIGS["v3"])
    assert [k for k in block.state_dict() if not k.endswith(("running_mean", "running_var", "tracked"))] == [
        "block.0.0.weight", "block.0.1.weight", "block.0.1.bias", "block.1.0.weight", "block.1.1.weight",
        "block.1.1.bias", "block.2.fc1.weight", "block.2.fc1.bias", "block.2.fc2.weight", "block.2.fc2.bias",
        "block.3.0.weight", "block.3.1.weight", "block.3.1.bias",
    ]  # fmt: skip
    assert block.block[2].fc1.out_channels == 32 and isinstance(
        block.block[2].scale_activation, nn.Hardsigmoid
    )
    assert block.block[1][0].kernel_size == (5, 5) and block.block[1][1].momentum == 0.01
    no_expansion = InvertedResidual(CONFIGS["v3-hs"])
    assert len(no_expansion.block) == 3 and isinstance(no_expansion.block[0][2], nn.Hardswish)
    assert not no_expansion.use_res_connect


def test_stochastic_depth_drops_whole_rows_while_training() -> None:
    x = torch.ones(64, 3, 2, 2)
    drop = StochasticDepth(0.5)
    assert drop.eval()(x) is x
    y = drop.train()(x)
    per_row = y.flatten(1)
    assert set(per_row.unique().tolist()) <= {0.0, 2.0}
    assert (per_row == per_row[:, :1]).all()  # a row is kept or dropped whole
    assert StochasticDepth(1.0).train()(x).abs().sum() == 0
    assert repr(drop) == "StochasticDepth(p=0.5, mode=row)"
    with pytest.raises(ValueError, match="must be in \\[0, 1\\], but got p=1.5"):
        StochasticDepth(1.5)
    assert StochasticDepth.complexity(Tally(), 7) == 7
