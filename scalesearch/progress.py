"""Live progress of a search on a terminal: trials done/total, best so far, ETA, epochs of the trial.

Quiet when standard error is not a terminal (CI, logs, Ray workers): only stage lines.
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
        self._done_at_start = 0

    def _line(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()

    def _status(self, extra: str = "") -> str:
        elapsed = time.monotonic() - self.started
        eta = ""
        ran = self.done - self._done_at_start
        if ran and self.total > self.done:
            eta = f" | ETA {_duration(elapsed / ran * (self.total - self.done))}"
        best = f" | best {self.best:.4g}" if self.best is not None else ""
        return f"[{self.stage_name} {self.done}/{self.total}]{best}{eta}{extra}"

    def stage(self, name: str, done: int, total: int) -> None:
        self.stage_name, self.done, self.total = name, done, total
        self.started = time.monotonic()
        self._done_at_start = done
        print(f"stage {name}: {done} of {total} trials already done", file=self.stream, flush=True)

    def trial_started(self, number: int, values: Mapping[str, Any]) -> None:
        shown = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        self.current = f" | trial {number} {shown}"
        self._line(self._status(self.current))

    def epoch(self, epoch: int, epochs: int, metrics: Mapping[str, float]) -> None:
        acc = metrics.get("accuracy")
        shown = f" acc {acc:.3f}" if acc is not None else ""
        self._line(self._status(f"{self.current} | epoch {epoch + 1}/{epochs}{shown}"))

    def trial_finished(self, trial: Any, best: float | None) -> None:
        self.done += 1
        self.best = best
        self._line(self._status())

    def close(self, summary: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        print(summary, file=self.stream, flush=True)
