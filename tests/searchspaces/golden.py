"""Golden state-dict layouts: how the family tests compare a network's keys and shapes with the reference's.

The digests in the family tests were computed from the reference implementations (torchvision 0.28.0
and timm 1.0.31, random init, in a scratch environment that is not a dependency of this project):
sha256 over the lines ``"<key> <d0>x<d1>x..."`` of ``model.state_dict()`` in order, buffers included.
Our networks are built on the meta device, so no weights are allocated.
"""

from __future__ import annotations

import hashlib

from torch import nn


def state_dict_sha256(model: nn.Module) -> str:
    """sha256 of a state dict's ``"key shape"`` lines, in order."""
    lines = "\n".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in model.state_dict().items())
    return hashlib.sha256(lines.encode()).hexdigest()
