"""Live progress of a search on a terminal: trials done/total, best so far, ETA, epochs of the trial.

Quiet when standard error is not a terminal (CI, logs, Ray workers): only stage lines and
what :meth:`Progress.say` prints. The live line is ended before any other line is printed,
and the ETA covers the whole run (every stage) once :meth:`Progress.plan` gave its size.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.done = 0
        self.total = 0
        self.best: float | None = None
        self.started = time.monotonic()
        self.current = ""
        self.stage_name = ""
        self.run_total: int | None = None  # trials of the whole run, when known
        self._stages_done = 0  # trials of earlier stages (done or run) at the current stage's start
        self._ran = 0  # trials this process finished (they time the ETA)
        self._open = False  # a live line is on screen, not ended

    def _line(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._open = True

    def say(self, text: str) -> None:
        """Print a line of its own (the live line is ended first)."""
        self.end_line()
        print(text, file=self.stream, flush=True)

    def end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def plan(self, total: int) -> None:
        """The number of trials of the whole run (every stage), for the ETA."""
        self.run_total = total

    def _status(self, extra: str = "") -> str:
        elapsed = time.monotonic() - self.started
        total = max(self.run_total or 0, self._stages_done + self.total)
        left = total - self._stages_done - self.done
        eta = f" | ETA {_duration(elapsed / self._ran * left)}" if self._ran and left > 0 else ""
        best = f" | best {self.best:.4g}" if self.best is not None else ""
        return f"[{self.stage_name} {self.done}/{self.total}]{best}{eta}{extra}"

    def stage(self, name: str, done: int, total: int, note: str = "") -> None:
        if self.stage_name:
            self._stages_done += self.total  # the stage before ran to its end
        self.stage_name, self.done, self.total = name, done, total
        self.say(f"stage {name}: {done} of {total} trials already done{note}")

    def trial_started(self, number: int, values: Mapping[str, Any]) -> None:
        shown = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        self.current = f" | trial {number} {shown}"
        self._line(self._status(self.current))

    def epoch(self, epoch: int, epochs: int, metrics: Mapping[str, float]) -> None:
        """After the ``epoch``-th of ``epochs`` epochs (1-based, as the training loop counts)."""
        acc = metrics.get("accuracy")
        shown = f" acc {acc:.3f}" if acc is not None else ""
        self._line(self._status(f"{self.current} | epoch {epoch}/{epochs}{shown}"))

    def trial_finished(self, trial: Any, best: float | None) -> None:
        self.done += 1
        self._ran += 1
        self.best = best
        self._line(self._status())

    def close(self, summary: str) -> None:
        if self._open:
            self.stream.write("\r\033[K")
            self._open = False
        print(summary, file=self.stream, flush=True)
