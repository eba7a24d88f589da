"""Tracking a search: its parent run, a nested run per trial (point, costs, verdict, epochs)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scalesearch.errors import ScalesearchError
from scalesearch.search.records import TrialRecord, TrialState
from scalesearch.tracking.store import Say, Tracker, reason

TRIAL_TAG = "scalesearch.trial"
PARENT_TAG = "mlflow.parentRunId"
PARENT_PARAMS = (
    "family",
    "families",
    "free",
    "budget",
    "objectives",
    "backend",
    "experiment_file",
    "overrides",
)
FINISHED = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "FINISHED", TrialState.FAIL: "FAILED"}


class SearchTracker(Tracker):
    """The parent run of a search and a nested run per finished trial."""

    def __init__(self, uri: str, say: Say | None = None) -> None:
        super().__init__(uri, say)
        self._logged: dict[str, tuple[str, str]] = {}  # trial key -> (state, MLflow run id)
        self._epochs: dict[str, list[tuple[int, dict[str, float]]]] = {}

    def start_search(
        self,
        run_dir: Path,
        meta: Mapping[str, Any],
        say: Say | None = None,
        storage: Any = None,
        epochs: Mapping[str, list[tuple[int, dict[str, float]]]] | None = None,
    ) -> None:
        """The search's parent run (run.json's settings as params), then any finished trial of
        the run directory that the parent does not hold yet (a resumed or interrupted run's), with
        its ``epochs`` ("stage/number" -> [(epoch, metrics)]) where given."""
        self.say = say or self.say
        for key, rows in (epochs or {}).items():
            self._epochs.setdefault(key, []).extend(rows)
        params = {**{k: meta.get(k) for k in PARENT_PARAMS}, "evaluation": meta.get("evaluation") or {}}
        tags = {
            "scalesearch.kind": "search",
            "scalesearch.run_dir": str(Path(run_dir).resolve()),
            "scalesearch.backend": str(meta.get("backend")),
        }
        self.start(Path(run_dir), str(meta["name"]), str(meta["name"]), params, tags)
        self._guard("reading the trials logged before", self._load_children)
        try:
            records = run_records(Path(run_dir), meta, storage)
        except Exception as err:  # the search reports a damaged store itself
            self.say(f"warning: MLflow tracking could not read the run's earlier trials ({reason(err)})")
            return
        for record in records:
            self.log_trial(TrialRecord.from_dict(record))

    def _load_children(self) -> None:
        from mlflow.entities import ViewType

        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.{PARENT_TAG} = '{self.run_id}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=token,
            )
            for run in page:
                key = run.data.tags.get(TRIAL_TAG)
                if key is not None and run.info.status == "RUNNING":  # cut short while logged: again
                    self.client.delete_run(run.info.run_id)
                elif key is not None:
                    self._logged[key] = (run.data.tags.get("state", ""), run.info.run_id)
            token = page.token
            if not token:
                return

    def epoch(self, stage: str, number: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """Keep a trial's epoch metrics until :meth:`log_trial` logs the trial."""
        if self.active:
            self._epochs.setdefault(f"{stage}/{number}", []).append((epoch, dict(metrics)))

    def log_trial(self, record: TrialRecord) -> None:
        """A finished trial as a nested run, unless the parent holds it (a FAIL is replaced by a
        later finish of the same trial)."""
        key = f"{record.stage}/{record.number}"
        epochs = self._epochs.pop(key, [])
        status = FINISHED.get(TrialState(record.state))
        old = self._logged.get(key)
        if status is None or (
            old is not None and (old[0] != TrialState.FAIL or record.state == TrialState.FAIL)
        ):
            return
        self._guard(f"logging trial {key}", lambda: self._log_trial(record, key, status, epochs, old))

    def _log_trial(
        self,
        record: TrialRecord,
        key: str,
        status: str,
        epochs: list[tuple[int, dict[str, float]]],
        old: tuple[str, str] | None,
    ) -> None:
        if old is not None:
            self.client.delete_run(old[1])
        name = f"{record.stage} #{record.number}"
        run = self.client.create_run(
            self.experiment_id, run_name=name, tags={PARENT_TAG: str(self.run_id), TRIAL_TAG: key}
        )
        metrics: list[tuple[str, Any, int]] = [(k, v, 0) for k, v in record.costs.items()]
        last: dict[str, float] = {}
        for epoch, values in epochs:
            metrics += [(k, v, epoch) for k, v in values.items()]
            last = values
        step = epochs[-1][0] if epochs else 0
        metrics += [(k, v, step) for k, v in record.metrics.items() if last.get(k) != v]
        metrics.append(("duration_s", record.duration_s, step))
        tags = {
            "state": str(record.state),
            "verdict": None if record.verdict is None else str(record.verdict),
            "violations": "; ".join(record.violations) or None,
            "error": record.error,
            "note": record.note,
            "family": record.family,
            "stage": record.stage,
            "number": record.number,
            "pruned_at_epoch": record.pruned_at_epoch,
        }
        self._log(run.info.run_id, params=record.point or record.values, metrics=metrics, tags=tags)
        self.client.set_terminated(run.info.run_id, status)
        self._logged[key] = (str(record.state), run.info.run_id)


class NoTracking(SearchTracker):
    """The hooks of a search without ``--mlflow``: each does nothing (mlflow is not needed)."""

    def __init__(self) -> None:  # nothing to open
        pass

    def start_search(self, *args: Any, **kwargs: Any) -> None:
        pass

    def epoch(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_trial(self, *args: Any, **kwargs: Any) -> None:
        pass


NO_TRACKING = NoTracking()


def run_records(run_dir: Path, meta: Mapping[str, Any], storage: Any = None) -> list[dict[str, Any]]:
    """The trial records a run directory holds (either backend), as the results table reads them."""
    from scalesearch.analysis import results

    if meta.get("backend") == "ray":
        return results._jsonl_records(run_dir)
    return results._optuna_records(meta, run_dir, storage)


def track_finished_run(tracker: SearchTracker, run_dir: Path) -> None:
    """Log a run after its search (the Ray backend): its parent run and every trial not yet logged;
    a store that cannot be used then is a warning (the search is done)."""
    from scalesearch.analysis.results import load_run_meta
    from scalesearch.search.runs import RunLock

    lock = RunLock(run_dir)
    try:
        lock.acquire()
        meta = load_run_meta(run_dir)
        tracker.start_search(run_dir, meta, epochs=ray_epochs(run_dir, meta))
    except ScalesearchError as err:  # the search is done and kept: a warning, not a failed command
        tracker.say(
            f"warning: {err}; the trials are kept in {run_dir}: run the same command again to log them"
        )
    finally:
        lock.release()


def ray_epochs(run_dir: Path, meta: Mapping[str, Any]) -> dict[str, list[tuple[int, dict[str, float]]]]:
    """Per trial ("stage/number"), the metrics of each epoch its Ray trial reported, read from
    Tune's own ``result.json`` lines under ``RUN_DIR/ray/<study>/`` (a retried epoch counts once)."""
    from scalesearch.search.ray_records import NUMBER_KEY, RESULT_KEY

    found: dict[str, dict[int, dict[str, float]]] = {}
    for study in meta.get("studies") or []:
        for result in sorted((run_dir / "ray" / str(study.get("study"))).glob("*/result.json")):
            for line in result.read_text(errors="replace").splitlines():
                try:
                    row = json.loads(line)
                    payload = json.loads(row[RESULT_KEY])
                    number, epoch = int(row["config"][NUMBER_KEY]), int(payload["epoch"])
                    metrics = {
                        k: float(v)
                        for k, v in (payload.get("metrics") or {}).items()
                        if isinstance(v, int | float)
                    }
                except (ValueError, KeyError, TypeError):  # a torn last line, a rejected point's report
                    continue
                if epoch > 0 and metrics:
                    found.setdefault(f"{study.get('stage')}/{number}", {})[epoch] = metrics
    return {key: sorted(epochs.items()) for key, epochs in found.items()}
