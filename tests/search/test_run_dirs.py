"""Run directories (issue 15 items 2, 5, 6, 9, 10): another tool's files are never written, passwords
never reach run.json, reading never writes, a moved run reads its own store, bad storage URLs and
output locations are one line, damaged run files are named with their damage."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scalesearch.analysis.results import load_results
from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.progress import Progress
from scalesearch.search import optuna_backend, optuna_store
from scalesearch.search.optuna_backend import run_optuna
from tests.helpers import run_main, tiny_experiment

EVAL = Evaluation(
    dataset="digits", resolution=16, epochs=1, batch_size=64, lr=0.05, max_batches_per_epoch=1, threads=1
)


def tiny(name: str = "tiny") -> Experiment:
    from scalesearch.space import Choice

    space = SearchSpace("wrn", {"widen_factor": Choice((1, 2))}, fixed={"depth": 10})
    return Experiment(name=name, space=space, strategy="grid", pruner="none", evaluation=EVAL)


def quiet() -> Progress:
    return Progress(stream=io.StringIO(), live=False)


def snapshot(root: Path) -> dict[str, str]:
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            seen[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = "dir"
        for name in filenames:
            path = Path(dirpath) / name
            seen[os.path.relpath(path, root)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished Optuna run (2 trials), copied by the tests that damage it."""
    run = tmp_path_factory.mktemp("base") / "run"
    run_optuna(tiny(), run, progress=quiet())
    return run


@pytest.fixture
def work(tmp_path: Path, base_run: Path) -> Path:
    """``tmp_path`` holding ``exp.py`` (the same experiment as the base run) and ``run/`` (a copy)."""
    tiny_experiment(tmp_path / "exp.py", batches=1)
    shutil.copytree(base_run, tmp_path / "run")
    (tmp_path / "run" / "run.lock").unlink(missing_ok=True)
    return tmp_path


def one_line_error(args: list[str], cwd: Path, text: str) -> str:
    before = snapshot(cwd)
    out = run_main(*args, cwd=cwd)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert text in lines[0], lines[0]
    assert snapshot(cwd) == before, "a refused command changed files"
    return lines[0]


READERS = [["results", "run"], ["report", "run"], ["pareto", "run", "--out", "p.png"]]


# --------------------------------------------------------------------------- moved runs, reading


def test_a_moved_or_copied_run_reads_its_own_database(work: Path) -> None:
    meta = json.loads((work / "run" / "run.json").read_text())
    assert meta["storage"] == "study.db"  # relative to the run directory
    shutil.copytree(work / "run", work / "copy")
    with sqlite3.connect(work / "run" / "study.db") as con:  # the original changes after the copy
        con.execute("update trial_values set value = 0.5")
    shutil.move(work / "copy", work / "moved")
    df = load_results(work / "moved")
    assert len(df) == 2 and (df["accuracy"] != 0.5).all()


def test_an_older_absolute_store_path_falls_back_to_the_run_directory(work: Path) -> None:
    path = work / "run" / "run.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "storage": "sqlite:////nowhere/original/study.db"}))
    assert len(load_results(work / "run")) == 2


@pytest.mark.parametrize("args", READERS, ids=lambda a: a[0])
def test_reading_a_missing_or_empty_store_is_an_error_and_writes_nothing(work: Path, args: list[str]) -> None:
    db = work / "run" / "study.db"
    db.unlink()
    one_line_error(args, work, "study.db: the run's trial database is missing")
    assert not db.exists()
    db.touch()
    one_line_error(args, work, "study.db: empty database, no Optuna study in it")
    assert db.stat().st_size == 0


# --------------------------------------------------------------------------- damaged run directories


def _truncate(db: Path) -> None:
    db.write_bytes(db.read_bytes()[:20000])


def _overwrite(db: Path) -> None:
    db.write_bytes(b"\x00garbage" * 500)


def _foreign(db: Path) -> None:
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as con:
        con.execute("create table photos (id integer)")


STORE_DAMAGE = {
    "truncated": (_truncate, "damaged SQLite database"),
    "overwritten": (_overwrite, "not an SQLite database"),
    "another tool's": (_foreign, "another tool"),
}


@pytest.mark.parametrize("damage", STORE_DAMAGE)
@pytest.mark.parametrize("args", [*READERS, ["run", "exp.py", "--out", "run"]], ids=lambda a: a[0])
def test_a_damaged_store_is_named_with_its_damage(work: Path, damage: str, args: list[str]) -> None:
    make, text = STORE_DAMAGE[damage]
    make(work / "run" / "study.db")
    line = one_line_error(args, work, text)
    assert "study.db" in line


RUN_JSON_DAMAGE = {
    "empty": ("", "empty file"),
    "not JSON": ("{name: tiny", "not JSON"),
    "a list": ("[1, 2]", "a JSON list"),
    "another tool's": ('{"version": 3, "tool": "mlflow"}', "not a scalesearch run.json"),
    "a directory": (None, "a directory"),
}


@pytest.mark.parametrize("damage", RUN_JSON_DAMAGE)
@pytest.mark.parametrize("args", [*READERS, ["run", "exp.py", "--out", "run"]], ids=lambda a: a[0])
def test_a_damaged_run_json_is_named_with_its_damage(work: Path, damage: str, args: list[str]) -> None:
    content, text = RUN_JSON_DAMAGE[damage]
    path = work / "run" / "run.json"
    path.unlink()
    if content is None:
        path.mkdir()
    else:
        path.write_text(content)
    line = one_line_error(args, work, text)
    assert "run.json" in line


def test_garbage_lines_in_trials_jsonl_are_named(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    meta = {"name": "r", "backend": "ray", "storage": "ray", "studies": [{"stage": "s", "study": "r"}]}
    (run / "run.json").write_text(json.dumps(meta))
    cut = '{"stage": "s", "number": 0, "state": "COMP'  # a record cut short by a crash: skipped
    (run / "trials.jsonl").write_text(cut + "\nthis is not a record\n")
    one_line_error(["results", "run"], tmp_path, "trials.jsonl: line 2 is not JSON")
    (run / "trials.jsonl").write_text(cut + '\n{"stage": "s"}\n')
    one_line_error(["results", "run"], tmp_path, "trials.jsonl: line 2 is not a trial record")
    (run / "trials.jsonl").write_text(cut + "\n")
    assert load_results(run).empty


# --------------------------------------------------------------------------- what is not ours


def test_another_tools_directory_or_database_is_never_written(work: Path) -> None:
    other = work / "other"
    other.mkdir()
    (other / "run.json").write_text('{"format": "their own"}')
    one_line_error(["run", "exp.py", "--out", "other"], work, "not a scalesearch run.json")
    (other / "run.json").unlink()
    _foreign(other / "study.db")
    one_line_error(["run", "exp.py", "--out", "other"], work, "another tool")
    one_line_error(
        ["run", "exp.py", "--out", "new", "--storage", f"sqlite:///{other / 'study.db'}"],
        work,
        "another tool",
    )


def test_another_experiments_run_is_refused_and_its_metadata_kept(work: Path) -> None:
    text = (work / "exp.py").read_text().replace('name="tiny"', 'name="other"')
    (work / "exp.py").write_text(text)
    one_line_error(["run", "exp.py", "--out", "run"], work, "holds another run ('tiny'")
    with pytest.raises(Exception, match="holds another run"):
        run_optuna(tiny("other"), work / "run", progress=quiet())


def test_an_optuna_database_of_another_run_is_not_taken_over(work: Path) -> None:
    (work / "run" / "run.json").unlink()
    with pytest.raises(Exception, match="studies of another run"):
        run_optuna(tiny("other"), work / "run", progress=quiet())


def test_the_same_experiment_again_resumes(work: Path) -> None:
    out = io.StringIO()
    run_optuna(tiny(), work / "run", progress=Progress(out, live=False))
    assert "2 of 2 trials already done" in out.getvalue()


# --------------------------------------------------------------------------- passwords


def test_the_storage_password_never_reaches_run_json_nor_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://ada:s3cret-pw@db.example/runs"
    real = optuna_store.storage_for
    db = f"sqlite:///{tmp_path / 'server.db'}"
    monkeypatch.setattr(optuna_store, "check_url", lambda u: None)  # no PostgreSQL driver nor server here
    monkeypatch.setattr(optuna_backend, "storage_for", lambda u: real(db if u == url else u))
    out = io.StringIO()
    run_optuna(tiny(), tmp_path / "run", storage_url=url, progress=Progress(out, live=False))
    text = (tmp_path / "run" / "run.json").read_text()
    assert "s3cret" not in text and "s3cret" not in out.getvalue()
    assert json.loads(text)["storage"] == "postgresql://ada:***@db.example/runs"
    # resuming needs the URL again, password included; reading says so too
    with pytest.raises(Exception, match=r"--storage and that URL, password included") as err:
        run_optuna(tiny(), tmp_path / "run", progress=quiet())
    assert "s3cret" not in str(err.value)
    line = one_line_error(["results", "run"], tmp_path, "password")
    assert "postgresql://ada:***@db.example/runs" in line
    again = io.StringIO()
    run_optuna(tiny(), tmp_path / "run", storage_url=url, progress=Progress(again, live=False))
    assert "2 of 2 trials already done" in again.getvalue()
    assert len(load_results(tmp_path / "run", storage=db)) == 2


# --------------------------------------------------------------------------- storage URLs, output locations


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


STORAGE_CASES: list[Any] = [
    ("bad://x", "unknown database 'bad'"),
    ("notaurl", "not a database URL"),
    ("sqlite:///{tmp}/missing/dir/study.db", "does not exist"),
    ("sqlite:///{tmp}", "is a directory"),
    pytest.param(
        "postgresql+psycopg2://u:pw@localhost/db",
        "pip install psycopg2-binary",
        marks=pytest.mark.skipif(not _missing("psycopg2"), reason="psycopg2 installed"),
    ),
    pytest.param(
        "mysql+pymysql://u:pw@localhost/db",
        "pip install pymysql",
        marks=pytest.mark.skipif(not _missing("pymysql"), reason="pymysql installed"),
    ),
]


@pytest.mark.parametrize(("url", "text"), STORAGE_CASES)
def test_a_storage_url_that_cannot_work_is_one_line(tmp_path: Path, url: str, text: str) -> None:
    tiny_experiment(tmp_path / "exp.py", batches=1)
    url = url.replace("{tmp}", str(tmp_path))
    line = one_line_error(["run", "exp.py", "--storage", url], tmp_path, text)
    assert ":pw@" not in line


def test_output_locations_that_cannot_hold_a_run_are_one_line(tmp_path: Path) -> None:
    tiny_experiment(tmp_path / "exp.py", batches=1)
    (tmp_path / "file.txt").write_text("x")
    one_line_error(["run", "exp.py", "--out", "file.txt"], tmp_path, "file.txt: is a file")
    one_line_error(["run", "exp.py", "--out", "file.txt/sub"], tmp_path, "file.txt is a file")
    (tmp_path / "held" / "run.lock").mkdir(parents=True)
    one_line_error(["run", "exp.py", "--out", "held"], tmp_path, "run.lock in it is a directory")
    if os.geteuid() != 0:  # root may write anywhere
        (tmp_path / "ro").mkdir(mode=0o555)
        one_line_error(["run", "exp.py", "--out", "ro/run"], tmp_path, "is not writable")
