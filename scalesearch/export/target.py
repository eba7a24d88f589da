"""What to export: a family point or a canonical network, with weights from a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from scalesearch.errors import PointError
from scalesearch.family import Family
from scalesearch.space import Point


@dataclass(frozen=True)
class Target:
    """A resolved export target: its family, its complete point, and what the user called it."""

    family: Family
    point: Point
    name: str

    @property
    def resolution(self) -> int:
        return int(self.point["resolution"])

    @property
    def channels(self) -> int:
        return self.family.input_channels(self.point)


def resolve_target(name: str, values: Sequence[str] = (), resolution: int | None = None) -> Target:
    """``name`` is a family (its point from ``values``, key=value) or a canonical network (``values``
    override its point); ``resolution`` (--resolution) overrides the point's and must agree with a
    ``resolution=`` among ``values``."""
    from scalesearch.registry import canonical_names, family_names, find_canonical, get_family

    if name in family_names():
        family, base = get_family(name), {}
    elif name in canonical_names():
        family, canonical = find_canonical(name)
        base = dict(canonical.values)
    else:
        raise PointError(
            f"TARGET must be a family or a canonical network, but got {name!r}; families: "
            f"{', '.join(family_names())} (networks: scalesearch fixed-points)"
        )
    given = family.space.parse(list(values))
    if resolution is not None:
        if "resolution" in given and given["resolution"] != resolution:
            raise PointError(
                f"resolution is given twice with different values: resolution={given['resolution']} "
                f"and --resolution {resolution}"
            )
        given["resolution"] = family.space.param("resolution").domain.check("resolution", resolution)
    return Target(family, family.point({**base, **given}), name)


def build(target: Target, checkpoint: str | Path | None = None) -> nn.Module:
    """The eval-mode network of ``target``; with ``checkpoint`` (a state dict, or a ``scalesearch
    train`` checkpoint holding one under ``model``) its weights, loaded strictly. The file is read
    before the network is built, so a bad file fails fast."""
    from scalesearch.cost.record import check_buildable
    from scalesearch.train.init import load_strict, read_state_dict

    state = None if checkpoint is None else read_state_dict(checkpoint, "--checkpoint")
    check_buildable(target.family, target.point, "export", batch_size=2)
    model = target.family.build(target.point)
    if state is not None:
        load_strict(model, state, str(checkpoint), "--checkpoint")
    return model.eval()
