"""The job side of ``scalesearch submit``: on the cluster, run the experiment, then print its results.

The job's entrypoint is ``python -m scalesearch.cluster.remote JOB_ID PACKAGE FILE -- RUN_ARGS...``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scalesearch.cluster.transfer import dump_results


def remote_main(argv: Sequence[str]) -> int:
    """On the cluster: run the experiment with the ray backend, then print its results."""
    import importlib.util

    if len(argv) < 3:
        print(USAGE, file=sys.stderr)
        return 2
    job_id, package, filename, rest = argv[0], argv[1], argv[2], list(argv[3:])
    if rest and rest[0] == "--":
        rest = rest[1:]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin or not (Path(spec.origin).parent / filename).is_file():
        print(
            f"scalesearch job: the experiment file {filename} ({package}) did not reach the cluster",
            file=sys.stderr,
        )
        return 2
    experiment_file = Path(spec.origin).parent / filename
    out = Path(tempfile.gettempdir()).resolve() / "scalesearch-jobs" / job_id
    cmd = [sys.executable, "-m", "scalesearch.cli", "run", str(experiment_file), "--out", str(out), *rest]
    print("+ " + shlex.join(cmd), flush=True)
    # Ray may re-create the job's working directory under a running driver (its cwd then reads
    # as deleted): run from the run directory's parent, with the code on PYTHONPATH instead.
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH", "")) if p)
    rc = subprocess.call(cmd, cwd=out.parent, env=env)
    if (out / "run.json").exists():
        dump_results(out)
    print(f"scalesearch job {job_id}: run exited with status {rc}; run directory {out}", flush=True)
    return rc


USAGE = "usage: python -m scalesearch.cluster.remote JOB_ID PACKAGE FILE -- RUN_ARGS..."

if __name__ == "__main__":
    sys.exit(remote_main(sys.argv[1:]))
