"""Pretrained starts and fine-tuning: load a reference checkpoint strictly, swap the classifier,
freeze the backbone.

Our modules use the reference implementations' parameter names (torchvision's, timm's), so a
reference state dict loads into the network of the same point as it is. The classifier is the
network's last ``nn.Linear``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from scalesearch.errors import ScalesearchError

WRAPPER_KEYS = ("state_dict", "model")
"""Keys under which training scripts (timm's, torchvision's references) nest the state dict."""
SHOWN = 5
"""Keys named per kind of mismatch before the rest is counted."""


class InitError(ScalesearchError):
    """A state-dict file (``--init``, ``--checkpoint``) that cannot be read, or does not fit the network."""


def read_state_dict(path: str | Path, flag: str = "--init") -> dict[str, Tensor]:
    """The state dict in ``path``: a plain one (torchvision/timm layout) or one nested under
    ``state_dict``/``model``; a ``module.`` prefix on every key (DataParallel) is dropped. Errors
    name the file as the option ``flag`` that gave it."""
    path = Path(path)
    if not path.is_file():
        raise InitError(f"{flag} {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign file fails torch's unpickler in many ways (KeyError, ...)
        reason = type(err).__name__ + "".join(f": {line}" for line in str(err).strip().splitlines()[:1])
        raise InitError(
            f"{flag} {path}: not a state-dict file torch.load(weights_only=True) can read ({reason[:200]})"
        ) from None
    for key in WRAPPER_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise InitError(
            f"{flag} {path}: a state dict (names to tensors) must be in it, or under 'state_dict' or "
            f"'model', but it holds a {type(obj).__name__}"
        )
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _listed(kind: str, items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    more = f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return f"{len(items)} {kind}: {shown}{more}"


def load_strict(model: nn.Module, state: Mapping[str, Tensor], source: str, flag: str = "--init") -> None:
    """Load ``state`` into ``model`` strictly; a mismatch is one line naming the missing and
    unexpected keys and the shape mismatches (a few of each, then a count)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            _listed(kind, items)
            for kind, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if items
        ]
        raise InitError(f"{flag} {source} does not fit this network strictly: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)


def find_classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """The classifier: the network's last ``nn.Linear`` (its qualified name and the module)."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ScalesearchError(
            f"found no nn.Linear classifier in {type(model).__name__}; --num-classes and "
            "--freeze-backbone need one"
        )
    return found[-1]


def replace_classifier(model: nn.Module, num_classes: int) -> str:
    """Put a new, freshly initialised classifier with ``num_classes`` outputs in place of the old
    one; returns its name."""
    if num_classes < 1:
        raise ScalesearchError(f"--num-classes must be >= 1, but got --num-classes {num_classes}")
    name, old = find_classifier(model)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    setattr(parent, attr, new.to(old.weight.device, old.weight.dtype))
    return name


def _stay_in_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def freeze_backbone(model: nn.Module) -> str:
    """Train the classifier only: every other parameter stops requiring gradients, and every module
    outside the classifier stays in eval mode (batch-norm statistics and dropout frozen) whatever
    ``model.train()`` says. Returns the classifier's name."""
    head, _ = find_classifier(model)
    parts = head.split(".")
    ancestors = {".".join(parts[:i]) for i in range(len(parts))}  # "" (the network) included
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(head + "."))
    for name, module in model.named_modules():
        if name in ancestors or name == head or name.startswith(head + "."):
            continue
        module.train = types.MethodType(_stay_in_eval, module)
        nn.Module.train(module, False)
    return head
