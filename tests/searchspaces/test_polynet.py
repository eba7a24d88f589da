"""PolyNet: the released Very Deep PolyNet's layout, the PolyInception algebra, bad points.

A scratch check (Cadene's pretrainedmodels polynet.py, random init, not a dependency) proved the
reference state dict strict-loads into ours with equal logits (max |dlogit| 0, plain and with
perturbed batch-norm statistics); the layout is pinned here by hash.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from scalesearch.errors import PointError
from searchspaces.polyinception import MODULES, MultiWay, Poly
from searchspaces.polynet import FAMILY, module_types, scales
from tests.searchspaces.golden import state_dict_sha256

# sha256 of the reference's "key shape" lines (shape written 64x3x3x3, joined by "\n"), computed in a
# scratch environment from pretrainedmodels 0.7.4 PolyNet() (random init, 3,104 entries):
#   "\n".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in model.state_dict().items())
POLYNET_SHA256 = "5cf40857bbcede02804fd9c0c816fdd0585433c9d31662acbddb2642761f681c"


def test_state_dict_layout_is_the_released_models() -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point("polynet"))
    assert state_dict_sha256(model) == POLYNET_SHA256


def test_very_deep_polynet_layout_and_scales() -> None:
    """10 2-way (A); 10 poly-3 and 10 2-way alternated (B); 5 poly-3 and 5 2-way alternated (C);
    residual scales linear from 1 to 0.7 as the released model prints them."""
    point = FAMILY.canonical_point("polynet")
    kinds = module_types(point)
    assert [k for s, k in kinds if s == "A"] == ["2-way"] * 10
    assert [k for s, k in kinds if s == "B"] == ["poly-3", "2-way"] * 10
    assert [k for s, k in kinds if s == "C"] == ["poly-3", "2-way"] * 5
    assert scales(point)[:3] == [1.0, 0.992308, 0.984615] and scales(point)[-1] == 0.7
    # Inception residual units evaluated per stage: 2 per 2-way, 3 per poly-3 -> 20, 50, 25.
    units = {s: sum(MODULES[k][1] for st, k in kinds if st == s) for s in "ABC"}
    assert units == {"A": 20, "B": 50, "C": 25}


def test_very_deep_polynet_beside_very_deep_inception_resnet() -> None:
    """The paper's two very deep networks: PolyNet 10-20-10 (mixed) and IR 20-56-20. This family
    counts (fvcore convention at 331 px) 95.4M / 34.8 GFLOPs against 117.8M / 36.6 GFLOPs: comparable
    cost, 19% fewer parameters (poly-3's shared convolutions)."""
    poly = FAMILY.complexity(FAMILY.canonical_point("polynet"))
    ir = FAMILY.complexity(FAMILY.canonical_point("polynet_ir_20_56_20"))
    assert (f"{poly.params / 1e6:.1f}M", f"{poly.flops / 1e9:.1f}G") == ("95.4M", "34.8G")
    assert (f"{ir.params / 1e6:.1f}M", f"{ir.flops / 1e9:.1f}G") == ("117.8M", "36.6G")


def _pair(kind: str) -> tuple[nn.Module, Tensor]:
    torch.manual_seed(0)
    combine, orders = MODULES[kind]
    if combine == "poly":
        module: nn.Module = Poly("A", 8, 0.1, orders, 0.5)
    else:
        module = MultiWay("A", 8, 0.1, orders, 0.5, compose=combine == "mpoly")
    for m in module.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return module.eval(), torch.randn(2, 8, 6, 6)


@pytest.mark.parametrize("orders", [2, 3])
def test_poly_n_is_a_polynomial_in_one_shared_block(orders: int) -> None:
    """poly-N = relu(x + s F(x) + s F(F(x)) + ...), F's convolutions stored once: with the later
    orders' batch norms and projections set to the first's, each term is the same F again."""
    poly, x = _pair(f"poly-{orders}")
    convs = [m for m in poly.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 + orders  # one set of branch convs for every order, a projection per order
    with torch.no_grad():
        for name, m in poly.named_modules():
            if name.endswith("bn_blocks") or name == "conv2d_blocks":
                for later in m[1:]:
                    later.load_state_dict(m[0].state_dict())
        f = lambda h: poly.block(h, 0)  # noqa: E731
        expected, h = x.clone(), x
        for _ in range(orders):
            h = f(h)
            expected = expected + 0.5 * h
            h = torch.relu(h)
        torch.testing.assert_close(poly(x), torch.relu(expected))


@pytest.mark.parametrize("orders", [2, 3])
def test_mpoly_n_composes_distinct_blocks(orders: int) -> None:
    """mpoly-2 = relu(x + s F(x) + s G(F(x))), mpoly-3 adds s H(G(F(x))): distinct weights."""
    mpoly, x = _pair(f"mpoly-{orders}")
    blocks = list(mpoly.blocks)
    assert blocks[0].path2.conv.weight is not blocks[1].path2.conv.weight
    with torch.no_grad():
        expected, h = x.clone(), x
        for block in blocks:
            h = block(h)
            expected = expected + 0.5 * h
            h = torch.relu(h)
        torch.testing.assert_close(mpoly(x), torch.relu(expected))


@pytest.mark.parametrize("orders", [2, 3])
def test_n_way_does_not_compose(orders: int) -> None:
    """2-way = relu(x + s F(x) + s G(x)): every block reads the input, none reads another's output."""
    way, x = _pair(f"{orders}-way")
    with torch.no_grad():
        expected = x + sum(0.5 * block(x) for block in way.blocks)
        torch.testing.assert_close(way(x), torch.relu(expected))
        composed = x + 0.5 * way.blocks[0](x) + 0.5 * way.blocks[1](torch.relu(way.blocks[0](x)))
        assert not torch.allclose(way(x), torch.relu(composed))


def test_order_n_modules_cost_n_blocks_and_poly_shares_weights() -> None:
    """Same FLOPs for poly-N, mpoly-N and N-way (N blocks evaluated); poly-N stores one set of branch
    convolutions, so fewer parameters than mpoly-N = N-way."""
    base = {"depths": [0, 1, 0], "width_multiplier": 0.25, "resolution": 75}
    cost = {k: FAMILY.complexity({**base, "modules_b": k}) for k in MODULES}
    stem = FAMILY.complexity({**base, "depths": [0, 0, 0]})
    block = cost["ir"].flops - stem.flops
    for kind, (_, orders) in MODULES.items():
        assert cost[kind].flops - stem.flops == orders * block
    for n in (2, 3):
        assert cost[f"poly-{n}"].params < cost[f"mpoly-{n}"].params == cost[f"{n}-way"].params


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"depths": [1, 1]},
            "depths must be a list of 3 integers in [0, 64], written a,b,c, but got depths=1,1",
        ),
        ({"resolution": 74}, "resolution must be an int in [75, 2048], but got resolution=74"),
        (
            {"modules_b": "poly-4"},
            "modules_b must be one of {ir, poly-2, mpoly-2, 2-way, poly-3, mpoly-3, 3-way, poly-3+2-way",
        ),
    ],
)
def test_invalid_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
