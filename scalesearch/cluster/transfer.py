"""Results through a job's log: the job prints run.json and trials.jsonl between two marker lines;
the client finds the block again and writes the files into a local run directory."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from scalesearch.errors import ScalesearchError, UsageError

BEGIN = "===== scalesearch results begin ====="
END = "===== scalesearch results end ====="
MAX_RESULTS_BYTES = 256 * 2**20
"""A results block may decompress to at most this much (256 MiB); a larger one is refused."""
RUN_FILES = ("run.json", "trials.jsonl")
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_job_id(job_id: str) -> str:
    """A job id names a directory under runs/: letters, digits, ``_ . -`` only, no path, no ``..``."""
    if not _JOB_ID.fullmatch(job_id) or ".." in job_id:
        raise UsageError(
            f"a job id is letters, digits, '_', '.' and '-' (as `scalesearch submit` printed, "
            f"e.g. scalesearch-tiny-1a2b3c4d), but got {job_id!r}"
        )
    return job_id


def check_new_run_dir(out: Path) -> Path:
    """``out`` may receive fetched results: a new or empty directory, never an existing run or a file."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; results go into a directory")
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held:
        raise UsageError(
            f"--out {out} already holds a run ({held[0]}); fetch into a new directory instead of replacing it"
        )
    return out


def _decompress(blob: bytes, limit: int) -> bytes | None:
    """gzip data decompressed up to ``limit`` bytes; None when it is not gzip, an error when larger."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(blob, limit + 1)
    except zlib.error:
        return None
    if len(data) > limit or inflater.unconsumed_tail:
        raise ScalesearchError(
            f"the job's results block decompresses to more than {limit // 2**20} MiB; refusing to unpack it"
        )
    return data


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
        stream.write(blob[i : i + 100] + "\n")
    stream.write(END + "\n")
    stream.flush()


def extract_results(logs: str, limit: int = MAX_RESULTS_BYTES) -> dict[str, str] | None:
    """The files of the last complete results block in a job's log, or None.

    Decompression stops at ``limit`` bytes (a larger block is an error, not a memory blow-up);
    anything but a mapping of the known file names to text is ignored.
    """
    end = logs.rfind(END)
    begin = logs.rfind(BEGIN, 0, end if end >= 0 else None)
    if begin < 0 or end < 0:
        return None
    blob = "".join(logs[begin + len(BEGIN) : end].split())
    try:
        data = _decompress(base64.b64decode(blob, validate=True), limit)
        files = json.loads(data) if data is not None else None
    except (ValueError, binascii.Error):
        return None
    if not isinstance(files, dict):
        return None
    return {k: v for k, v in files.items() if k in RUN_FILES and isinstance(v, str)}


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
    """Write fetched files into ``out``, a new directory (an existing run is never replaced).

    run.json's ``experiment_file`` is ``source``, the local file the user submitted, or None: the
    path the job reported is remote content and is kept only as ``remote_experiment_file``, so
    reading a fetched run never chooses code to run here.
    """
    from scalesearch.analysis.results import write_json_atomic
    from scalesearch.atomic import write_atomic

    try:
        meta = json.loads(files["run.json"])
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise ScalesearchError(f"the job's run.json is not a JSON object; nothing written to {out}")
    check_new_run_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    meta["remote_experiment_file"] = meta.get("experiment_file")
    meta["experiment_file"] = source
    meta["storage"] = remote
    trials = files.get("trials.jsonl") or ""
    if trials:
        write_atomic(out / "trials.jsonl", trials)
    else:
        (out / "trials.jsonl").touch()
    write_json_atomic(out / "run.json", meta)
