"""``scalesearch train``: targets (family, network, run directory), --set fields, one-line refusals,
and a real run with its files; resuming and SIGKILL are tested in tests/train/test_checkpoint.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from scalesearch.cli.main import main
from scalesearch.cli.train import evaluation_of, resolve_target
from scalesearch.errors import ScalesearchError

TINY = ["mobilenet_v1", "width_mult=0.1", "depth_mult=0.1"]
FAST = ["--set", "epochs=1", "--set", "max_batches_per_epoch=2", "--set", "batch_size=16"]
FAST += ["--set", "threads=1", "--set", "device=cpu"]


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _record(number: int, accuracy: float, width: float, verdict: str = "feasible") -> dict[str, object]:
    point = {"width_mult": width, "resolution": 32, "depth_mult": 0.1, "dropout": 0.0, "num_classes": 10}
    return {
        "stage": "search",
        "number": number,
        "state": "COMPLETE",
        "values": {"width_mult": width},
        "point": point,
        "family": "mobilenet_v1",
        "verdict": verdict,
        "metrics": {"accuracy": accuracy},
    }


def _ray_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    meta = {
        "name": "demo",
        "backend": "ray",
        "storage": "",
        "studies": [],
        "family": "mobilenet_v1",
        "objectives": {"accuracy": "maximize"},
        "evaluation": {"dataset": "digits", "epochs": 7, "lr": 0.02, "resolution": 32},
    }
    (run / "run.json").write_text(json.dumps(meta))
    records = [_record(0, 0.5, 0.25), _record(1, 0.9, 0.5), _record(2, 0.99, 1.0, "over budget")]
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def test_a_run_directory_gives_its_best_feasible_points_and_settings(tmp_path: Path) -> None:
    run = _ray_run(tmp_path)
    family, point, defaults, label = resolve_target(str(run), [], 1)
    assert family == "mobilenet_v1" and point["width_mult"] == 0.5 and "rank 1" in label
    assert resolve_target(str(run), [], 2)[1]["width_mult"] == 0.25
    ev = evaluation_of(defaults, ["lr=0.1"])
    assert (ev.epochs, ev.lr, ev.dataset) == (7, 0.1, "digits")
    with pytest.raises(ScalesearchError, match="--rank 3: run .* has 2 completed feasible trial"):
        resolve_target(str(run), [], 3)


def test_family_and_network_targets() -> None:
    assert resolve_target("mobilenet_v1", ["width_mult=0.5"], 1)[:2] == ("mobilenet_v1", {"width_mult": 0.5})
    family, point, _, label = resolve_target("mobilenetv1_125", ["dropout=0.1"], 1)
    assert family == "mobilenet_v1" and point["width_mult"] == 1.25 and point["dropout"] == 0.1
    assert label == "mobilenetv1_125 dropout=0.1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "TARGET must be a family, a canonical network or a run directory, but got 'nope'"),
        ([*TINY, "--set", "epoch=3"], "unknown --set field 'epoch'; valid fields: dataset,"),
        ([*TINY, "--set", "epochs=x"], "--set epochs expects int, but got epochs=x"),
        ([*TINY, "--set", "optimizer=adam"], "optimizer must be one of sgd, adamw, but got optimizer=adam"),
        ([*TINY, "--rank", "2"], "--rank applies to a run directory"),
        ([*TINY, "num_classes=5"], "num_classes= is for the network of an --init file"),
        ([*TINY, "resolution=40", "--set", "resolution=48"], "resolution is given twice"),
        ([*TINY, "--init", "missing.pt"], "--init missing.pt: no such file"),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_train_writes_its_files_resumes_and_refuses_another_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["train", *TINY, *FAST, "--out", str(out), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["target"] == "mobilenet_v1 width_mult=0.1 depth_mult=0.1" and summary["epochs"] == 1
    assert summary["point"]["num_classes"] == 10 and summary["flops"] > 0
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,accuracy,val_loss")
    assert {p.name for p in out.iterdir()} >= {"train.json", "checkpoint.pt", "model.pt", "tensorboard"}

    assert main(["train", *TINY, *FAST, "--out", str(out)]) == 0
    assert "resuming from epoch 1/1" in capsys.readouterr().err

    assert main(["train", *TINY, *FAST, "--set", "lr=0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds another training (evaluation.lr: 0.05 there, 0.1 here)" in err and err.count("\n") == 1

    wider = ["mobilenet_v1", "width_mult=0.25", "depth_mult=0.1", "num_classes=10"]
    init = ["--init", str(out / "model.pt")]
    assert main(["train", *wider, *init, *FAST, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "does not fit this network strictly" in err and "shape mismatches" in err
    assert err.count("\n") == 1
