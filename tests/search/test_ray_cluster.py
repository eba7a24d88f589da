"""The Ray backend against a real local cluster: a head and a worker node, token authentication on.

One cluster for the module (``ray start`` subprocesses in their own sessions, temp dirs
under pytest's); the fixture stops exactly the processes it started (their process groups
and descendants), never ``ray stop``. Experiments are tiny: WRN-10 on digits at 16 px.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ray.tune.search import Searcher

from scalesearch.analysis.results import record_from_optuna
from scalesearch.cluster import transfer
from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.search import ray_records as rr
from scalesearch.search import tune_searchers as ts
from scalesearch.space import Int
from scalesearch.verdict.budget import parse_budget

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


EXPERIMENT = """
from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Int

experiment = Experiment(
    name={name!r},
    space=SearchSpace(family="wrn", search={{"widen_factor": Int(1, {high})}}, fixed={{"depth": 10}}),
    strategy="grid",
    budget={budget!r},
    pruner="none",
    evaluation=Evaluation(dataset="digits", resolution=16, epochs={epochs}, batch_size=32,
                          max_batches_per_epoch={batches}),
)
"""
# WRN-10 at 16 px: k=1 78K, k=2 304K, k=3 677K, k=4 1.2M parameters
BUDGET = "params<=0.35M"


def write_experiment(
    path: Path, name: str, high: int = 3, budget: str | None = BUDGET, epochs: int = 1, batches: int = 2
) -> Path:
    path.write_text(EXPERIMENT.format(name=name, high=high, budget=budget, epochs=epochs, batches=batches))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- processes


def _process_table() -> dict[int, int]:
    """pid → parent pid, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                table[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return table


def descendants(pid: int) -> list[int]:
    table = _process_table()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in table.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_started(proc: subprocess.Popen, sig: int = signal.SIGKILL, wait: float = 10) -> None:
    """Signal a process we started, its process group and every process it started."""
    pids = descendants(proc.pid) if proc.poll() is None else []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # start_new_session=True: its group id is its pid
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait)


# --------------------------------------------------------------------------- cluster


@dataclass
class Cluster:
    base: Path
    env: dict[str, str]
    gcs: str
    dashboard: str
    token: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def start_node(self, head: bool, cpus: int, log: str) -> subprocess.Popen:
        ports = [
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
            "--object-store-memory",
            str(100 * 1024 * 1024),
        ]
        if head:
            port = self.gcs.rsplit(":", 1)[1]
            dash = self.dashboard.rsplit(":", 1)[1]
            args = [
                "--head",
                f"--port={port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}",
                "--include-dashboard=true",
                "--ray-client-server-port",
                str(free_port()),
                f"--temp-dir={self.base / 'ray'}",
            ]
        else:
            args = [f"--address={self.gcs}"]
        cmd = [
            str(Path(PY).parent / "ray"),
            "start",
            *args,
            "--block",
            f"--num-cpus={cpus}",
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
            *ports,
        ]
        with open(self.base / log, "w") as out:
            proc = subprocess.Popen(
                cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def api(self, path: str) -> dict:
        req = urllib.request.Request(self.dashboard + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def alive_nodes(self) -> int:
        try:
            nodes = self.api("/api/v0/nodes")["data"]["result"]["result"]
        except Exception:
            return 0
        return sum(1 for n in nodes if n["state"] == "ALIVE")

    def wait_nodes(self, n: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_nodes() < n:
            for p in self.procs:
                assert p.poll() is None, f"a ray node exited: {(self.base / 'head.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the cluster did not reach {n} nodes"
            time.sleep(0.5)

    def cli(self, *args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PY, "-m", "scalesearch.cli", *args],
            cwd=self.base,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # A short path of its own: Ray's socket paths under it must stay within AF_UNIX's 107 bytes,
    # which pytest's temporary folders (deeper still under pytest-xdist) overrun.
    base = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
    token = secrets.token_hex(32)
    (base / "auth_token").write_text(token)
    (base / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(base / "auth_token"),
        TMPDIR=str(base / "tmp"),
        PATH=f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        RAY_USAGE_STATS_ENABLED="0",
    )
    c = Cluster(base, env, f"127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}", token)
    try:
        c.start_node(head=True, cpus=2, log="head.log")
        c.wait_nodes(1)
        c.start_node(head=False, cpus=1, log="worker.log")
        c.wait_nodes(2)
        yield c
    finally:
        for p in reversed(c.procs):
            kill_started(p, signal.SIGTERM, wait=0)
        deadline = time.monotonic() + 3  # a graceful stop first, then SIGKILL for what is left
        for p in reversed(c.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        for p in reversed(c.procs):
            kill_started(p, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines() if line.strip()]


def record_keys() -> set[str]:
    import optuna

    t = optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE, value=1.0, params={}, distributions={}
    )
    return set(record_from_optuna(t, ["accuracy"], "search"))


def check_tiny_results(cluster: Cluster, out: Path, recs: list[dict] | None = None, total: int = 3) -> None:
    recs = records(out) if recs is None else recs
    assert sorted(r["number"] for r in recs) == [0, 1, 2]  # every grid point once
    assert all(set(r) == record_keys() for r in recs)
    by_k = {r["values"]["widen_factor"]: r for r in recs}
    assert by_k[1]["state"] == by_k[2]["state"] == "COMPLETE"
    assert by_k[3]["state"] == "PRUNED" and by_k[3]["verdict"] == "over budget"
    assert by_k[3]["violations"] and by_k[3]["params"] > 350_000 and not by_k[3]["metrics"]
    assert 0 <= by_k[1]["metrics"]["accuracy"] <= 1 and by_k[1]["verdict"] == "feasible"
    assert json.loads((out / "run.json").read_text())["backend"] == "ray"
    table = cluster.cli("results", str(out), "--format", "json")
    assert table.returncode == 0, table.stderr
    rows = json.loads(table.stdout)
    assert len(rows) == total and rows[0]["state"] == "COMPLETE" and rows[0]["feasible"]


# --------------------------------------------------------------------------- tests without a cluster


def test_unreachable_address_fails_within_seconds(tmp_path):
    exp = write_experiment(tmp_path / "tiny.py", "unreachable")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    port = free_port()
    for args in (
        ["run", str(exp), "--backend", "ray", "--address", f"127.0.0.1:{port}"],
        ["submit", str(exp), "--address", f"http://127.0.0.1:{port}"],
        ["jobs", "status", "x", "--address", f"127.0.0.1:{port}"],
    ):
        out = subprocess.run(
            [PY, "-m", "scalesearch.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=20,  # the deadline: within seconds, not Ray's minute-long retries
        )
        assert out.returncode == 2, out.stderr
        assert "cannot reach the Ray cluster" in out.stderr and "Traceback" not in out.stderr


def test_budget_filter_records_rejected_points_and_never_repeats(tmp_path):
    exp = Experiment(
        name="filter",
        space=SearchSpace(family="wrn", search={"widen_factor": Int(1, 4)}, fixed={"depth": 10}),
        strategy="grid",
        budget=BUDGET,
        pruner="none",
        evaluation=Evaluation(dataset="digits", resolution=16, epochs=1),
    )
    stage = exp.all_stages()[0]
    ctx = rr.StageRun(exp, "search", stage.space, parse_budget(exp.budget), str(tmp_path), total=4)
    searcher = ts.make_searcher(ctx, stage, seed=0)
    first, second = searcher.suggest("a"), searcher.suggest("b")
    assert (first["widen_factor"], first[rr.NUMBER_KEY]) == (1, 0)
    assert (second["widen_factor"], second[rr.NUMBER_KEY]) == (2, 1)
    assert searcher.suggest("c") == Searcher.FINISHED  # k=3 and k=4 are over budget
    recs = records(tmp_path)
    assert [(r["number"], r["state"], r["verdict"]) for r in recs] == [
        (2, "PRUNED", "over budget"),
        (3, "PRUNED", "over budget"),
    ]
    assert all(set(r) == record_keys() for r in recs)
    # a restarted driver re-suggesting recorded numbers skips them instead of writing them twice
    rr.Records._open.clear()
    again = ts.make_searcher(
        rr.StageRun(exp, "search", stage.space, parse_budget(exp.budget), str(tmp_path), total=4),
        stage,
        seed=0,
    )
    assert [again.suggest(x)[rr.NUMBER_KEY] for x in "de"] == [0, 1]
    assert again.suggest("f") == Searcher.FINISHED and len(records(tmp_path)) == 2
    # a FAIL (a trial Tune gave up on) is replaced once a resumed run finishes it; nothing else is
    store = rr.Records.at(tmp_path / "trials.jsonl")
    fail = rr.make_record("search", 0, "FAIL", {"widen_factor": 1}, family="wrn", error="node died")
    assert store.write(fail) and not store.write(fail)
    assert store.write({**fail, "state": "COMPLETE", "error": None})
    assert not store.write({**fail, "state": "COMPLETE"})
    assert sorted((r["number"], r["state"]) for r in records(tmp_path)) == [
        (0, "COMPLETE"),
        (2, "PRUNED"),
        (3, "PRUNED"),
    ]


def test_results_block_survives_the_log(tmp_path):
    (tmp_path / "run.json").write_text('{"name": "x", "backend": "ray"}')
    (tmp_path / "trials.jsonl").write_text('{"number": 0}\n')
    import io

    buf = io.StringIO()
    buf.write("training...\n")
    transfer.dump_results(tmp_path, buf)
    buf.write("done\n")
    logs = buf.getvalue()
    assert transfer.extract_results(logs) == {
        "run.json": '{"name": "x", "backend": "ray"}',
        "trials.jsonl": '{"number": 0}\n',
    }
    assert list(transfer.without_results(logs.splitlines())) == ["training...", "done"]
    assert transfer.extract_results("no block here") is None


# --------------------------------------------------------------------------- tests on the cluster


TWO_STAGES = (
    EXPERIMENT.split("experiment = ")[0]
    + """
from scalesearch.experiment import Stage
from scalesearch.space import Choice


def best_width(results, exp):
    done = results[(results["stage"] == "search") & (results["state"] == "COMPLETE")]
    return {"widen_factor": int(done.sort_values("accuracy", ascending=False).iloc[0]["values"]["widen_factor"])}


experiment = Experiment(
    name="two_stages",
    stages=[Stage("search", SearchSpace(family="wrn", search={"widen_factor": Int(1, 3)}, fixed={"depth": 10}),
                  strategy="grid"),
            Stage("deeper", SearchSpace(family="wrn", search={"depth": Choice((10, 16))}), strategy="grid",
                  fix_from=best_width)],
    budget="params<=0.35M",
    pruner="none",
    evaluation=Evaluation(dataset="digits", resolution=16, epochs=1, batch_size=32, max_batches_per_epoch=2),
)
"""
)


def test_run_on_cluster_records_every_trial_and_resumes(cluster, tmp_path):
    exp = tmp_path / "two.py"
    exp.write_text(TWO_STAGES)
    out = tmp_path / "run"
    args = [
        "run",
        str(exp),
        "--backend",
        "ray",
        "--address",
        cluster.gcs,
        "--out",
        str(out),
        "--max-concurrent",
        "2",
    ]
    done = cluster.cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PRUNED before launch" in done.stderr
    recs = records(out)
    first = [r for r in recs if r["stage"] == "search"]
    second = [r for r in recs if r["stage"] == "deeper"]
    assert len(recs) == 5 and sorted(r["number"] for r in second) == [0, 1]
    check_tiny_results(cluster, out, first, total=5)
    best = max((r for r in first if r["state"] == "COMPLETE"), key=lambda r: r["metrics"]["accuracy"])
    assert {r["point"]["widen_factor"] for r in second} == {
        best["values"]["widen_factor"]
    }  # fixed from stage 1
    assert {r["point"]["depth"] for r in second} == {10, 16}
    again = cluster.cli(*args)  # re-running a finished run repeats nothing
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 3 trials already done" in again.stderr and "2 of 2 trials already done" in again.stderr
    assert records(out) == recs


def test_submit_runs_a_job_and_brings_the_results_back(cluster, tmp_path):
    exp = write_experiment(tmp_path / "tiny.py", "tiny_job")
    out = tmp_path / "fetched"
    done = cluster.cli("submit", str(exp), "--address", cluster.dashboard, "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "[search] trial" in done.stdout and transfer.BEGIN not in done.stdout  # streamed, block hidden
    check_tiny_results(cluster, out)
    job_id = next(line.split()[2] for line in done.stderr.splitlines() if line.startswith("submitted job"))
    status = cluster.cli("jobs", "status", job_id, "--address", cluster.dashboard)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout
    logs = cluster.cli("jobs", "logs", job_id, "--address", cluster.dashboard)
    assert logs.returncode == 0 and "[search] trial" in logs.stdout and transfer.BEGIN not in logs.stdout
    again = tmp_path / "again"
    fetch = cluster.cli("jobs", "fetch", job_id, "--address", cluster.dashboard, "--out", str(again))
    assert fetch.returncode == 0, fetch.stderr
    assert (again / "trials.jsonl").read_text() == (out / "trials.jsonl").read_text()
    stop = cluster.cli("jobs", "stop", job_id, "--address", cluster.dashboard)
    assert stop.returncode == 0 and "not running (SUCCEEDED)" in stop.stdout


def test_job_server_refuses_a_client_without_the_token(cluster, tmp_path):
    env = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    out = cluster.cli("jobs", "list", "--address", cluster.dashboard, env=env, timeout=60)
    assert out.returncode == 2 and "refused" in out.stderr and "RAY_AUTH_TOKEN" in out.stderr, out.stderr


def test_gpus_on_a_gpu_less_cluster_fail_clearly(cluster, tmp_path):
    exp = write_experiment(tmp_path / "tiny.py", "tiny_gpu")
    out = cluster.cli(
        "run",
        str(exp),
        "--backend",
        "ray",
        "--address",
        cluster.gcs,
        "--out",
        str(tmp_path / "r"),
        "--gpus-per-trial",
        "1",
        timeout=90,
    )
    assert out.returncode == 2, out.stderr[-3000:]
    assert "--gpus-per-trial 1" in out.stderr and "has no GPUs" in out.stderr


def test_a_failing_job_reports_the_failure_and_its_log_tail(cluster, tmp_path):
    exp = write_experiment(tmp_path / "tiny.py", "tiny_fails")
    out = cluster.cli(
        "submit",
        str(exp),
        "--address",
        cluster.dashboard,
        "--out",
        str(tmp_path / "f"),
        "--set",
        "budget=params<=1000",
    )  # no point can meet it: the run fails on the cluster
    assert out.returncode == 1, out.stderr[-3000:]
    assert "FAILED" in out.stderr and "last lines of the job's log" in out.stderr
    assert "no point of the search space can meet the budget" in out.stderr.split("last lines")[1]


def test_killed_driver_resumes_without_losing_or_repeating(cluster, tmp_path):
    exp = write_experiment(tmp_path / "slow.py", "slow_resume", high=4, budget=None, epochs=2, batches=12)
    out = tmp_path / "run"
    args = [
        PY,
        "-m",
        "scalesearch.cli",
        "run",
        str(exp),
        "--backend",
        "ray",
        "--address",
        cluster.gcs,
        "--out",
        str(out),
        "--max-concurrent",
        "2",
    ]
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen(
            args, cwd=tmp_path, env=cluster.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while not ((out / "trials.jsonl").exists() and records(out)):
                assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline
                time.sleep(0.3)
        finally:
            kill_started(driver)  # the driver dies mid-run
    assert len(records(out)) < 4
    again = cluster.cli(*args[3:])
    assert again.returncode == 0, again.stderr[-3000:]
    recs = records(out)
    assert sorted(r["number"] for r in recs) == [0, 1, 2, 3]
    assert all(r["state"] == "COMPLETE" for r in recs)


def _trial_dir_of(pid: int) -> str | None:
    """The Tune trial a worker process runs now (its working directory is named after the trial)."""
    with contextlib.suppress(OSError):
        name = os.path.basename(os.readlink(f"/proc/{pid}/cwd"))
        return name if name.startswith("trial_") else None
    return None


def test_worker_node_killed_mid_run_trials_are_retried_elsewhere(cluster, tmp_path):
    """The node dies after its trial's first checkpoint: the trial is retried elsewhere and resumes
    from that checkpoint, not from epoch 0."""
    node = cluster.start_node(head=False, cpus=1, log="doomed.log")  # a node for this test to kill
    cluster.wait_nodes(3)
    exp = write_experiment(tmp_path / "slow.py", "slow_fault", high=4, budget=None, epochs=2, batches=15)
    out = tmp_path / "run"
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen(
            [
                PY,
                "-m",
                "scalesearch.cli",
                "run",
                str(exp),
                "--backend",
                "ray",
                "--address",
                cluster.gcs,
                "--out",
                str(out),
                "--max-concurrent",
                "4",
            ],
            cwd=tmp_path,
            env=cluster.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline, victim = time.monotonic() + 120, None
            while victim is None:  # a trial on the extra node that has written its first checkpoint
                assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no trial checkpointed on the extra node"
                for pid in descendants(node.pid):
                    name = _trial_dir_of(pid) if "ImplicitFunc.train" in cmdline(pid) else None
                    if name and list(out.glob(f"ray/*/{name}/checkpoint_000000")):
                        victim = name
                time.sleep(0.1)
            kill_started(node)  # the whole node dies with its trial
            driver.wait(timeout=240)
        finally:
            if driver.poll() is None:
                kill_started(driver)
    text = (tmp_path / "driver.log").read_text()
    assert driver.returncode == 0, text[-3000:]
    assert "failed on its worker" in text and "retrying (1/3)" in text
    recs = records(out)
    assert sorted(r["number"] for r in recs) == [0, 1, 2, 3]  # every trial once
    assert all(r["state"] == "COMPLETE" for r in recs), recs
    number = int(victim.split("_")[1])
    assert f"trial {number} resumed from its epoch-1 checkpoint" in text, text[-3000:]
    assert next(r for r in recs if r["number"] == number)["note"] == "resumed from its epoch-1 checkpoint"
    results = next(out.glob(f"ray/*/{victim}/result.json")).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in results] == [1, 2]  # the retry began at epoch 2


PBT = """
from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Float

experiment = Experiment(
    name="pbt_tiny",
    space=SearchSpace(family="wrn", search={"lr": Float(0.01, 0.3, log=True)}, fixed={"depth": 10, "widen_factor": 1}),
    strategy="random",
    trials=2,
    pruner="pbt",
    options={"perturbation_interval": 1},
    evaluation=Evaluation(dataset="digits", resolution=16, epochs=2, batch_size=32, max_batches_per_epoch=2),
)
"""


def test_pbt_perturbs_the_lr_of_a_trial_mid_run(cluster, tmp_path):
    (tmp_path / "pbt.py").write_text(PBT)
    out = tmp_path / "run"
    done = cluster.cli(
        "run", str(tmp_path / "pbt.py"), "--backend", "ray", "--address", cluster.gcs, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    recs = records(out)
    assert sorted(r["number"] for r in recs) == [0, 1] and all(r["state"] == "COMPLETE" for r in recs)
    assert "continues from trial" in done.stderr
    notes = {r["number"]: r["note"] for r in recs if r.get("note")}
    assert notes and all(n.startswith("PBT schedule: epoch 1 lr=") for n in notes.values()), notes
    lrs = {r["number"]: r["values"]["lr"] for r in recs}
    for number, note in notes.items():  # the lr changed mid-run; the record holds the lr it finished with
        assert note.endswith(f"; epoch 2 lr={lrs[number]:.4g} weight_decay=0.0005"), note
