"""Pretrained starts and fine-tuning: a reference-layout checkpoint loads strictly, a mismatch is one
line, --num-classes swaps the classifier, --freeze-backbone trains the head only."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from scalesearch.errors import UsageError
from scalesearch.experiment import Evaluation
from scalesearch.registry import find_canonical
from scalesearch.train.final import TrainSpec, build_model, network_point, tensorboard, train_final
from scalesearch.train.init import InitError, find_classifier, read_state_dict

# timm's mobilenetv1_100 state dict, in order (/work/refdata/golden.json): NAME.BN:C stands for the
# five entries of a batch norm over C channels (weight, bias, running_mean, running_var,
# num_batches_tracked).
MOBILENETV1_100 = (
    "conv_stem.weight:32x3x3x3 bn1.BN:32 blocks.0.0.conv_dw.weight:32x1x3x3 blocks.0.0.bn1.BN:32 "
    "blocks.0.0.conv_pw.weight:64x32x1x1 blocks.0.0.bn2.BN:64 blocks.1.0.conv_dw.weight:64x1x3x3 "
    "blocks.1.0.bn1.BN:64 blocks.1.0.conv_pw.weight:128x64x1x1 blocks.1.0.bn2.BN:128 "
    "blocks.1.1.conv_dw.weight:128x1x3x3 blocks.1.1.bn1.BN:128 blocks.1.1.conv_pw.weight:128x128x1x1 "
    "blocks.1.1.bn2.BN:128 blocks.2.0.conv_dw.weight:128x1x3x3 blocks.2.0.bn1.BN:128 "
    "blocks.2.0.conv_pw.weight:256x128x1x1 blocks.2.0.bn2.BN:256 blocks.2.1.conv_dw.weight:256x1x3x3 "
    "blocks.2.1.bn1.BN:256 blocks.2.1.conv_pw.weight:256x256x1x1 blocks.2.1.bn2.BN:256 "
    "blocks.3.0.conv_dw.weight:256x1x3x3 blocks.3.0.bn1.BN:256 blocks.3.0.conv_pw.weight:512x256x1x1 "
    "blocks.3.0.bn2.BN:512 blocks.3.1.conv_dw.weight:512x1x3x3 blocks.3.1.bn1.BN:512 "
    "blocks.3.1.conv_pw.weight:512x512x1x1 blocks.3.1.bn2.BN:512 blocks.3.2.conv_dw.weight:512x1x3x3 "
    "blocks.3.2.bn1.BN:512 blocks.3.2.conv_pw.weight:512x512x1x1 blocks.3.2.bn2.BN:512 "
    "blocks.3.3.conv_dw.weight:512x1x3x3 blocks.3.3.bn1.BN:512 blocks.3.3.conv_pw.weight:512x512x1x1 "
    "blocks.3.3.bn2.BN:512 blocks.3.4.conv_dw.weight:512x1x3x3 blocks.3.4.bn1.BN:512 "
    "blocks.3.4.conv_pw.weight:512x512x1x1 blocks.3.4.bn2.BN:512 blocks.3.5.conv_dw.weight:512x1x3x3 "
    "blocks.3.5.bn1.BN:512 blocks.3.5.conv_pw.weight:512x512x1x1 blocks.3.5.bn2.BN:512 "
    "blocks.4.0.conv_dw.weight:512x1x3x3 blocks.4.0.bn1.BN:512 blocks.4.0.conv_pw.weight:1024x512x1x1 "
    "blocks.4.0.bn2.BN:1024 blocks.4.1.conv_dw.weight:1024x1x3x3 blocks.4.1.bn1.BN:1024 "
    "blocks.4.1.conv_pw.weight:1024x1024x1x1 blocks.4.1.bn2.BN:1024 classifier.weight:1000x1024 "
    "classifier.bias:1000"
)
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def golden_layout(spec: str) -> list[tuple[str, tuple[int, ...]]]:
    out: list[tuple[str, tuple[int, ...]]] = []
    for entry in spec.split():
        name, _, shape = entry.partition(":")
        if name.endswith(".BN"):
            out += [(f"{name[:-3]}.{k}", () if k == "num_batches_tracked" else (int(shape),)) for k in BN]
        else:
            out.append((name, tuple(int(s) for s in shape.split("x"))))
    return out


def reference_checkpoint(path: Path, layout: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """A state dict with the reference's keys and shapes (random values), saved as timm's training
    scripts do: nested under 'state_dict'."""
    g = torch.Generator().manual_seed(0)
    state = {
        k: torch.tensor(7) if k.endswith("num_batches_tracked") else torch.randn(shape, generator=g)
        for k, shape in layout
    }
    torch.save({"state_dict": state, "epoch": 3}, path)
    return state


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _canonical_spec(name: str, **kwargs: object) -> TrainSpec:
    fam, canonical = find_canonical(name)
    return TrainSpec(fam.name, dict(canonical.values), Evaluation(device="cpu"), name, **kwargs)  # type: ignore[arg-type]


def test_reference_layout_loads_strictly_then_the_classifier_is_replaced(tmp_path: Path) -> None:
    layout = golden_layout(MOBILENETV1_100)
    assert len(layout) == 164
    state = reference_checkpoint(tmp_path / "ref.pth", layout)
    spec = _canonical_spec("mobilenetv1_100", init=str(tmp_path / "ref.pth"), num_classes=10)
    point = network_point(spec, 10)
    assert point["num_classes"] == 1000  # the file's classes: replaced only after loading
    model = build_model(spec, point)
    name, head = find_classifier(model)
    assert name == "classifier" and head.weight.shape == (10, 1024)
    own = model.state_dict()
    assert sorted(own) == sorted(k for k, _ in layout)
    for key, value in state.items():
        if not key.startswith("classifier."):
            assert torch.equal(own[key], value), key


def test_a_mismatch_is_one_line_naming_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    layout = golden_layout(MOBILENETV1_100)
    layout[0] = ("stem.weight", layout[0][1])  # renamed: one missing key, one unexpected
    reference_checkpoint(tmp_path / "ref.pth", layout)
    spec = _canonical_spec("mobilenetv1_125", init=str(tmp_path / "ref.pth"))
    with pytest.raises(InitError) as err:
        build_model(spec, network_point(spec, 10))
    text = str(err.value)
    assert "\n" not in text and str(tmp_path / "ref.pth") in text
    assert "1 missing keys: conv_stem.weight" in text and "1 unexpected keys: stem.weight" in text
    assert "shape mismatches: bn1.weight (32,) in the file vs (40,)" in text and "more)" in text


def test_state_dict_files_in_other_layouts(tmp_path: Path) -> None:
    torch.save({"model": {"module.fc.weight": torch.zeros(2, 3)}}, tmp_path / "a.pt")
    assert list(read_state_dict(tmp_path / "a.pt")) == ["fc.weight"]
    torch.save([1, 2], tmp_path / "b.pt")
    with pytest.raises(InitError, match="a state dict .* must be in it"):
        read_state_dict(tmp_path / "b.pt")
    with pytest.raises(InitError, match="no such file"):
        read_state_dict(tmp_path / "missing.pt")


def test_freeze_backbone_trains_the_head_only(tmp_path: Path) -> None:
    ev = Evaluation(epochs=1, batch_size=16, max_batches_per_epoch=3, lr=0.5, device="cpu", threads=1)
    spec = TrainSpec("mobilenet_v1", {"width_mult": 0.1, "depth_mult": 0.1}, ev, freeze_backbone=True)
    before = build_model(spec, network_point(spec, 10)).state_dict()
    summary = train_final(spec, tmp_path / "out")
    after = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert set(before) == set(after)
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["classifier.bias", "classifier.weight"]  # batch-norm statistics included
    assert summary["freeze_backbone"] and summary["num_classes"] == 10 and summary["epochs"] == 1
    assert summary["params"] > 0 and summary["flops"] > 0 and summary["latency_ms"] > 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["accuracy"] == summary["accuracy"]
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))


def test_missing_tensorboard_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(UsageError, match=r"pip install 'scalesearch\[tracking\]'"), tensorboard(tmp_path):
        pass


def test_a_text_file_as_init_is_one_line(tmp_path: Path) -> None:
    """torch.load raises a bare KeyError on a text file; it is reported as the file's fault."""
    text = tmp_path / "notes.txt"
    text.write_text("hello world\n")
    with pytest.raises(InitError, match="notes.txt: not a state-dict file"):
        read_state_dict(text)
