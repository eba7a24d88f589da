"""DenseNet family: torchvision parity, CIFAR DenseNet-BC, per-form defaults, bad points.

fvcore traces one node per dense layer op, so its cost grows with depth rather than
resolution (~0.1-0.3 s per dense layer on 2 cores): fvcore runs here on densenet121 and on
golden points; the conformance suite ties every canonical net's build params and analytic
counts to its reference, and the analytic counts to fvcore on random small points.
"""

from __future__ import annotations

import pytest

from scalesearch.cost.fvcore_count import FvcoreCounts, count
from scalesearch.errors import PointError
from searchspaces.densenet import FAMILY

CANONICAL = {c.name: c for c in FAMILY.canonical}

# Our exact counts for the paper's CIFAR-10 DenseNet-BC nets (Huang et al. 2017, Table 2:
# 0.8M, 15.3M, 25.6M); fvcore flops at 32x32, 10 classes.
CIFAR_COUNTS = {
    "densenet_bc_100_12": (769_162, 296_504_796),
    "densenet_bc_250_24": (15_324_406, 5_504_278_332),
    "densenet_bc_190_40": (25_624_430, 9_388_695_820),
}

# Golden non-canonical points: params and fvcore 0.1.5 flops (eval mode, batch 1, at the
# point's resolution) of the reference model, measured with torch 2.14.1 + torchvision 0.29.1:
# imagenet form = torchvision.models.densenet.DenseNet(growth_rate, block_config,
# num_init_features, bn_size, drop_rate, num_classes); cifar form = the same with
# features.conv0 replaced by Conv2d(3, 2k, 3, 1, 1, bias=False) and norm0/relu0/pool0
# deleted; compression != 0.5 = torchvision's source with `num_features // 2` replaced
# by floor(num_features * compression).
GOLDEN = [
    ({"growth_rate": 12, "block_config": [2, 3, 4], "num_init_features": 16, "resolution": 64,
      "num_classes": 100}, 76_516, 7_857_904),
    ({"growth_rate": 8, "block_config": [1, 2, 3, 2, 1], "num_init_features": 24, "bn_size": 2,
      "dropout": 0.2, "resolution": 96, "num_classes": 10}, 20_942, 10_272_934),
    ({"growth_rate": 48, "block_config": [3], "num_init_features": 96, "resolution": 32,
      "num_classes": 7}, 350_263, 25_072_272),
    ({"growth_rate": 16, "block_config": [4, 4], "num_init_features": 8, "bn_size": 1,
      "resolution": 40}, 130_440, 2_364_300),
    ({"growth_rate": 10, "block_config": [2, 2, 2], "num_init_features": 20, "compression": 0.3,
      "resolution": 56, "num_classes": 5}, 30_884, 4_825_852),
    ({"form": "cifar", "depth": 22, "growth_rate": 12}, 71_686, 32_098_290),
    ({"form": "cifar", "depth": 28, "growth_rate": 24, "num_classes": 100}, 418_300, 176_065_872),
    ({"form": "cifar", "depth": 16, "growth_rate": 8, "compression": 0.7, "bn_size": 2,
      "resolution": 28}, 12_618, 4_393_466),
]  # fmt: skip


def as_dict(fv: FvcoreCounts) -> dict[str, int]:
    return {"params": fv.params, "flops": fv.flops, "activations": fv.activations}


@pytest.mark.parametrize("name", list(CIFAR_COUNTS))
def test_cifar_densenet_bc_exact_counts(name: str) -> None:
    point = FAMILY.canonical_point(name)
    analytic = FAMILY.complexity(point)
    assert (analytic.params, analytic.flops) == CIFAR_COUNTS[name]
    assert f"{analytic.params / 1e6:.1f}M" == CANONICAL[name].reference.paper_params


def test_densenet121_fvcore_matches_torchvision_and_analytic() -> None:
    point = FAMILY.canonical_point("densenet121")
    fv = count(FAMILY.build(point), point["resolution"])
    ref = CANONICAL["densenet121"].reference
    assert (fv.params, fv.flops) == (ref.params, ref.flops)
    assert FAMILY.complexity(point).as_dict() == as_dict(fv)


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN)
def test_golden_points_match_torchvision(values: dict, params: int, flops: int) -> None:
    point = FAMILY.point(values)
    fv = count(FAMILY.build(point), point["resolution"])
    assert (fv.params, fv.flops) == (params, flops)
    assert FAMILY.complexity(point).as_dict() == as_dict(fv)


def test_per_form_defaults_and_derivation() -> None:
    imagenet = FAMILY.point()
    assert imagenet["form"] == "imagenet" and imagenet["depth"] is None
    assert (imagenet["resolution"], imagenet["num_classes"], imagenet["block_config"]) == (
        224,
        1000,
        [6, 12, 24, 16],
    )
    cifar = FAMILY.point(form="cifar")
    assert (cifar["depth"], cifar["growth_rate"], cifar["block_config"], cifar["num_init_features"]) == (
        100, 12, [16, 16, 16], 24
    )  # fmt: skip
    assert (cifar["resolution"], cifar["num_classes"]) == (32, 10)
    assert FAMILY.point(depth=250, growth_rate=24)["form"] == "cifar"  # depth implies the CIFAR form
    assert FAMILY.point(form="cifar", block_config=[6, 6, 6])["depth"] == 40
    assert FAMILY.point(cifar) == cifar  # completing a complete point changes nothing
    assert FAMILY.point(compression=0.29, block_config=[1, 1], growth_rate=50, num_init_features=50)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depth": 101}, "depth must be 6n+4 with n >= 1 for form=cifar (e.g. 40, 100, 190, 250), but got depth=101"),
        ({"depth": 100, "block_config": [16, 16, 15]}, "block_config must be n,n,n with n = (depth-4)/6 for "
         "form=cifar, but got depth=100, block_config=16,16,15"),
        ({"form": "cifar", "block_config": [6, 6]}, "but got depth=40, block_config=6,6"),
        ({"depth": 40, "growth_rate": 12, "num_init_features": 16}, "num_init_features must be 2 * growth_rate "
         "for form=cifar, but got growth_rate=12, num_init_features=16"),
        ({"form": "imagenet", "depth": 121}, "depth applies only to form=cifar"),
        ({"form": "resnet"}, "form must be one of {imagenet, cifar}, but got form=resnet"),
        ({"resolution": 16}, "resolution must leave a map of at least 2x2 before every transition"),
        ({"growth_rate": 1, "num_init_features": 1, "block_config": [1, 1], "compression": 0.1},
         "compression must leave at least 1 channel after every transition"),
        ({"compression": 0.0}, "compression must be a float in [0.1, 1.0], but got compression=0.0"),
        ({"block_config": [6, 0, 3]}, "block_config must be a list of 1 to 8 integers"),
        ({"growth_rate": 0}, "growth_rate must be an int in [1, 256], but got growth_rate=0"),
        ({"depth": 4}, "depth must be an int in [10, 1000], but got depth=4"),
    ],
)  # fmt: skip
def test_invalid_points(values: dict, message: str) -> None:
    with pytest.raises(PointError) as err:
        FAMILY.point(values)
    assert message in str(err.value)
