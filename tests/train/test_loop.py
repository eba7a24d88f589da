"""Real training on digits: learns, reproducible, reports per epoch, fails trials cleanly."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from scalesearch.errors import ScalesearchError
from scalesearch.train import Data, TrialFailed, load_dataset, resolve_device, train_and_evaluate


@pytest.fixture(scope="module")
def digits() -> Data:
    return load_dataset("digits", resolution=8)


def tiny_cnn(num_classes: int = 10, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


class NanModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1)) * float("nan")


def test_two_epochs_learn_and_are_reproducible(digits: Data) -> None:
    calls: list[tuple[int, dict[str, float]]] = []
    kwargs = {"epochs": 2, "lr": 0.2, "device": "cpu", "seed": 3}
    first = train_and_evaluate(tiny_cnn(), digits, on_epoch=lambda e, m: calls.append((e, m)), **kwargs)
    second = train_and_evaluate(tiny_cnn(), digits, **kwargs)
    assert first["accuracy"] > 0.5  # chance is 0.1
    assert first == {**second, "train_seconds": first["train_seconds"]}
    assert set(first) == {"accuracy", "val_loss", "train_loss", "train_seconds", "epochs"}
    assert first["epochs"] == 2 and first["train_seconds"] > 0 and 0 <= first["accuracy"] <= 1
    assert [e for e, _ in calls] == [1, 2]
    assert set(calls[0][1]) == {"accuracy", "val_loss", "train_loss", "lr", "train_seconds"}
    assert calls[-1][1]["accuracy"] == first["accuracy"] and calls[-1][1]["val_loss"] == first["val_loss"]
    assert calls[0][1]["lr"] == pytest.approx(0.1)  # cosine: half-way after epoch 1 of 2


def test_other_seed_and_adamw_run(digits: Data) -> None:
    a = train_and_evaluate(tiny_cnn(), digits, epochs=1, device="cpu", seed=0, max_batches_per_epoch=3)
    b = train_and_evaluate(tiny_cnn(), digits, epochs=1, device="cpu", seed=1, max_batches_per_epoch=3)
    assert a["train_loss"] != b["train_loss"]  # different shuffling
    c = train_and_evaluate(
        tiny_cnn(), digits, epochs=1, optimizer="adamw", lr=1e-3, label_smoothing=0.1, max_batches_per_epoch=3
    )
    assert 0 <= c["accuracy"] <= 1


def test_nan_loss_fails_the_trial(digits: Data) -> None:
    with pytest.raises(TrialFailed, match=r"^loss became nan at epoch 1, batch 1$"):
        train_and_evaluate(NanModel(), digits, epochs=2, device="cpu")


def test_divergence_fails_the_trial(digits: Data) -> None:
    with pytest.raises(TrialFailed, match=r"loss became (nan|inf) at epoch \d, batch \d+"):
        train_and_evaluate(tiny_cnn(), digits, epochs=2, lr=1e6, device="cpu")


def test_on_epoch_may_stop_training(digits: Data) -> None:
    class Pruned(Exception):
        pass

    seen = []

    def prune(epoch: int, metrics: dict[str, float]) -> None:
        seen.append(epoch)
        raise Pruned

    with pytest.raises(Pruned):
        train_and_evaluate(
            tiny_cnn(), digits, epochs=5, device="cpu", on_epoch=prune, max_batches_per_epoch=2
        )
    assert seen == [1]


def test_any_torch_dataset_trains() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, 8, 8, generator=generator)
    y = torch.arange(40) % 2
    data = Data(TensorDataset(x, y), TensorDataset(x[:10], y[:10]), 2, 3, 8, "toy", 8)
    result = train_and_evaluate(tiny_cnn(num_classes=2), data, epochs=2, batch_size=16, device="cpu")
    assert result["epochs"] == 2 and 0 <= result["accuracy"] <= 1


def test_wrong_number_of_outputs_is_clear(digits: Data) -> None:
    with pytest.raises(ScalesearchError, match=r"must output \(batch, 10\) logits .* got shape \(64, 7\)"):
        train_and_evaluate(tiny_cnn(num_classes=7), digits, epochs=1, device="cpu")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs >= 1 and batch_size >= 1 must hold, but got epochs=0, batch_size=64"),
        (
            {"epochs": 1, "optimizer": "rmsprop"},
            "optimizer must be one of sgd, adamw, but got optimizer=rmsprop",
        ),
        ({"epochs": 1, "lr": 0.0}, "lr > 0 must hold, but got lr=0.0"),
        ({"epochs": 1, "max_batches_per_epoch": 0}, "max_batches_per_epoch >= 1 must hold"),
        ({"epochs": 1, "device": "tpu"}, "device must be auto, cpu, cuda or cuda:N, but got device=tpu"),
    ],
)
def test_bad_arguments_are_clear(digits: Data, kwargs: dict, message: str) -> None:
    with pytest.raises(ScalesearchError, match=message):
        train_and_evaluate(tiny_cnn(), digits, **kwargs)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ScalesearchError, match="device cuda is not available: torch sees no CUDA GPU"):
            resolve_device("cuda")


def test_amp_switch_decides_autocast_on_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluation(amp=False) trains in fp32 on a GPU (bf16 autocast slows some small networks)."""
    from contextlib import nullcontext

    from scalesearch.experiment import Evaluation, Experiment, SearchSpace, apply_overrides
    from scalesearch.train.loop import autocast_for

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert autocast_for(cuda, False) is nullcontext and autocast_for(cpu, True) is nullcontext
    assert autocast_for(cuda, True) is not nullcontext  # a bf16 torch.autocast (not entered: no GPU here)
    exp = Experiment("amp", SearchSpace("wrn", {}), evaluation=Evaluation())
    assert exp.evaluation.amp is True
    assert apply_overrides(exp, ["amp=false"]).evaluation.amp is False
