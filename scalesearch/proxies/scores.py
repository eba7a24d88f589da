"""The five zero-cost proxies of an untrained network, each on one batch; higher = predicted better.

Every proxy works on a copy of the model (the caller's is never changed) in eval mode, so that
dropout, drop-path and auxiliary heads are off and a score depends only on the weights and the
batch; BatchNorm normalises with the batch's statistics (as in training) except in synflow.
"Weights" below are those of the convolution and linear layers, as in Abdelfattah et al. 2021
("Zero-Cost Proxies for Lightweight NAS").

- ``synflow`` (Tanaka et al. 2020): weights made non-negative, BatchNorm in eval mode with
  identity statistics (as the zero-cost papers run it without BN), double precision, an all-ones
  input of one image; R = sum of the output; score = sum |θ ⊙ ∂R/∂θ|. Independent of the batch.
- ``naswot`` (Mellor et al. 2021): binary codes (pre-activation > 0) of every activation over
  the batch; K_H[i, j] = units where images i and j agree; score = log |det K_H|.
- ``grad_norm``: sum over weights of ‖∂L/∂θ‖ (cross-entropy loss of the batch).
- ``snip`` (Lee et al. 2019): sum |θ ⊙ ∂L/∂θ|.
- ``jacob_cov`` (Mellor et al. 2020, v1): the correlation matrix of the input Jacobians of the
  batch; score = −Σ (log(λ + k) + 1/(λ + k)), k = 1e-5, over its eigenvalues λ.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from scalesearch.errors import ScalesearchError
from scalesearch.proxies import PROXIES

F = nn.functional
ACTIVATIONS = frozenset(
    {
        F.relu, F.relu_, torch.relu, torch.relu_, Tensor.relu, Tensor.relu_, F.relu6,
        F.hardtanh, F.hardtanh_, F.leaky_relu, F.leaky_relu_, F.prelu, F.elu, F.elu_, F.selu,
        F.celu, F.gelu, F.silu, F.mish, F.hardswish, torch.tanh, Tensor.tanh, F.tanh,
    }
)  # fmt: skip
"""Activation functions whose input sign gives NASWOT's binary code (a ReLU's on/off state; the
same rule for smooth activations), seen whether called by a module (``nn.ReLU``) or directly
(``F.relu(x, inplace=True)``); gates (sigmoid) are not activations here."""
JACOB_K = 1e-5


class ProxyError(ScalesearchError):
    """A proxy is undefined for this network (e.g. NASWOT without activation modules)."""


def _weights(model: nn.Module) -> Iterator[Tensor]:
    for m in model.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            yield m.weight


def _prepared(model: nn.Module, batch_stats: bool) -> nn.Module:
    """A copy in eval mode (dropout, drop-path and auxiliary heads off), its BatchNorm layers
    normalising with the batch's statistics where ``batch_stats``; gradients cleared."""
    net = copy.deepcopy(model)
    net.eval()
    if batch_stats:
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
    net.zero_grad(set_to_none=True)
    return net


def synflow(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Sum |θ ⊙ ∂R/∂θ|, R = sum of the outputs for an all-ones image, |θ| everywhere (float64)."""
    net = _prepared(model, batch_stats=False).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.zero_()
                assert m.running_var is not None
                m.running_var.fill_(1.0)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    net(ones).sum().backward()
    total = sum(float((w.detach() * w.grad).abs().sum()) for w in _weights(net) if w.grad is not None)
    return float(total)


class _Codes(TorchFunctionMode):
    """Calls ``record(input)`` before every activation function the network calls."""

    def __init__(self, record: Callable[[Tensor], None]) -> None:
        super().__init__()
        self.record = record
        self.calls = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in ACTIVATIONS:
            self.calls += 1
            self.record(args[0] if args else kwargs["input"])
        return func(*args, **kwargs)


def naswot(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """log |det K_H| of the activation-code kernel of the batch (−inf when two codes coincide)."""
    net = _prepared(model, batch_stats=True)
    n = x.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64)

    def record(pre_activation: Tensor) -> None:
        codes = (pre_activation.detach().reshape(n, -1) > 0).double().cpu()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    with torch.no_grad(), _Codes(record) as seen:
        net(x)
    if not seen.calls:
        raise ProxyError("naswot needs activations (ReLU, SiLU, GELU, tanh...), but the network calls none")
    return float(torch.linalg.slogdet(kernel)[1])


def _loss_gradients(model: nn.Module, x: Tensor, y: Tensor) -> nn.Module:
    net = _prepared(model, batch_stats=True)
    nn.functional.cross_entropy(net(x), y).backward()
    return net


def grad_norm(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Sum over the weights of the norm of the loss gradient."""
    net = _loss_gradients(model, x, y)
    return float(sum(float(w.grad.norm()) for w in _weights(net) if w.grad is not None))


def snip(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Sum |θ ⊙ ∂L/∂θ| over the weights (SNIP's connection sensitivity, summed)."""
    net = _loss_gradients(model, x, y)
    return float(sum(float((w.detach() * w.grad).abs().sum()) for w in _weights(net) if w.grad is not None))


def jacob_cov(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """−Σ (log(λ + k) + 1/(λ + k)) over the eigenvalues of the input-Jacobian correlation matrix
    (NaN when an image's Jacobian is constant, so that its correlations are undefined)."""
    net = _prepared(model, batch_stats=True)
    inputs = x.detach().clone().requires_grad_(True)
    out = net(inputs)
    out.backward(torch.ones_like(out))
    assert inputs.grad is not None
    jacobians = inputs.grad.reshape(x.shape[0], -1).double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jacobians)
    if not np.all(np.isfinite(corr)):
        return math.nan
    eig = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eig + JACOB_K) + 1.0 / (eig + JACOB_K)))


FUNCTIONS: dict[str, Callable[[nn.Module, Tensor, Tensor], float]] = {
    "synflow": synflow,
    "naswot": naswot,
    "grad_norm": grad_norm,
    "snip": snip,
    "jacob_cov": jacob_cov,
}


def check_names(names: Sequence[str], valid: Sequence[str] = PROXIES) -> list[str]:
    """``names`` checked against ``valid``: an unknown one is one line listing the valid names."""
    for name in names:
        if name not in valid:
            raise ScalesearchError(f"unknown proxy {name!r}; valid: {', '.join(valid)}")
    if not names:
        raise ScalesearchError(f"no proxy named; valid: {', '.join(valid)}")
    return list(dict.fromkeys(names))


def score(name: str, model: nn.Module, x: Tensor, y: Tensor, seed: int = 0) -> float:
    """One proxy of ``model`` on the batch ``(x, y)`` (torch seeded with ``seed`` first)."""
    check_names([name])
    torch.manual_seed(seed)
    return FUNCTIONS[name](model, x, y)


def scores(
    model: nn.Module, x: Tensor, y: Tensor, names: Sequence[str] = PROXIES, seed: int = 0
) -> dict[str, float]:
    """Each named proxy of ``model``; a proxy undefined for it (:class:`ProxyError`) is NaN."""
    out = {}
    for name in check_names(names):
        try:
            out[name] = score(name, model, x, y, seed)
        except ProxyError:
            out[name] = math.nan
    return out
