"""Stopping a run by signal, for both backends: SIGTERM stops it as Ctrl-C (SIGINT) does, the
interrupted trial is recorded with the signal's name and runs again on resume, and the run says
in one line how to resume it."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Interrupted(KeyboardInterrupt):
    """A signal asked the run to stop (SIGTERM; SIGINT arrives as a plain KeyboardInterrupt)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.signal = name


def signal_name(err: BaseException) -> str:
    """The signal behind a KeyboardInterrupt (SIGINT unless it is an :class:`Interrupted`)."""
    return str(getattr(err, "signal", "SIGINT"))


def interrupted_error(err: BaseException) -> str:
    """The error recorded on a trial stopped by a signal (it marks the trial for re-queueing)."""
    return f"interrupted: {signal_name(err)} received; re-queued on the next run"


def _not_an_interruption(record: logging.LogRecord) -> bool:
    """Optuna logs a stopped trial with a traceback; the run says in one line why it stopped."""
    return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` in the main thread, as Ctrl-C raises KeyboardInterrupt."""
    logging.getLogger("optuna.study._optimize").addFilter(_not_an_interruption)
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def resume_command(
    source: str | None, run_dir: Path, overrides: list[str] | None, storage: str | None = None
) -> str:
    """The command that resumes a run (a storage URL shown without its password)."""
    from scalesearch.search.storage import masked

    sets = "".join(f" --set {o}" for o in overrides or [])
    store = f" --storage '{masked(storage)}'" if storage else ""
    if storage and masked(storage) != storage:
        store += " (its password in place of ***)"
    return f"scalesearch run {source or 'EXPERIMENT.py'} --out {run_dir}{sets}{store}"


def stopped_line(name: str, err: BaseException, command: str) -> str:
    return (
        f"{name}: stopped by {signal_name(err)}; finished trials are kept and the interrupted one "
        f"runs again on resume: {command}"
    )
