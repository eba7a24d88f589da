"""Ray clusters from the outside: token authentication, reachability, and runs as Ray jobs.

``scalesearch submit`` sends the project's code (the job's ``working_dir``) and the
experiment file (a ``py_modules`` entry) to the cluster's job server, where the job runs

    python -m scalesearch.jobs remote ID PACKAGE FILE -- --backend ray --address auto ...

which runs ``python -m scalesearch.cli run FILE --backend ray --address auto --out DIR ...``
and then prints ``run.json`` and ``trials.jsonl`` between two marker lines. There is no
shared filesystem: the results come back through the job's own log, and ``submit`` writes
them into the local run directory, where ``scalesearch results DIR`` reads them.

Token authentication: a token in ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token`` goes to the job server as a bearer header (harmless where the cluster
does not check it) unless ``RAY_AUTH_MODE=disabled`` is set explicitly. Authentication is
never switched off here. This module imports ray only inside functions.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from scalesearch.errors import ScalesearchError, UsageError

BEGIN = "===== scalesearch results begin ====="
END = "===== scalesearch results end ====="
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
CONNECT_TIMEOUT_S = 3.0
DEFAULT_DASHBOARD_PORT = 8265
# never uploaded: version control, environments, run outputs, data sets, caches
EXCLUDES = [
    ".git", ".hg", ".venv", "/venv", "/env", "/runs", "/ray_results", "/outputs", "/data", "/datasets",
    "**/__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".ipynb_checkpoints",
    "*.egg-info", "/build", "/dist", "*.db", "*.tar", "*.tar.gz", "*.tgz", "*.zip", "node_modules",
]


# --------------------------------------------------------------------------- authentication


def token_available() -> bool:
    return auth_token() is not None


def auth_token() -> str | None:
    """The cluster token, looked up as Ray does: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            token = Path(path).expanduser().read_text().strip()
        except OSError as err:
            raise ScalesearchError(f"RAY_AUTH_TOKEN_PATH={path} cannot be read: {err.strerror}") from None
        if not token:
            raise ScalesearchError(f"RAY_AUTH_TOKEN_PATH={path} is empty")
        return token
    default = Path.home() / ".ray" / "auth_token"
    if default.is_file():
        return default.read_text().strip() or None
    return None


def auth_headers() -> dict[str, str]:
    """The bearer header for the job server, when a token is at hand and auth is not disabled."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = auth_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


# --------------------------------------------------------------------------- addresses


def _host_port(address: str, default_port: int | None) -> tuple[str, int]:
    text = address if "://" in address else f"//{address}"
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--address {address}: the port is not a number") from None
    if not parts.hostname:
        raise UsageError(f"--address {address}: give HOST:PORT, e.g. 127.0.0.1:6379 or http://HEAD:8265")
    port = port or default_port
    if port is None:
        raise UsageError(f"--address {address}: give HOST:PORT, e.g. 127.0.0.1:6379")
    return parts.hostname, port


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S, default_port: int | None = None) -> None:
    """Fail within ``timeout`` seconds, with a clear message, when nothing listens at ``address``."""
    host, port = _host_port(address, default_port)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except TimeoutError:
        why = f"no answer within {timeout:g} s"
    except OSError as err:
        why = err.strerror or str(err)
    raise ScalesearchError(f"cannot reach the Ray cluster at {address} ({host}:{port}: {why}); check the "
                           "address, or start a cluster with `ray start --head`")


def dashboard_address(address: str | None) -> str:
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or ""
    if not address:
        raise UsageError("give the Ray job server address: --address http://HEAD:8265 "
                         "(or set RAY_API_SERVER_ADDRESS)")
    if "://" not in address:
        address = f"http://{address}"
    return address.rstrip("/")


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
            "token (`ray get-auth-token` on the head) in ~/.ray/auth_token") from None
    except (ConnectionError, RuntimeError, OSError) as err:
        raise ScalesearchError(f"cannot talk to the Ray job server at {address}: {err}") from None


# --------------------------------------------------------------------------- results through the log


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
    from scalesearch.results import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads(files["run.json"])
    meta["experiment_file"] = source or meta.get("experiment_file")
    meta["storage"] = remote
    (out / "trials.jsonl").write_text(files.get("trials.jsonl", ""))
    write_json_atomic(out / "run.json", meta)


# --------------------------------------------------------------------------- submit


@dataclass
class Submission:
    job_id: str
    address: str
    package: str


def package_dir(name: str) -> Path:
    """The directory of an imported package (namespace packages included)."""
    import importlib

    module = importlib.import_module(name)
    if getattr(module, "__file__", None):
        return Path(module.__file__).resolve().parent
    return Path(next(iter(module.__path__))).resolve()


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
        env.update(py_modules=[str(package_dir("scalesearch")), str(package_dir("searchspaces")),
                               str(staging / package)], excludes=["**/__pycache__", "*.pyc"])
    return env, package


def run_arguments(overrides: Sequence[str], trials: int | None, cpus_per_trial: float, gpus_per_trial: float,
                  max_concurrent: int | None) -> list[str]:
    args = ["--backend", "ray", "--address", "auto", "--cpus-per-trial", f"{cpus_per_trial:g}",
            "--gpus-per-trial", f"{gpus_per_trial:g}"]
    for item in overrides:
        args += ["--set", item]
    if trials is not None:
        args += ["--trials", str(trials)]
    if max_concurrent is not None:
        args += ["--max-concurrent", str(max_concurrent)]
    return args


def submit(file: str, address: str | None, name: str, run_args: list[str], out: Path | None = None) -> Submission:
    """Submit ``scalesearch run FILE`` as a Ray job; returns at once with the job's id."""
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"experiment file {file} does not exist")
    jobs = client(address)
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:40]
    job_id = f"scalesearch-{slug}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="scalesearch-submit-") as staging:
        env, package = runtime_env(path.resolve(), Path(staging), out)
        entrypoint = shlex.join(["python", "-m", "scalesearch.jobs", "remote", job_id, package, path.name, "--",
                                 *run_args])
        quiet = logging.getLogger("ray._private.runtime_env")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # not one line per file uploaded
        try:
            jobs.submit_job(entrypoint=entrypoint, submission_id=job_id, runtime_env=env,
                            metadata={"scalesearch": name, "experiment_file": str(path)})
        except Exception as err:
            raise ScalesearchError(f"the Ray job server at {dashboard_address(address)} did not take the job: "
                                   f"{err}") from None
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
        if str(info.status.value if hasattr(info.status, "value") else info.status) in TERMINAL \
                or time.monotonic() > deadline:
            return info
        time.sleep(0.5)


def status_name(info: Any) -> str:
    status = info.status
    return str(status.value if hasattr(status, "value") else status)


def log_tail(logs: str, lines: int = 40) -> str:
    kept = list(without_results(logs.splitlines()))
    return "\n".join(kept[-lines:])


# --------------------------------------------------------------------------- job side


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
        print(f"scalesearch job: the experiment file {filename} ({package}) did not reach the cluster",
              file=sys.stderr)
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


USAGE = "usage: python -m scalesearch.jobs remote JOB_ID PACKAGE FILE -- RUN_ARGS..."

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "remote":
        sys.exit(remote_main(sys.argv[2:]))
    print(USAGE, file=sys.stderr)
    sys.exit(2)
