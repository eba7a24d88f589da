"""Golden state-dict layouts: how the family tests compare a network's keys and shapes with the reference's.

The digests in the family tests were computed from the reference implementations (torchvision 0.28.0
and timm 1.0.31, random init, in a scratch environment that is not a dependency of this project):
sha256 over the lines ``"<key> <d0>x<d1>x..."`` of ``model.state_dict()`` in order, buffers included.
Our networks are built on the meta device, so no weights are allocated.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from scalesearch.cost.fvcore_count import FvcoreCounts, count
from scalesearch.family import Canonical, Family


def state_dict_sha256(model: nn.Module) -> str:
    """sha256 of a state dict's ``"key shape"`` lines, in order."""
    lines = "\n".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in model.state_dict().items())
    return hashlib.sha256(lines.encode()).hexdigest()


def check_canonical(family: Family, canonical: Canonical, digest: str) -> None:
    """fvcore on the built network equals the reference's counts and the analytic path, and the
    network's state-dict layout (built on the meta device) has the reference's digest."""
    check_counts(family, canonical)
    check_layout(family, canonical, digest)


def check_counts(family: Family, canonical: Canonical) -> FvcoreCounts:
    """fvcore on the built network equals the reference's params and FLOPs, and the analytic path
    equals fvcore (activations too); fvcore's count, for further checks."""
    point = family.point(canonical.values)
    counted = count(family.build(point), point["resolution"])
    assert (counted.params, counted.flops) == (canonical.reference.params, canonical.reference.flops)
    analytic = family.complexity(point)
    assert (analytic.params, analytic.flops, analytic.activations) == (
        counted.params,
        counted.flops,
        counted.activations,
    )
    return counted


def check_layout(family: Family, canonical: Canonical, digest: str) -> None:
    """The state-dict layout, built on the meta device (no weights allocated), has the reference's
    digest, and the analytic parameter count is the reference's."""
    point = family.point(canonical.values)
    with torch.device("meta"):
        assert state_dict_sha256(family.build(point)) == digest
    assert family.complexity(point).params == canonical.reference.params


def check_golden_point(family: Family, values: dict[str, Any], params: int, flops: int) -> None:
    """A non-canonical point measured on the reference: fvcore and the analytic path both match it."""
    point = family.point(values)
    counted = count(family.build(point), point["resolution"])
    assert (counted.params, counted.flops) == (params, flops)
    assert (family.complexity(point).params, family.complexity(point).flops) == (params, flops)
