"""MLflow tracking (``--mlflow``) of ``scalesearch run`` and ``scalesearch train``, read back through
MLflow's own client from a file store: parent and nested runs, params, metric histories, artifacts;
resuming logs no trial twice; an MLflow failure mid-run is a warning and the search goes on; bad
URIs and a missing mlflow are one line before any work."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from scalesearch.tracking import HINT, STATE_FILE, tracking
from tests.helpers import run_main, tiny_experiment

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

TINY_NET = ["mobilenet_v1", "width_mult=0.1", "depth_mult=0.1"]
FAST = ["--set", "max_batches_per_epoch=1", "--set", "batch_size=16", "--set", "threads=1"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The file store allowed (MLflow 3 wants an opt-in), torch's threads and the env restored."""
    for key, value in {
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _runs(store: Path, experiment: str) -> list[Any]:
    client = MlflowClient(store.as_uri())
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {store}"
    return list(client.search_runs([found.experiment_id]))


def _family(store: Path, experiment: str) -> tuple[Any, list[Any]]:
    """The one parent run and its nested runs, checked to point at it."""
    runs = _runs(store, experiment)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == len(runs) - 1
    return parents[0], children


def test_a_run_is_a_parent_with_a_nested_run_per_trial_and_resuming_logs_only_new_trials(
    tmp_path: Path,
) -> None:
    exp = tiny_experiment(tmp_path / "tiny.py", budget="params<=0.2M", epochs=2, batches=1)
    store, run_dir = tmp_path / "mlruns", tmp_path / "run"
    args = ["run", str(exp), "--out", str(run_dir), "--mlflow", f"file:{store}", "--set", "threads=1"]
    first = run_main(*args, "--trials", "2")  # the grid's first two points: both trained
    assert first.returncode == 0, first.stderr
    parent, children = _family(store, "tiny")
    assert len(children) == 2 and parent.info.status == "FINISHED"
    stored = json.loads((run_dir / STATE_FILE).read_text())["runs"]
    assert [v["run_id"] for v in stored.values()] == [parent.info.run_id]
    assert parent.data.params["budget"] == "params<=0.2M" and parent.data.params["evaluation.epochs"] == "2"

    again = run_main(*args)  # resumes: the two over-budget points are added, nothing twice
    assert again.returncode == 0, again.stderr
    parent2, children = _family(store, "tiny")
    assert parent2.info.run_id == parent.info.run_id and parent2.info.status == "FINISHED"
    assert sorted(c.data.tags["scalesearch.trial"] for c in children) == [f"search/{n}" for n in range(4)]

    client = MlflowClient(store.as_uri())
    by_verdict: dict[str, list[Any]] = {}
    for child in children:
        by_verdict.setdefault(child.data.tags["verdict"], []).append(child)
    assert len(by_verdict["feasible"]) == 2 and len(by_verdict["over budget"]) == 2
    for child in by_verdict["feasible"]:
        assert child.data.tags["state"] == "COMPLETE" and child.info.status == "FINISHED"
        assert child.data.params["widen_factor"] == "1" and child.data.params["depth"] == "10"
        assert child.data.metrics["params"] == 77_850 and child.data.metrics["flops"] > 0
        history = client.get_metric_history(child.info.run_id, "accuracy")
        assert [m.step for m in history] == [1, 2]
        assert history[-1].value == child.data.metrics["accuracy"]
    for child in by_verdict["over budget"]:
        assert child.data.tags["state"] == "PRUNED" and "params<=0.2M" in child.data.tags["violations"]
        assert child.data.params["widen_factor"] == "2" and "accuracy" not in child.data.metrics


def test_an_mlflow_failure_mid_run_is_a_warning_and_the_next_run_logs_the_missing_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = tiny_experiment(tmp_path / "tiny.py", epochs=1, batches=1)
    store = tmp_path / "mlruns"
    args = ["run", str(exp), "--out", str(tmp_path / "run"), "--mlflow", str(store), "--trials", "1"]
    create_run = MlflowClient.create_run

    def failing(self: Any, experiment_id: str, *a: Any, tags: Any = None, **kw: Any) -> Any:
        if tags and "mlflow.parentRunId" in tags:
            raise mlflow.exceptions.MlflowException("the store went away")
        return create_run(self, experiment_id, *a, tags=tags, **kw)

    monkeypatch.setattr(MlflowClient, "create_run", failing)
    out = run_main(*args, "--set", "threads=1")
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "MLflow" in line]
    assert len(warnings) == 1 and "the store went away" in warnings[0] and "search goes on" in warnings[0]
    assert "1 trials (1 COMPLETE)" in out.stderr
    assert _family(store, "tiny")[1] == []

    monkeypatch.setattr(MlflowClient, "create_run", create_run)
    again = run_main(*args, "--set", "threads=1")  # nothing left to train: the trial is logged
    assert again.returncode == 0, again.stderr
    (child,) = _family(store, "tiny")[1]
    assert child.data.tags["state"] == "COMPLETE" and child.data.metrics["accuracy"] >= 0


def test_train_logs_its_command_every_epoch_the_summary_and_the_model_files(tmp_path: Path) -> None:
    store, out = tmp_path / "mlruns", tmp_path / "out"
    args = ["train", *TINY_NET, *FAST, "--set", "epochs=2", "--out", str(out), "--mlflow", f"file:{store}"]
    first = run_main(*args, "--format", "json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    again = run_main(*args)  # resumes at its end: nothing is logged twice
    assert again.returncode == 0 and "resuming from epoch 2/2" in again.stderr

    (run,) = _runs(store, "scalesearch-train")
    assert run.info.status == "FINISHED" and run.data.tags["scalesearch.family"] == "mobilenet_v1"
    assert run.data.params["point.width_mult"] == "0.1" and run.data.params["evaluation.epochs"] == "2"
    assert run.data.metrics["flops"] == summary["flops"] and run.data.metrics["params"] == summary["params"]
    assert run.data.tags["latency.device"] == "cpu"
    client = MlflowClient(store.as_uri())
    history = client.get_metric_history(run.info.run_id, "accuracy")
    assert [m.step for m in history] == [1, 2] and history[-1].value == summary["accuracy"]
    assert len(client.get_metric_history(run.info.run_id, "flops")) == 1
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"model.pt", "summary.json"}


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://host/runs", "unsupported scheme 'ftp'"),
        ("{tmp}/text.txt", "is a file"),
        ("file:{tmp}/text.txt", "is a file"),
        ("file:{tmp}/text.txt/deeper", "text.txt is a file"),
        ("file://elsewhere/runs", "names host 'elsewhere'"),
        ("http://", "needs a host"),
        ("http://host:port", "not a valid server URL"),
        ("", "--mlflow needs a store"),
    ],
)
@pytest.mark.parametrize("command", ["run", "train"])
def test_a_bad_uri_is_one_line_before_any_work(tmp_path: Path, command: str, uri: str, message: str) -> None:
    (tmp_path / "text.txt").write_text("not a store\n")
    exp = tiny_experiment(tmp_path / "tiny.py")
    target = [str(exp)] if command == "run" else TINY_NET
    mlflow_uri = uri.replace("{tmp}", str(tmp_path))
    out = run_main(command, *target, "--out", str(tmp_path / "out"), "--mlflow", mlflow_uri)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_without_mlflow_the_option_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # import mlflow.tracking now fails
    exp = tiny_experiment(tmp_path / "tiny.py")
    out = run_main("run", str(exp), "--out", str(tmp_path / "run"), "--mlflow", str(tmp_path / "mlruns"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and HINT in out.stderr, out.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "mlruns").exists()


def test_a_ray_run_is_logged_from_its_records_when_it_ends(tmp_path: Path) -> None:
    """The Ray backend's trials.jsonl through the same nested runs, epochs from Tune's result.json."""
    from scalesearch.tracking import SearchTracker, track_finished_run

    run_dir, store = tmp_path / "run", tmp_path / "mlruns"
    run_dir.mkdir()
    studies = [{"stage": "search", "study": "demo"}]
    meta = {"name": "demo", "backend": "ray", "storage": "", "studies": studies, "family": "wrn"}
    (run_dir / "run.json").write_text(json.dumps(meta))
    record = {"stage": "search", "values": {"widen_factor": 1}, "point": {"widen_factor": 1, "depth": 10}}
    records = [
        {**record, "number": 0, "state": "COMPLETE", "verdict": "feasible", "params": 77_850},
        {**record, "number": 1, "state": "FAIL", "error": "RuntimeError: boom"},
        {**record, "number": 2, "state": "RUNNING"},  # not finished: not logged
    ]
    (run_dir / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    # Tune's own result.json of trial 0: one line per epoch report, our payload under "scalesearch"
    trial = run_dir / "ray" / "demo" / "trial_0_abc"
    trial.mkdir(parents=True)
    lines = [
        {
            "config": {"_scalesearch_number": 0},
            "scalesearch": json.dumps({"epoch": e, "metrics": {"accuracy": a}}),
        }
        for e, a in ((1, 0.5), (2, 0.75))
    ]
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"torn')
    for _ in range(2):  # the second time finds both logged
        with tracking(str(store), SearchTracker) as tracker:
            assert tracker is not None
            track_finished_run(tracker, run_dir)
    parent, children = _family(store, "demo")
    state = {c.data.tags["scalesearch.trial"]: c for c in children}
    assert sorted(state) == ["search/0", "search/1"] and parent.data.params["backend"] == "ray"
    assert state["search/0"].data.metrics["params"] == 77_850 and state["search/0"].info.status == "FINISHED"
    assert state["search/1"].info.status == "FAILED" and state["search/1"].data.tags["error"].endswith("boom")
    history = MlflowClient(store.as_uri()).get_metric_history(state["search/0"].info.run_id, "accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.75)]  # per-epoch, from Tune's files
