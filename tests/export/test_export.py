"""scalesearch export: ONNX and TorchScript files with parity checked, atomic writes, bad input."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import onnx
import pytest
import torch

from scalesearch.export import OPSET
from scalesearch.export.parity import ParityError, Runner
from scalesearch.export.writer import export_model
from scalesearch.registry import get_family
from tests.export.tiny import WRN, scrambled
from tests.helpers import run_main


@pytest.mark.parametrize(
    ("family", "fmt"),
    [
        ("mobilenet_v3", "onnx"),
        ("inception_v3", "onnx"),
        ("regnet", "torchscript"),
        ("convnext", "torchscript"),
    ],
)
def test_small_points_export_with_parity(family: str, fmt: str, tmp_path: Path) -> None:
    fam = get_family(family)
    point = fam.small_point(random.Random(0))
    model = scrambled(fam.build(point))
    out = tmp_path / f"{family}.{fmt}"
    result = export_model(model, fmt, out, fam.input_channels(point), point["resolution"])
    assert out.is_file() and result.bytes == out.stat().st_size
    assert result.parity.ok and result.parity.batches == (2, 1)
    assert result.parity.max_abs_ref > 0.1  # the logits are not all near zero: a real comparison
    assert result.parity.max_abs_diff <= 1e-4 * max(1.0, result.parity.max_abs_ref)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_onnx_file_is_pinned_to_the_opset_with_a_dynamic_batch(tmp_path: Path) -> None:
    out = tmp_path / "wrn.onnx"
    res = run_main("export", *WRN, "--format", "onnx", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "parity vs PyTorch (onnxruntime" in res.stdout and res.stdout.strip().endswith(": ok")
    assert len(res.stdout.strip().splitlines()) == 1
    proto = onnx.load(str(out))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value


def test_canonical_name_and_train_checkpoint(tmp_path: Path) -> None:
    """A canonical network's name as TARGET, weights from a `scalesearch train` style checkpoint."""
    fam = get_family("wrn")
    point = {**fam.canonical_point("wrn_16_8"), "widen_factor": 1, "resolution": 8}
    model = scrambled(fam.build(point), seed=3)
    ckpt = tmp_path / "last.pt"
    torch.save({"format": 1, "epoch": 2, "model": model.state_dict(), "optimizer": {}}, ckpt)
    out = tmp_path / "wrn.pt"
    res = run_main(
        "export", "wrn_16_8", "widen_factor=1", "--resolution", "8", "--checkpoint", str(ckpt), "--format", "torchscript",
        "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript
            got = torch.jit.load(str(out))(x)
    assert float(expected.abs().max()) > 0.1
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def _no_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "tflite"], "argument --format: invalid choice: 'tflite'"),
        (["--format", "onnx", "--resolution", "4"], "resolution"),
        (["resolution=9", "--format", "onnx", "--resolution", "8"], "resolution is given twice"),
        (["--format", "torchscript", "--checkpoint", "missing.pt"], "--checkpoint missing.pt: no such file"),
        (
            ["--format", "torchscript", "--onnx-exporter", "dynamo"],
            "--onnx-exporter applies to --format onnx",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(extra: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.onnx"
    res = run_main("export", *WRN[:3], *extra, "--out", str(out), cwd=tmp_path)
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists() and not (out.parent.exists() and _no_files(out.parent))


def test_unknown_target_names_families(tmp_path: Path) -> None:
    res = run_main("export", "resnet51", "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert res.returncode == 2
    assert "TARGET must be a family or a canonical network, but got 'resnet51'" in res.stderr
    assert _no_files(tmp_path) == []


def test_checkpoint_mismatch_names_the_keys_and_leaves_no_file(tmp_path: Path) -> None:
    fam = get_family("wrn")
    other = fam.build({"depth": 16, "widen_factor": 1})  # more blocks than depth=10 has
    ckpt = tmp_path / "other.pt"
    torch.save(other.state_dict(), ckpt)
    out = tmp_path / "m.onnx"
    res = run_main("export", *WRN, "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(out))
    assert res.returncode == 2
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and f"--checkpoint {ckpt} does not fit" in line
    assert (
        "missing keys: features.2.shortcut.weight" in line
        and "42 unexpected keys: features.4.bn1.weight" in line
    )
    assert _no_files(tmp_path) == ["other.pt"]


def test_a_parity_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scalesearch.export import onnx as onnx_export

    real = onnx_export.runner

    def off_by_one(path: Path, threads: int = 1) -> Runner:
        run = real(path, threads)
        return lambda x: [y + 1e-3 for y in run(x)]

    monkeypatch.setattr(onnx_export, "runner", off_by_one)
    out = tmp_path / "m.onnx"
    res = run_main("export", *WRN, "--format", "onnx", "--out", str(out))
    assert res.returncode == 2
    assert "fails the parity check" in res.stderr and "max |Δ| 1.00e-03" in res.stderr
    assert _no_files(tmp_path) == []
    with pytest.raises(ParityError):
        fam = get_family("wrn")
        export_model(fam.build({"depth": 10, "widen_factor": 1}), "onnx", out, 3, 8)
    assert not out.exists()


def test_a_missing_extra_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # import fails as if absent
    res = run_main("export", *WRN, "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert res.returncode == 2
    assert "pip install 'scalesearch[export]'" in res.stderr and "onnxruntime" in res.stderr
    assert _no_files(tmp_path) == []


def test_auto_falls_back_to_dynamo_where_the_legacy_exporter_cannot(tmp_path: Path) -> None:
    """An adaptive pooling to 3x3 from 2x2 (VGG's 7x7 head at a small resolution, in miniature): the
    legacy exporter refuses it, so auto uses torch's dynamo exporter (slower: one tiny network)."""
    net = ("plain", "depths=1", "widths=4", "avgpool=3", "head_layers=1", "head_width=8", "resolution=4")
    legacy = run_main(
        "export", *net, "--format", "onnx", "--out", str(tmp_path / "l.onnx"), "--onnx-exporter", "legacy"
    )
    assert legacy.returncode == 2 and "the legacy exporter failed" in legacy.stderr
    assert "adaptive_avg_pool2d" in legacy.stderr and len(legacy.stderr.strip().splitlines()) == 1
    out = tmp_path / "p.onnx"
    res = run_main("export", *net, "--format", "onnx", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "dynamo exporter" in res.stdout and res.stdout.strip().endswith(": ok")
    proto = onnx.load(str(out))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert _no_files(tmp_path) == ["p.onnx"]
