"""Results through a job's log: the job prints run.json and trials.jsonl between two marker lines;
the client finds the block again and writes the files into a local run directory."""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

BEGIN = "===== scalesearch results begin ====="
END = "===== scalesearch results end ====="


def dump_results(run_dir: Path, stream: TextIO | None = None) -> None:
    """Print a run directory's run.json and trials.jsonl between the markers (job side)."""
    stream = stream or sys.stdout
    files = {}
    for name in ("run.json", "trials.jsonl"):
        path = run_dir / name
        if path.exists():
            files[name] = path.read_text()
    blob = base64.b64encode(gzip.compress(json.dumps(files).encode())).decode()
    stream.write(BEGIN + "\n")
    for i in range(0, len(blob), 100):
        stream.write(blob[i:i + 100] + "\n")
    stream.write(END + "\n")
    stream.flush()


def extract_results(logs: str) -> dict[str, str] | None:
    """The files of the last complete results block in a job's log, or None."""
    end = logs.rfind(END)
    begin = logs.rfind(BEGIN, 0, end if end >= 0 else None)
    if begin < 0 or end < 0:
        return None
    blob = "".join(logs[begin + len(BEGIN):end].split())
    try:
        return json.loads(gzip.decompress(base64.b64decode(blob)))
    except (ValueError, OSError):
        return None


def without_results(lines: Iterable[str]) -> Iterable[str]:
    """Log lines with the results block left out."""
    inside = False
    for line in lines:
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            yield line


def write_results(files: dict[str, str], out: Path, source: str | None, remote: str) -> None:
    """Write fetched files into ``out`` (run.json records the local file and where the run ran)."""
    from scalesearch.analysis.results import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads(files["run.json"])
    meta["experiment_file"] = source or meta.get("experiment_file")
    meta["storage"] = remote
    (out / "trials.jsonl").write_text(files.get("trials.jsonl", ""))
    write_json_atomic(out / "run.json", meta)
