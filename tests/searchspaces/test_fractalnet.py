"""FractalNet: the paper's CIFAR network, the expansion rule, mean joins and drop-path.

The reference implementation is pytorchcv's (osmr/imgclsmob, not in torchvision or timm): its
``fractalnet_cifar10``/``fractalnet_cifar100`` have our canonical networks' counts and state-dict
layout, and their state dicts load strictly into ours with equal eval-mode logits (checked in a
scratch environment, below). The paper's one printed parameter count is not reproduced.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scalesearch.errors import PointError
from searchspaces.fractalnet import (
    FAMILY,
    PAPER_WIDTHS,
    FractalNet,
    block_widths,
    ending_columns,
    join,
    local_keep,
)
from tests.searchspaces.golden import check_layout

CANONICAL = {c.name: c for c in FAMILY.canonical}

# sha256 of the reference state dict's "key shape" lines (212 entries, buffers included; see
# tests/searchspaces/golden.py), from pytorchcv 0.0.74 (PyPI wheel, not a dependency), random init:
#   torch.manual_seed(0); m = pytorchcv.models.fractalnet_cifar.fractalnet_cifar10().eval()
#   "\n".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in m.state_dict().items())
# The same script loaded m's state dict, and one with random BN statistics and affine weights,
# strictly into FAMILY.build(canonical point): max |logit difference| 0.0 on 2x3x32x32 inputs,
# for fractalnet_cifar100 too; params and fvcore FLOPs equal the canonical table's.
STATE_DICT_SHA256 = {
    "fractalnet_cifar10": "4d360d3d171e42e5210ac20fb2d2fe306b472965cfaaaace1aa03c978ca648ca",
    "fractalnet_cifar100": "35307aca63ff238ae4df0495bfcefdc47013c67a7cbf236a58fac0544c693528",
}


def _net(**values: object) -> FractalNet:
    torch.manual_seed(0)
    model = FAMILY.build({"columns": 3, "blocks": 2, "width": 4, "resolution": 8, **values})
    assert isinstance(model, FractalNet)
    return model


def _freeze_norms(model: nn.Module) -> nn.Module:
    """Training mode (drop-path on) with batch norm on its running statistics, so outputs compare."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    return model


def test_paper_cifar_network_and_its_printed_count() -> None:
    """Section 4: C=3, B=5, widths 64-128-256-512-512, 20 layers on the deepest path. Table 1 prints
    "FractalNet (20 layers, 38.6M params)"; the layout the text describes -- each column's first
    conv reads the block input, every other conv the block width -- has 33.7M (33.7M too with the
    authors' Caffe units: conv bias, BatchNorm without scale). Not reproduced: no reading found
    gives 38.6M (every conv at the block width, as if a free transition fed each block: 38.5M; a
    1x1 transition conv before each block: 38.9M)."""
    point = FAMILY.canonical_point("fractalnet_cifar10")
    assert point["widths"] == block_widths(64, 5) == PAPER_WIDTHS == [64, 128, 256, 512, 512]
    assert point["blocks"] * 2 ** (point["columns"] - 1) == 20
    params = FAMILY.complexity(point).params
    assert params == CANONICAL["fractalnet_cifar10"].reference.params == 33_724_618
    assert CANONICAL["fractalnet_cifar10"].reference.paper_params == "38.6M"
    convs = 5 * (2**3 - 1)
    caffe = params - 7 * sum(point["widths"])  # + a conv bias, - a BN scale and shift per channel
    assert (caffe, f"{caffe / 1e6:.1f}M") == (33_714_314, "33.7M")
    # Table 1's "40 layers, 22.9M params" (C=4): these widths give 76.1M, and the paper states no others
    assert FAMILY.complexity(FAMILY.point(point, columns=4)).params == 76_106_634
    with torch.device("meta"):
        model = FAMILY.build(point)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs


@pytest.mark.parametrize("name", sorted(STATE_DICT_SHA256))
def test_state_dict_layout_is_pytorchcvs(name: str) -> None:
    """pytorchcv's keys and shapes, in its order: rows ``block{r}``, columns ``subblock{k}``
    deepest first, then ``output``; the analytic count is the reference's."""
    check_layout(FAMILY, CANONICAL[name], STATE_DICT_SHA256[name])
    with torch.device("meta"):
        keys = list(FAMILY.build(FAMILY.canonical_point(name)).state_dict())
    assert keys[0] == "features.unit1.block.blocks.block1.subblock1.conv.weight"
    assert "features.unit5.block.blocks.block4.subblock3.bn.running_var" in keys
    assert keys[-2:] == ["output.weight", "output.bias"]


def test_expansion_rule_unrolls_into_columns_and_joins() -> None:
    """f_{C+1}(z) = join(f_C(f_C(z)), conv(z)): column j has 2**j units; the joins of f_{C+1} are
    those of its two f_C copies shifted one column deeper, the last one also taking conv(z)."""
    assert [ending_columns(3, r) for r in range(1, 5)] == [[2], [1, 2], [2], [0, 1, 2]]
    for c in range(1, 6):
        half = 2 ** (c - 1)
        for r in range(1, 2 * half + 1):
            inner = [j + 1 for j in ending_columns(c, (r - 1) % half + 1)]
            assert ending_columns(c + 1, r) == ([0] if r == 2 * half else []) + inner
    block = _net(columns=4).features.unit1.block
    levels = [dict(level.named_children()) for level in block.blocks]
    assert [sum(f"subblock{4 - j}" in level for level in levels) for j in range(4)] == [1, 2, 4, 8]
    assert block.unit(2, 2).conv.in_channels == 3 and block.unit(2, 4).conv.in_channels == 4
    assert block.unit(3, 1) is levels[0]["subblock1"]  # pytorchcv's subblock1: the deepest column


def test_join_is_the_elementwise_mean_of_the_kept_inputs() -> None:
    a, b, c = torch.randn(3, 2, 4, 5, 5)
    assert torch.allclose(join([a, b, c]), (a + b + c) / 3)
    assert torch.allclose(join([a, b, c], [True, False, True]), (a + c) / 2)
    assert join([a, b], [False, True]) is b


def test_local_drop_keeps_at_least_one_input() -> None:
    torch.manual_seed(0)
    assert all(sum(local_keep(n, 1.0)) == 1 for n in (2, 3, 4) for _ in range(20))
    assert local_keep(4, 0.0) == [True] * 4
    draws = [local_keep(3, 0.5) for _ in range(300)]
    assert all(any(k) for k in draws) and len({tuple(k) for k in draws}) == 7  # every non-empty subset


def test_eval_mode_is_deterministic_whatever_the_drop_path() -> None:
    x = torch.randn(2, 3, 8, 8)
    model = _net(local_drop=0.9, global_drop=0.9, dropout=0.3).eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second)


def test_global_drop_path_trains_one_column_through_the_whole_network() -> None:
    x = torch.randn(2, 3, 8, 8)
    model = _net(global_drop=1.0).eval()
    alone = []
    with torch.no_grad():
        for k in range(3):
            model.column = k
            alone.append(model(x))
        model.column = None
        _freeze_norms(model)
        picked = set()
        for seed in range(30):
            torch.manual_seed(seed)
            out = model(x)
            match = [k for k in range(3) if torch.allclose(out, alone[k])]
            assert len(match) == 1
            picked.add(match[0])
    assert picked == {0, 1, 2}


def test_local_drop_path_changes_training_outputs_only_through_the_joins() -> None:
    x = torch.randn(2, 3, 8, 8)
    model = _net(global_drop=0.0, local_drop=0.0).eval()
    with torch.no_grad():
        full = model(x)
        assert torch.allclose(_freeze_norms(model)(x), full)  # no drop: the eval network
        model.local_drop = 0.5
        outs = [model(x) for _ in range(10)]
    assert any(not torch.allclose(o, full) for o in outs)


def test_dropout_per_block_and_pool_order() -> None:
    model = _net(blocks=3, dropout=0.1, resolution=8)
    rates = [[m.p for m in b.modules() if isinstance(m, nn.Dropout)] for b in model.features]
    assert rates[0] == [] and set(rates[1]) == {0.1} and rates[2] == [pytest.approx(0.2)] * 7
    join_pool, pool_join = (
        FAMILY.point(columns=2, blocks=2),
        FAMILY.point(columns=2, blocks=2, pool_first=True),
    )
    assert FAMILY.complexity(join_pool) == FAMILY.complexity(pool_join)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"blocks": 3, "widths": [8, 16]}, "widths must have one entry per block (as many as blocks), "
         "but got blocks=3, widths=8,16"),
        ({"blocks": 6}, "resolution must be at least 2**blocks (each block's max-pool halves the side), "
         "but got resolution=32, blocks=6"),
        ({"dropout": 0.3}, "dropout*(blocks-1), the last block's dropout rate, must be below 1"),
        ({"columns": 0}, "columns must be"),
    ],
)  # fmt: skip
def test_invalid_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
