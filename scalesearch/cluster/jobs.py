"""The Ray job client: submit a run as a Ray job (code and experiment file uploaded), follow, wait, list.

``scalesearch submit`` sends the project's code (the job's ``working_dir``) and the
experiment file (a ``py_modules`` entry) to the cluster's job server, where the job runs

    python -m scalesearch.cluster.remote ID PACKAGE FILE -- --backend ray --address auto ...

which runs ``python -m scalesearch.cli run FILE --backend ray --address auto --out DIR ...``
and then prints ``run.json`` and ``trials.jsonl`` between two marker lines. There is no
shared filesystem: the results come back through the job's own log, and ``submit`` writes
them into the local run directory, where ``scalesearch results DIR`` reads them.

This module imports ray only inside functions; reaching the cluster is :mod:`.connection`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shlex
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalesearch.cluster.connection import (
    DEFAULT_DASHBOARD_PORT,
    auth_headers,
    check_reachable,
    dashboard_address,
    package_dir,
)
from scalesearch.cluster.transfer import BEGIN, END, without_results
from scalesearch.errors import ScalesearchError, UsageError

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
# never uploaded: version control, environments, run outputs, data sets, caches
EXCLUDES = [
    ".git",
    ".hg",
    ".venv",
    "/venv",
    "/env",
    "/runs",
    "/ray_results",
    "/outputs",
    "/data",
    "/datasets",
    "**/__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".ipynb_checkpoints",
    "*.egg-info",
    "/build",
    "/dist",
    "*.db",
    "*.tar",
    "*.tar.gz",
    "*.tgz",
    "*.zip",
    "node_modules",
]


def client(address: str | None) -> Any:
    """A JobSubmissionClient for the dashboard at ``address`` (with the token, if any)."""
    address = dashboard_address(address)
    check_reachable(address, default_port=DEFAULT_DASHBOARD_PORT)
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    logging.getLogger("ray.dashboard").setLevel(logging.WARNING)  # no INFO line per request

    try:
        return JobSubmissionClient(address, headers=auth_headers() or None)
    except AuthenticationError as err:
        first = str(err).strip().splitlines()[0]
        raise ScalesearchError(
            f"the Ray job server at {address} refused us ({first}); set RAY_AUTH_TOKEN or put the cluster's "
            "token (`ray get-auth-token` on the head) in ~/.ray/auth_token"
        ) from None
    except (ConnectionError, RuntimeError, OSError) as err:
        raise ScalesearchError(f"cannot talk to the Ray job server at {address}: {err}") from None


# --------------------------------------------------------------------------- submit


@dataclass
class Submission:
    job_id: str
    address: str
    package: str


def project_root() -> Path | None:
    """The source checkout holding the scalesearch package (None for an installed package)."""
    root = package_dir("scalesearch").parent
    return root if (root / "pyproject.toml").is_file() and (root / "searchspaces").is_dir() else None


def runtime_env(experiment_file: Path, staging: Path, out: Path | None) -> tuple[dict[str, Any], str]:
    """The job's runtime_env (project code + the experiment file) and the experiment's package name.

    The experiment file travels as a one-file package (``py_modules``) with a name unique to
    its content, so it may live anywhere (inside the project or not).
    """
    digest = hashlib.sha1(experiment_file.read_bytes()).hexdigest()[:10]
    package = f"scalesearch_job_{re.sub(r'[^A-Za-z0-9_]', '_', experiment_file.stem)}_{digest}"
    (staging / package).mkdir()
    (staging / package / "__init__.py").write_text("")
    shutil.copyfile(experiment_file, staging / package / experiment_file.name)
    env: dict[str, Any] = {"env_vars": {"PYTHONUNBUFFERED": "1"}}
    root = project_root()
    if root is not None:
        excludes = list(EXCLUDES)
        if out is not None:
            with contextlib.suppress(ValueError):  # an --out inside the project is not uploaded
                excludes.append("/" + out.resolve().relative_to(root).as_posix())
        env.update(working_dir=str(root), excludes=excludes, py_modules=[str(staging / package)])
    else:
        env.update(
            py_modules=[
                str(package_dir("scalesearch")),
                str(package_dir("searchspaces")),
                str(staging / package),
            ],
            excludes=["**/__pycache__", "*.pyc"],
        )
    return env, package


def run_arguments(
    overrides: Sequence[str],
    trials: int | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_concurrent: int | None,
) -> list[str]:
    args = [
        "--backend",
        "ray",
        "--address",
        "auto",
        "--cpus-per-trial",
        f"{cpus_per_trial:g}",
        "--gpus-per-trial",
        f"{gpus_per_trial:g}",
    ]
    for item in overrides:
        args += ["--set", item]
    if trials is not None:
        args += ["--trials", str(trials)]
    if max_concurrent is not None:
        args += ["--max-concurrent", str(max_concurrent)]
    return args


def submit(
    file: str, address: str | None, name: str, run_args: list[str], out: Path | None = None
) -> Submission:
    """Submit ``scalesearch run FILE`` as a Ray job; returns at once with the job's id."""
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"experiment file {file} does not exist")
    jobs = client(address)
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:40]
    job_id = f"scalesearch-{slug}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="scalesearch-submit-") as staging:
        env, package = runtime_env(path.resolve(), Path(staging), out)
        entrypoint = shlex.join(
            ["python", "-m", "scalesearch.cluster.remote", job_id, package, path.name, "--", *run_args]
        )
        quiet = logging.getLogger("ray._private.runtime_env")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # not one line per file uploaded
        try:
            jobs.submit_job(
                entrypoint=entrypoint,
                submission_id=job_id,
                runtime_env=env,
                metadata={"scalesearch": name, "experiment_file": str(path)},
            )
        except Exception as err:
            raise ScalesearchError(
                f"the Ray job server at {dashboard_address(address)} did not take the job: {err}"
            ) from None
        finally:
            quiet.setLevel(level)
    return Submission(job_id, dashboard_address(address), package)


def stream_logs(jobs: Any, job_id: str, write: Callable[[str], None]) -> None:
    """Follow a job's log until it ends, leaving out the results block."""
    import asyncio

    async def follow() -> None:
        buf = ""
        inside = False
        async for chunk in jobs.tail_job_logs(job_id):
            buf += chunk
            *lines, buf = buf.split("\n")
            for line in lines:
                if line.strip() == BEGIN:
                    inside = True
                elif line.strip() == END:
                    inside = False
                elif not inside:
                    write(line + "\n")
        if buf and not inside:
            write(buf)

    asyncio.run(follow())


def wait(jobs: Any, job_id: str, timeout_s: float = 30.0) -> Any:
    """The job's info once it is in a terminal state (the log stream can end a moment before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = jobs.get_job_info(job_id)
        if (
            str(info.status.value if hasattr(info.status, "value") else info.status) in TERMINAL
            or time.monotonic() > deadline
        ):
            return info
        time.sleep(0.5)


def status_name(info: Any) -> str:
    status = info.status
    return str(status.value if hasattr(status, "value") else status)


def log_tail(logs: str, lines: int = 40) -> str:
    kept = list(without_results(logs.splitlines()))
    return "\n".join(kept[-lines:])
