"""The run layer both backends share: run lock, study names, trial caps, stage spaces, CPU threads,
the one feasibility check and the run's metadata (``run.json``).

The backends (:mod:`.optuna_backend`, :mod:`.ray_backend`) import from here, never from each other.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import pandas as pd

from scalesearch.analysis.results import write_json_atomic
from scalesearch.errors import ExperimentError, PointError, UsageError
from scalesearch.experiment import Experiment, SearchSpace, Stage, call_user
from scalesearch.registry import get_family
from scalesearch.search.records import Verdict
from scalesearch.search.trial import Evaluator, Rejected
from scalesearch.space import Point
from scalesearch.verdict.budget import Budget, parse_budget
from scalesearch.verdict.screen import ensure_feasible

GRID_LIMIT = 2000  # grids up to this size are examined whole by the feasibility check


# --------------------------------------------------------------------------- lock


class RunLock:
    """Marks a run directory as owned by this process: an OS file lock (``flock``) on ``run.lock``.

    Taking it is atomic, and a dead owner's lock is released by the OS. The file stays (with
    the owner's pid while held) so that no second inode can be locked beside the first.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "run.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = open(self.path, "a+")  # noqa: SIM115 - held open while the lock is held
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "another process"
            f.close()
            raise ExperimentError(
                f"run directory {self.path.parent} is in use by process {owner}; wait for it or use --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None


# --------------------------------------------------------------------------- stages


def study_name(exp: Experiment, stage: Stage) -> str:
    """The study (Optuna) or Tune experiment name of a stage."""
    return exp.name if len(exp.all_stages()) == 1 else f"{exp.name}.{stage.name}"


def trial_cap(stage: Stage, cap: int | None) -> int | None:
    """The stage's trial count: the smaller of its own and ``--trials`` (None: a grid runs whole)."""
    caps = [x for x in (stage.trials, cap) if x is not None]
    return min(caps) if caps else None


def stage_total(stage: Stage, space: SearchSpace, cap: int | None) -> int:
    """How many trials the stage runs in all (a random/TPE/NSGA-II stage needs a count)."""
    limit = trial_cap(stage, cap)
    if stage.prefilter is not None:  # trains the kept points only
        keep = stage.prefilter.keep
        return keep if limit is None else min(limit, keep)
    if stage.strategy == "grid":
        size = len(space.grid())
        return size if limit is None else min(limit, size)
    if limit is None:
        raise ExperimentError(
            f"stage {stage.name}: a {stage.strategy} search needs a trial count (--trials N)"
        )
    return limit


def stage_space(stage: Stage, exp: Experiment, results: Callable[[], pd.DataFrame]) -> SearchSpace:
    """The stage's space with the values fixed from earlier stages' results (loaded only if needed)."""
    if stage.fix_from is None:
        return stage.space
    fixed = dict(call_user(stage.fix_from, results(), exp))
    return dataclasses.replace(stage.space, fixed={**dict(stage.space.fixed), **fixed})


def distinct_networks(space: SearchSpace, evaluator: Evaluator, values: list[dict[str, Any]]) -> int:
    """How many different networks ``values`` build (the point after ``derive`` is the identity)."""
    from scalesearch.space import point_key

    keys = set()
    for v in values:
        try:
            keys.add(point_key(space.values_to_point(v, evaluator.base_values())))
        except PointError:
            keys.add(repr(sorted(v.items())))
    return len(keys)


# --------------------------------------------------------------------------- prefilter


def prefiltered(
    stage: Stage, space: SearchSpace, exp: Experiment, evaluator: Evaluator, say: Callable[[str], None]
) -> tuple[Stage, SearchSpace]:
    """A stage with a :class:`~scalesearch.experiment.Prefilter` becomes a grid of the points its
    proxy ranks best among a sample of feasible ones (its grid, or ``sample`` random draws)."""
    pf = stage.prefilter
    if pf is None:
        return stage, space
    from scalesearch.proxies.rank import score_points, top_k
    from scalesearch.space import point_key

    rng = random.Random(exp.seed)
    if stage.strategy == "grid":
        grid = space.grid()
        values = grid if len(grid) <= pf.sample else rng.sample(grid, pf.sample)
    else:
        values = [space.sample(rng) for _ in range(pf.sample)]
    feasible: dict[Any, tuple[dict[str, Any], Point]] = {}
    for v in values:
        try:
            point = evaluator.prepare(v).point
        except Rejected:
            continue
        feasible.setdefault(point_key(point), (v, point))
    if not feasible:
        raise PointError(f"stage {stage.name}: no feasible point among {len(values)} prefilter samples")
    candidates = list(feasible.values())
    scores = score_points(space.family, [p for _, p in candidates], pf.proxy, exp.evaluation, pf.batch_size)
    kept = [candidates[r.index][0] for r in top_k(scores, pf.keep)]
    say(
        f"stage {stage.name}: prefilter by {pf.proxy} keeps {len(kept)} of {len(candidates)} "
        f"feasible networks ({len(values)} sampled), untrained"
    )
    return dataclasses.replace(stage, strategy="grid", prefilter=None), kept_space(space, kept, pf.proxy)


def checked_stage(
    exp: Experiment,
    stage: Stage,
    space: SearchSpace,
    budget: Budget,
    evaluator: Evaluator,
    say: Callable[[str], None],
) -> tuple[Stage, SearchSpace]:
    """The stage as it runs: its space checked (:func:`check_feasible`), then prefiltered."""
    check_feasible(exp, space, budget, evaluator)
    return prefiltered(stage, space, exp, evaluator, say)


def kept_space(space: SearchSpace, kept: list[dict[str, Any]], proxy: str) -> SearchSpace:
    """``space`` narrowed to exactly the ``kept`` values: each domain the Choice of its kept values,
    and a constraint that only the kept combinations pass (so its grid is the kept points)."""
    from scalesearch.space import Choice, Constraint

    names = list(space.search)
    keys = {tuple(v[n] for n in names) for v in kept}
    only = Constraint(
        f"prefilter: one of the {len(kept)} points kept by {proxy}",
        tuple(names),
        lambda p: tuple(p[n] for n in names) in keys,
    )
    domains = {n: Choice(tuple(dict.fromkeys(v[n] for v in kept))) for n in names}
    return dataclasses.replace(space, search=domains, constraints=(*space.constraints, only))


# --------------------------------------------------------------------------- threads


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), never more than the machine's cores."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS has no affinity
        allowed = os.cpu_count() or 1
    return max(1, min(allowed, os.cpu_count() or allowed))


def idle_cpus() -> int:
    """The usable CPUs that other processes leave free: less the 1-minute load average (at least 1).

    Torch's threads fight any other load: on 2 cores beside one busy process, 2 threads ran a trial
    3x slower than 1 thread (issue 16's measurement)."""
    cpus = usable_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        return cpus
    return max(1, min(cpus, round(cpus - load)))


def choose_threads(setting: int | None, workers: float = 1) -> int:
    """Torch's intra-op threads per trial: ``setting``, or (auto) the idle CPUs shared by ``workers``."""
    if setting is not None:
        return max(1, min(int(setting), os.cpu_count() or int(setting)))
    return max(1, int(idle_cpus() // max(1.0, float(workers))))


def threads_reason(setting: int | None) -> str:
    """Why a run uses its thread count, for its first line: the setting, or what auto saw."""
    if setting is not None:
        return f"threads={setting}"
    try:
        load = f", load {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):  # pragma: no cover
        load = ""
    return f"threads=auto: {usable_cpus()} CPU(s){load}; --set threads=N to choose"


def apply_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


# --------------------------------------------------------------------------- feasibility


def candidate_points(
    exp: Experiment, space: SearchSpace, evaluator: Evaluator, samples: int = 200
) -> tuple[list[Point], list[Rejected]]:
    """Family points of the stage space: its domain corners, the grid (when small) or random draws."""
    rng = random.Random(exp.seed)
    size = 1.0
    for d in space.search.values():
        size *= d.size
    grid = space.grid() if size <= GRID_LIMIT else []
    values = space.corners() + grid + [space.sample(rng) for _ in range(0 if grid else samples)]
    points, rejected = [], []
    for v in values:
        try:
            points.append(space.values_to_point(v, evaluator.base_values()))
        except PointError as err:
            rejected.append(Rejected(Verdict.INVALID, [str(err)]))
    return points, rejected


def check_feasible(exp: Experiment, space: SearchSpace, budget: Budget, evaluator: Evaluator) -> None:
    """Fail fast when no point of the stage space is valid, or none meets the budget (then name the
    cheapest point reached): :func:`scalesearch.verdict.screen.ensure_feasible` on the stage's points."""
    points, rejected = candidate_points(exp, space, evaluator)
    if not points:
        reason = rejected[0].reasons[0] if rejected else "no values"
        raise PointError(
            f"no valid point in the {space.family} search space of this experiment "
            f"({len(rejected)} examined, e.g. {reason}); check its domains and constraints"
        )
    ensure_feasible(get_family(space.family), budget, points=points, where="search space")


# --------------------------------------------------------------------------- run directory

RUN_DIR_FILES = ("run.json", "run.lock", "trials.jsonl", "study.db")


def check_run_dir(run_dir: Path, exp: Experiment, backend: str) -> dict[str, Any] | None:
    """``run_dir`` may receive this run, checked before anything is written: a directory that can
    be made and written, holding nothing or this experiment's own run (then its run.json is
    returned, and the run resumes); another experiment's or another tool's run.json is refused."""
    from scalesearch.analysis.results import load_run_meta
    from scalesearch.search.storage import writable_dir

    writable_dir(run_dir, "--out")
    for name in RUN_DIR_FILES:
        if (run_dir / name).is_dir():
            raise UsageError(f"--out {run_dir}: {name} in it is a directory where the run's file goes")
    if not (run_dir / "run.json").exists():
        return None
    meta = load_run_meta(run_dir)
    if meta["name"] != exp.name or meta["backend"] != backend:
        raise UsageError(
            f"--out {run_dir} holds another run ({meta['name']!r}, {meta['backend']} backend), not "
            f"{exp.name!r} on {backend}; its files are kept: choose another --out"
        )
    return meta


# --------------------------------------------------------------------------- metadata


def write_meta(
    run_dir: Path,
    exp: Experiment,
    backend: str,
    storage: str,
    studies: list[dict[str, str]],
    source: str | None,
    overrides: list[str],
    num_classes: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``run.json``: what was run, with which settings, and where its trials are stored."""
    stages = exp.all_stages()
    families = list(dict.fromkeys(s.space.family for s in stages))
    meta = {
        "name": exp.name,
        "backend": backend,
        "storage": storage,
        "studies": studies,
        "family": exp.family,
        "families": families,
        "free": sorted({n for s in stages for n in s.space.search}),
        "budget": parse_budget(exp.budget).text if exp.budget else "",
        "objectives": dict(exp.objectives),
        "resolution": exp.evaluation.resolution,
        "dataset": exp.evaluation.dataset,
        "num_classes": num_classes,
        "references": list(exp.references),
        "experiment_file": source,
        "overrides": overrides,
        "evaluation": dataclasses.asdict(exp.evaluation),
        "options": exp.options,
        **dict(extra or {}),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(run_dir / "run.json", meta)
    return meta
