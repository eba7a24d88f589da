"""Stopping a run by signal, for both backends: SIGTERM stops it as Ctrl-C (SIGINT) does, the
interrupted trial is recorded with the signal's name and runs again on resume, and the run says
in one line how to resume it.

An exception raised by a signal at an arbitrary point can leave a storage transaction open (its
lock held, so recording the stopped trial then waits on it). So the Optuna driver stops only where
it is safe: at once inside :func:`interruptible` code (training, which writes nothing), otherwise
at the next such point or at the end of the stage. A second signal stops at once."""

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


class _Gate:
    """Whether the main thread may be stopped now, and the signal waiting for a safe point."""

    pending: str | None = None
    open: bool = False


_gate = _Gate()


def raise_if_pending() -> None:
    """Stop here if a signal arrived while stopping was unsafe."""
    if _gate.pending is not None:
        raise Interrupted(_gate.pending)


@contextmanager
def interruptible() -> Iterator[None]:
    """Code inside may be stopped by a signal at once (it holds no storage transaction)."""
    raise_if_pending()
    was, _gate.open = _gate.open, True
    try:
        yield
    finally:
        _gate.open = was


@contextmanager
def deferred() -> Iterator[None]:
    """Inside interruptible code: a storage write that a signal must not cut (it waits till after)."""
    was, _gate.open = _gate.open, False
    try:
        yield
    finally:
        _gate.open = was
    if was:
        raise_if_pending()


@contextmanager
def signal_interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM stop the run at the next safe point with :class:`Interrupted`."""
    logging.getLogger("optuna.study._optimize").addFilter(_not_an_interruption)
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        again = _gate.pending is not None
        _gate.pending = _gate.pending or name
        if _gate.open or again:  # a second signal: the user insists
            raise Interrupted(_gate.pending)

    _gate.pending, _gate.open = None, False
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _gate.pending, _gate.open = None, False


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
