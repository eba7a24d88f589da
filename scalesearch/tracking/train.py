"""Tracking a training: one run with its command, every epoch, the summary and the model's files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scalesearch.tracking.store import Say, Tracker, flat

TRAIN_EXPERIMENT = "scalesearch-train"
FINAL_METRICS = ("params", "flops", "activations", "latency_ms", "latency_spread_ms")


class TrainTracker(Tracker):
    """The run of ``scalesearch train``."""

    def __init__(self, uri: str, say: Say | None = None) -> None:
        super().__init__(uri, say)
        self.work = "training"
        self._steps: set[int] = set()  # epochs the run holds

    def start_training(
        self, out: Path, command: Mapping[str, Any], label: str, say: Say | None = None
    ) -> None:
        """The training's run (its command as params), reopened when ``out`` resumes."""
        self.say = say or self.say
        tags = {
            "scalesearch.kind": "train",
            "scalesearch.out": str(out.resolve()),
            "scalesearch.target": label,
            "scalesearch.family": str(command.get("family")),
        }
        self.start(out, TRAIN_EXPERIMENT, label or out.name, command, tags)

        def steps() -> None:
            history = self.client.get_metric_history(self.run_id, "accuracy")
            self._steps = {int(m.step) for m in history}

        self._guard("reading the epochs logged before", steps)

    def log_epochs(self, history: list[dict[str, float]]) -> None:
        """The epochs of ``history`` that the run does not hold yet (step = epoch)."""
        rows = [h for h in history if int(h["epoch"]) not in self._steps]
        run_id = self.run_id
        if not rows or run_id is None:
            return

        def log() -> None:
            metrics = [(k, v, int(h["epoch"])) for h in rows for k, v in h.items() if k != "epoch"]
            self._log(run_id, metrics=metrics)
            self._steps.update(int(h["epoch"]) for h in rows)

        self._guard(f"logging epoch {int(rows[-1]['epoch'])}", log)

    def finish_training(
        self, history: list[dict[str, float]], summary: Mapping[str, Any], files: Iterable[Path]
    ) -> None:
        """The last epochs, the summary's costs (metrics) and latency settings (tags), the files."""
        self.log_epochs(history)
        run_id = self.run_id
        if run_id is None:
            return
        step = int(summary.get("epochs") or 0)
        final = [(k, summary.get(k), step) for k in FINAL_METRICS if k not in self._metrics]
        tags = {
            "flop_convention": summary.get("flop_convention"),
            **flat(summary.get("latency") or {}, "latency."),
        }
        self._guard("logging the summary", lambda: self._log(run_id, metrics=final, tags=tags))
        self._metrics.update(FINAL_METRICS)
        for path in files:
            self.log_artifact(path)
