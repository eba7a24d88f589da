"""The thin public surface: list, create and load by name, in timm's idiom."""

from __future__ import annotations

import pytest
import torch

import scalesearch
from scalesearch.errors import PointError


def test_all_names_exist() -> None:
    for name in scalesearch.__all__:
        assert hasattr(scalesearch, name), name


def test_list_families_and_models() -> None:
    assert {"resnet", "wrn", "densenet", "mbconv", "efficientnet"} <= set(scalesearch.list_families())
    assert scalesearch.list_models("efficientnet_b[01]") == ["efficientnet_b0", "efficientnet_b1"]
    assert "resnet50" in scalesearch.list_models()


def test_create_model_by_canonical_name_and_by_family() -> None:
    named = scalesearch.create_model("resnet18", num_classes=10)
    by_family = scalesearch.create_model("resnet", depth=18, num_classes=10)
    assert sum(p.numel() for p in named.parameters()) == sum(p.numel() for p in by_family.parameters())
    assert named.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_create_model_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(PointError, match="unknown network 'resnet51'; canonical networks: .*resnet50"):
        scalesearch.create_model("resnet51")
