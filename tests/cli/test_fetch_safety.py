"""Results fetched from a cluster are data, never code, never outside runs/, never over an existing run."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from scalesearch.cluster import transfer
from scalesearch.errors import ScalesearchError
from tests.helpers import run_main


def _block(files: dict) -> str:
    blob = base64.b64encode(gzip.compress(json.dumps(files).encode())).decode()
    return f"log line\n{transfer.BEGIN}\n{blob}\n{transfer.END}\n"


@pytest.mark.parametrize("job_id", ["../../x", "/etc", "a/b", "..", "x..y", "", " ", "-rf"])
def test_job_ids_that_are_paths_are_refused_before_anything_is_contacted(job_id, tmp_path: Path):
    out = run_main("jobs", "fetch", job_id, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert (
        any(s in out.stderr for s in ("job id", "JOB_ID", "-rf"))
        and len(out.stderr.strip().splitlines()) == 1
    )
    assert list(tmp_path.iterdir()) == []


def test_fetch_into_an_existing_run_is_refused_before_contacting(tmp_path: Path):
    run = tmp_path / "runs" / "job-1"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"name": "mine"}')
    out = run_main("jobs", "fetch", "job-1", cwd=tmp_path)
    assert out.returncode == 2 and "already holds a run (run.json)" in out.stderr
    assert (run / "run.json").read_text() == '{"name": "mine"}'


def test_write_results_never_replaces_a_run(tmp_path: Path):
    (tmp_path / "trials.jsonl").write_text("{}\n")
    with pytest.raises(ScalesearchError, match="already holds a run"):
        transfer.write_results({"run.json": "{}"}, tmp_path, None, "ray job x")
    assert (tmp_path / "trials.jsonl").read_text() == "{}\n" and not (tmp_path / "run.json").exists()


def test_a_fetched_experiment_path_is_provenance_only(tmp_path: Path):
    evil = tmp_path / "evil.py"
    evil.write_text("raise SystemExit('executed')\n")
    files = transfer.extract_results(
        _block(
            {
                "run.json": json.dumps({"name": "r", "experiment_file": str(evil)}),
                "trials.jsonl": "",
                "other": "x",
            }
        )
    )
    assert files is not None and set(files) == {"run.json", "trials.jsonl"}
    transfer.write_results(files, tmp_path / "run", None, "ray job j at http://h:8265")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["experiment_file"] is None and meta["remote_experiment_file"] == str(evil)
    assert meta["storage"] == "ray job j at http://h:8265"


def test_submit_keeps_the_local_file_it_sent(tmp_path: Path):
    transfer.write_results(
        {"run.json": json.dumps({"experiment_file": "/remote/x.py"})},
        tmp_path / "r",
        "experiments/mine.py",
        "ray job j",
    )
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert (
        meta["experiment_file"] == "experiments/mine.py" and meta["remote_experiment_file"] == "/remote/x.py"
    )


def test_results_are_decompressed_with_a_size_limit():
    logs = _block({"run.json": "{}", "trials.jsonl": "0" * 5_000_000})  # ~5 MB from a few KiB of gzip
    with pytest.raises(ScalesearchError, match="decompresses to more than 1 MiB"):
        transfer.extract_results(logs, limit=2**20)
    assert transfer.extract_results(logs)["trials.jsonl"] == "0" * 5_000_000


@pytest.mark.parametrize(
    "blob",
    [
        "!!!notbase64",
        base64.b64encode(b"not gzip").decode(),
        base64.b64encode(
            gzip.compress(b"[1, 2]", mtime=0)
        ).decode(),  # mtime=0: the same id in every xdist worker
    ],
)
def test_damaged_results_blocks_are_ignored(blob: str):
    assert transfer.extract_results(f"{transfer.BEGIN}\n{blob}\n{transfer.END}\n") is None
