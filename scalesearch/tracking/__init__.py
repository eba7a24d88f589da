"""Tracking with MLflow: ``--mlflow URI`` on ``scalesearch run`` and ``scalesearch train``.

- A search is one parent run (in the MLflow experiment named after the experiment); each trial is
  a nested run (tag ``mlflow.parentRunId``) holding its point as params, its costs and final
  metrics as metrics (per-epoch ones at step = epoch), its state and verdict as tags.
- A training is one run: the command's fields as params, the metrics of every epoch, the
  summary's numbers, and ``summary.json`` and ``model.pt`` as artifacts.
- The run's id is kept in ``mlflow.json`` in the run (or training) directory: the same command
  run again reopens that run and logs only what it does not hold yet (no trial twice).
- mlflow is imported only when ``--mlflow`` is given. A URI that cannot name a store is one line
  before any work; an MLflow failure later is one warning line, and tracking stops for the rest
  of the command while the search or training goes on (the same command again logs the rest).

``MLFLOW_EXPERIMENT_NAME`` chooses the MLflow experiment, as with MLflow's own API.
"""

from scalesearch.tracking.search import NO_TRACKING, SearchTracker, track_finished_run
from scalesearch.tracking.store import HINT, STATE_FILE, Tracker, tracking, tracking_uri
from scalesearch.tracking.train import TrainTracker

__all__ = [
    "HINT",
    "NO_TRACKING",
    "STATE_FILE",
    "SearchTracker",
    "TrainTracker",
    "Tracker",
    "track_finished_run",
    "tracking",
    "tracking_uri",
]
