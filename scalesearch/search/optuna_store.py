"""The Optuna backend's store: which storage a run opens (checked before anything is written),
the storage itself with heartbeats, and the recovery of trials a stopped process left behind."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from scalesearch.errors import UsageError
from scalesearch.search.storage import (
    DEFAULT_STORE,
    check_sqlite,
    check_url,
    is_default,
    masked,
    recorded,
    resolve,
    sqlite_file,
)

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

HEARTBEAT_S = 10
GRACE_S = 30


def default_storage(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / DEFAULT_STORE).resolve()}"


def choose_store(
    run_dir: Path, storage_url: str | None, meta: dict[str, Any] | None, studies: set[str]
) -> tuple[str, bool]:
    """The storage URL of this run and whether the run owns it (its default store), checked before
    anything is written: a resumed run keeps its store (an explicit one is given again, password
    included: run.json keeps none); an SQLite file must be an Optuna store, never another tool's."""
    if storage_url is None:
        if meta is not None and not is_default(meta["storage"], run_dir):
            raise UsageError(
                f"--out {run_dir}: this run keeps its trials in {masked(meta['storage'])}; resume it with "
                "--storage and that URL, password included (run.json never keeps passwords)"
            )
        check_sqlite(run_dir / DEFAULT_STORE, reading=False, studies=studies)
        return default_storage(run_dir), True
    check_url(storage_url)
    if meta is not None and recorded(resolve(meta["storage"], run_dir), run_dir) != recorded(
        storage_url, run_dir
    ):
        raise UsageError(
            f"--storage {masked(storage_url)}: the run in {run_dir} keeps its trials in "
            f"{masked(meta['storage'])}; give that URL, or choose another --out"
        )
    path = sqlite_file(storage_url)
    if path is not None:
        check_sqlite(path, reading=False)
    return storage_url, False


def storage_for(url: str, attempts: int = 5) -> RDBStorage:
    """An RDB storage with heartbeats. Workers starting together on a new database race to
    create its schema; the loser retries once the winner's tables exist."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return RDBStorage(
                url,
                engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Queue again the trials a dead or interrupted process left: RUNNING ones (killed) are failed
    first; FAIL ones stopped by a signal (SIGINT, SIGTERM) are re-queued once."""
    retry = RetryHeartbeatStaleTrialCallback(max_retry=3)
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    recovered = []
    for t in trials:
        if t.state == TrialState.RUNNING:
            study._storage.set_trial_user_attr(
                t._trial_id, "error", "interrupted: its process died; re-queued"
            )
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        elif not (
            t.state == TrialState.FAIL
            and t.number not in retried
            and str(t.user_attrs.get("error") or "").startswith("interrupted")
        ):
            continue
        retry(study, study._storage.get_trial(t._trial_id))
        recovered.append(t.number)
    return recovered
