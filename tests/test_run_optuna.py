"""End to end: `scalesearch run` on real data with a real SQLite study; resume, kill -9, failures."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from scalesearch.analysis.results import load_results
from tests.helpers import ROOT, cli, cli_json, tiny_experiment


def test_grid_run_trains_every_point_and_results_are_a_table(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py", budget="params<=0.2M")
    out = cli("run", str(exp), "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    rows = cli_json("results", str(tmp_path / "run"))
    assert len(rows) == 4
    states = {(r["values"]["widen_factor"], r["values"]["dropout"]): r for r in rows}
    # widen_factor=2 has 0.30M params: rejected before training, with its reason
    for (k, _), r in states.items():
        if k == 2:
            assert r["state"] == "PRUNED" and r["feasible"] is False
            assert "params=" in r["violations"] and "params<=0.2M" in r["violations"]
            assert r["accuracy"] is None
        else:
            assert r["state"] == "COMPLETE" and r["feasible"] is True
            assert 0.0 <= r["accuracy"] <= 1.0 and r["params"] == 77_850
    assert rows[0]["state"] == "COMPLETE"  # best feasible on top
    for key in ("number", "state", "point", "params", "flops", "accuracy"):
        assert key in rows[0]
    df = load_results(tmp_path / "run")
    assert list(df["state"]).count("COMPLETE") == 2
    as_csv = cli("results", str(tmp_path / "run"), "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    header, *lines = as_csv.stdout.strip().splitlines()
    assert "params" in header.split(",") and len(lines) == 4
    # running again resumes: nothing is re-run
    again = cli("run", str(exp), "--out", str(tmp_path / "run"))
    assert again.returncode == 0 and "4 of 4 trials already done" in again.stderr
    assert len(cli_json("results", str(tmp_path / "run"))) == 4


def test_trials_cap_and_set_overrides(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py", strategy="random", trials=5)
    out = cli(
        "run",
        str(exp),
        "--out",
        str(tmp_path / "run"),
        "--trials",
        "2",
        "--set",
        "epochs=2",
        "--set",
        "seed=3",
    )
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["evaluation"]["epochs"] == 2 and meta["overrides"] == ["epochs=2", "seed=3"]
    assert len(cli_json("results", str(tmp_path / "run"))) == 2


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "does not exist"),
        ("x = (\n", [], "tiny.py:1: syntax error"),
        ("import math\n", [], "no experiment defined"),
        ("TINY", ["--set", "epoch=3"], "unknown --set key 'epoch'; valid keys:"),
        ("TINY", ["--set", "epochs=three"], "--set epochs expects int, but got epochs=three"),
        ("TINY", ["--set", "strategy=bayes"], "strategy must be one of grid, random, tpe, nsga2"),
        ("TINY", ["--set", "budget=params<=1"], "no point of the search space can meet the budget"),
    ],
)
def test_bad_experiments_fail_clearly(tmp_path, content, args, message):
    path = tmp_path / "tiny.py"
    if content == "TINY":
        tiny_experiment(path)
    elif content is not None:
        path.write_text(content)
    out = cli("run", str(path), "--out", str(tmp_path / "run"), *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


def _states(db):
    with sqlite3.connect(db) as con:
        return con.execute("select number, state, datetime_complete from trials order by number").fetchall()


def test_sigkill_mid_trial_loses_no_finished_work(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py", epochs=3, batches=6)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "scalesearch", "run", str(exp), "--out", str(run)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}
    )
    db = run / "study.db"
    deadline = time.time() + 240
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                rows = _states(db)
            except sqlite3.Error:
                rows = []
            if any(s == "COMPLETE" for _, s, _ in rows) and any(s == "RUNNING" for _, s, _ in rows):
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        time.sleep(0.05)
    proc.wait()
    assert killed, "never saw a finished trial next to a running one"
    before = {n: done for n, s, done in _states(db) if s == "COMPLETE"}
    out = cli("run", str(exp), "--out", str(run))
    assert out.returncode == 0, out.stderr
    rows = cli_json("results", str(run))
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    # every grid point completed exactly once; the interrupted attempt is recorded as FAIL, then retried
    assert sorted((r["values"]["widen_factor"], r["values"]["dropout"]) for r in complete) == [
        (1, 0.0),
        (1, 0.1),
        (2, 0.0),
        (2, 0.1),
    ]
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert len(failed) == 1 and "interrupted" in failed[0]["error"]
    after = {n: done for n, s, done in _states(db) if s == "COMPLETE"}
    for n, done in before.items():
        assert after[n] == done  # finished trials were not re-run


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_mid_trial_leaves_the_run_resumable(tmp_path, sig):
    exp = tiny_experiment(tmp_path / "tiny.py", epochs=3, batches=6)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "scalesearch", "run", str(exp), "--out", str(run)]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    db = run / "study.db"
    deadline = time.time() + 240
    sent = False
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                rows = _states(db)
            except sqlite3.Error:
                rows = []
            if any(s == "COMPLETE" for _, s, _ in rows) and any(s == "RUNNING" for _, s, _ in rows):
                proc.send_signal(sig)
                sent = True
                break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert sent, "never saw a finished trial next to a running one"
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert f"stopped by {sig.name}" in err and f"scalesearch run {exp} --out {run}" in err  # how to resume
    out = cli("run", str(exp), "--out", str(run))
    assert out.returncode == 0, out.stderr
    rows = cli_json("results", str(run))
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert sorted((r["values"]["widen_factor"], r["values"]["dropout"]) for r in complete) == [
        (1, 0.0),
        (1, 0.1),
        (2, 0.0),
        (2, 0.1),
    ]
    assert all(r["error"] is None for r in complete)  # the re-queued trial dropped its "interrupted"
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert len(failed) == 1 and f"interrupted: {sig.name}" in failed[0]["error"]


def test_tpe_with_pruning_reports_every_epoch(tmp_path):
    import optuna

    exp = tiny_experiment(tmp_path / "tiny.py", strategy="tpe", trials=3, epochs=2)
    text = exp.read_text().replace('pruner="none"', 'pruner="median"')
    exp.write_text(text)
    out = cli("run", str(exp), "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert done and all(sorted(t.intermediate_values) == [1, 2] for t in done)


def test_nsga2_two_objectives(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py", strategy="nsga2", trials=3)
    exp.write_text(
        exp.read_text().replace(
            'pruner="none",', 'pruner="none", objectives={"accuracy": "maximize", "flops": "minimize"},'
        )
    )
    out = cli("run", str(exp), "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    rows = cli_json("results", str(tmp_path / "run"))
    assert len(rows) == 3 and all(r["flops"] > 0 for r in rows)


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py")
    out = cli("run", str(exp), "--out", str(tmp_path / "run"), "--set", "lr=1e9", "--trials", "2")
    assert out.returncode == 0, out.stderr
    rows = cli_json("results", str(tmp_path / "run"))
    assert [r["state"] for r in rows] == ["FAIL", "FAIL"]
    assert all("nan" in r["error"].lower() or "inf" in r["error"].lower() for r in rows)


def test_two_workers_share_one_storage_url_without_repeating_a_point(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py", epochs=1, batches=2)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scalesearch",
                "run",
                str(exp),
                "--storage",
                url,
                "--out",
                str(tmp_path / f"w{i}"),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=400)
        assert p.returncode == 0, err
    rows = cli_json("results", str(tmp_path / "w0"))
    complete = sorted(
        (r["values"]["widen_factor"], r["values"]["dropout"]) for r in rows if r["state"] == "COMPLETE"
    )
    assert complete == [(1, 0.0), (1, 0.1), (2, 0.0), (2, 0.1)]
