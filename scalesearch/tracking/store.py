"""The store ``--mlflow`` names and the :class:`Tracker` over it: one MLflow run per command, kept
in ``mlflow.json`` of the command's directory; MLflow failures after the start are one warning line."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from scalesearch.atomic import write_atomic
from scalesearch.errors import ScalesearchError, UsageError

STATE_FILE = "mlflow.json"
HINT = "pip install 'scalesearch[tracking]'"
SERVERS, DATABASES = ("http", "https"), ("sqlite", "postgresql", "mysql", "mssql", "databricks")
_LIMIT = 5000  # characters kept of a param or tag value (MLflow's limits are 6000 and 8000)
_HTTP_DEFAULTS = {  # a server that is down costs seconds, not minutes of retries
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

Say = Callable[[str], None]
T = TypeVar("T", bound="Tracker")


# --------------------------------------------------------------------------- the URI


def shown(uri: str) -> str:
    """``uri`` with its password (if any) replaced by ``***``."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def tracking_uri(uri: str) -> str:
    """The store ``--mlflow`` names, checked without touching it: a directory (a path or ``file:``
    URI, returned as an absolute ``file://`` URI), a tracking server or a database URL."""
    from scalesearch.search.storage import writable_dir

    text = uri.strip()
    what = f"--mlflow {shown(text)}"
    if not text:
        raise UsageError(
            "--mlflow needs a store: a directory (file:./mlruns), a tracking server "
            "(http://127.0.0.1:5000) or a database (sqlite:///mlflow.db)"
        )
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if len(scheme) <= 1 or scheme == "file":  # a path (a drive letter is no scheme)
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise UsageError(
                f"{what}: a file store is a local directory, but the URI names host {parts.netloc!r}"
            )
        path = Path(urllib.parse.unquote(parts.path) if scheme == "file" else text).expanduser()
        if not str(path).strip():
            raise UsageError(f"{what}: names no directory; e.g. file:./mlruns")
        writable_dir(path, what)
        return path.resolve().as_uri()
    base = scheme.split("+")[0]
    if base in SERVERS:
        try:
            host, _ = parts.hostname, parts.port
        except ValueError as err:
            raise UsageError(f"{what}: not a valid server URL ({err})") from None
        if not host:
            raise UsageError(f"{what}: a tracking server URL needs a host, e.g. http://127.0.0.1:5000")
        return text
    if base in DATABASES:
        return text
    raise UsageError(
        f"{what}: unsupported scheme {scheme!r}; use a directory (file:./mlruns), a tracking server "
        f"({', '.join(s + '://' for s in SERVERS)}) or a database ({', '.join(s + '://' for s in DATABASES)})"
    )


def _client_class() -> Any:
    """MLflow's client class; missing mlflow is one line naming the extra."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UsageError(f"--mlflow needs the mlflow package: {HINT}") from None
    return MlflowClient


def reason(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= 200 else text[:197] + "..."


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_LIMIT]


def flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``a.b`` keys (params of a run)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# --------------------------------------------------------------------------- the tracker


class Tracker:
    """One command's MLflow run: start (or reopen) it, log trials, epochs and files, close it."""

    def __init__(self, uri: str, say: Say | None = None) -> None:
        self.uri = tracking_uri(uri)
        self.client_class = _client_class()  # before any work: a missing extra is one line
        self.say: Say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.client: Any = None
        self.run_id: str | None = None
        self.experiment_id = ""
        self.active = False
        self.work = "search"
        self._metrics: set[str] = set()  # metric names the run holds

    # ----------------------------------------------------------------- start and close

    def start(
        self,
        state_dir: Path,
        experiment: str,
        run_name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> None:
        """Open this directory's run (from ``mlflow.json``) or create it; a store that cannot be
        used is one line (nothing has been searched or trained yet)."""
        if self.uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants an opt-in
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        try:
            self.client = self.client_class(tracking_uri=self.uri)
            run = self._stored_run(state_dir)
            if run is None:
                self.experiment_id = self._experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment)
                run = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags))
                self._store(state_dir, run.info.run_id)
            else:
                self.experiment_id = run.info.experiment_id
                self.client.update_run(run.info.run_id, status="RUNNING")
            self.run_id = run.info.run_id
            have = dict(run.data.params)
            self._log(self.run_id, params={k: v for k, v in flat(params).items() if k not in have})
            self._metrics = set(run.data.metrics)
        except ScalesearchError:
            raise
        except Exception as err:
            raise UsageError(
                f"--mlflow {shown(self.uri)}: cannot start a run there ({reason(err)})"
            ) from None
        self.active = True

    def close(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (FINISHED, FAILED or KILLED)."""
        run_id = self.run_id
        if run_id is not None:
            # tried even after a failure: the store may be back, and the run should not stay RUNNING
            self._guard("closing the run", lambda: self.client.set_terminated(run_id, status), always=True)
        self.active = False

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            return str(self.client.create_experiment(name))
        if found.lifecycle_stage != "active":
            raise UsageError(
                f"--mlflow {shown(self.uri)}: experiment {name!r} is deleted there; restore it or "
                "choose another name with MLFLOW_EXPERIMENT_NAME"
            )
        return str(found.experiment_id)

    def _stored_run(self, state_dir: Path) -> Any:
        """The run ``mlflow.json`` names for this store, if the store still holds it."""
        try:
            runs = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))["runs"]
            run_id = runs[self.uri]["run_id"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            run = self.client.get_run(run_id)
        except Exception:  # deleted for good, or never there
            return None
        return run if run.info.lifecycle_stage == "active" else None

    def _store(self, state_dir: Path, run_id: str) -> None:
        path = state_dir / STATE_FILE
        try:
            runs = dict(json.loads(path.read_text(encoding="utf-8"))["runs"])
        except (OSError, ValueError, KeyError, TypeError):
            runs = {}
        runs[self.uri] = {"run_id": run_id, "experiment_id": self.experiment_id}
        write_atomic(path, json.dumps({"runs": runs}, indent=2))

    # ----------------------------------------------------------------- logging

    def _guard(self, what: str, action: Callable[[], None], always: bool = False) -> None:
        """Run an MLflow call (unless tracking is off, or ``always``); a failure is one warning line
        and turns tracking off for the rest of this command."""
        if not self.active and not always:
            return
        try:
            action()
        except Exception as err:
            if self.active:
                self.say(
                    f"warning: MLflow tracking failed {what} ({reason(err)}); tracking is off for the "
                    f"rest of this command and the {self.work} goes on; run the same command again to "
                    "log what is missing"
                )
            self.active = False

    def _log(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Iterable[tuple[str, Any, int]] = (),
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Params, ``(name, value, step)`` metrics and tags in batches of MLflow's sizes."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        ps = [Param(k, _text(v)) for k, v in (params or {}).items() if v is not None]
        ts = [RunTag(k, _text(v)) for k, v in (tags or {}).items() if v is not None]
        ms = []
        for name, value, step in metrics:
            number = _number(value)
            if number is not None:
                ms.append(Metric(name, number, now, step))
        for i in range(0, max(len(ps), len(ts), 1), 100):
            if ps[i : i + 100] or ts[i : i + 100]:
                self.client.log_batch(run_id, params=ps[i : i + 100], tags=ts[i : i + 100])
        for i in range(0, len(ms), 1000):
            self.client.log_batch(run_id, metrics=ms[i : i + 1000])

    def log_artifact(self, path: Path) -> None:
        run_id = self.run_id
        if run_id is not None:
            self._guard(f"storing {path.name}", lambda: self.client.log_artifact(run_id, str(path)))


@contextmanager
def tracking(uri: str | None, kind: type[T], say: Say | None = None) -> Iterator[T | None]:
    """A ``kind`` of :class:`Tracker` for ``--mlflow URI`` (None without), closed with the command's fate:
    FINISHED, KILLED (Ctrl-C, SIGTERM) or FAILED."""
    if uri is None:
        yield None
        return
    tracker = kind(uri, say)
    try:
        yield tracker
    except KeyboardInterrupt:
        tracker.close("KILLED")
        raise
    except BaseException:
        tracker.close("FAILED")
        raise
    tracker.close("FINISHED")
