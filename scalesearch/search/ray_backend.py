"""Ray Tune backend: every stage of an experiment as one Tune run on a Ray cluster.

This module holds the trainable, the recording callback and the driver; the searchers and
schedulers are in :mod:`.tune_searchers`, the stage context and ``trials.jsonl`` in
:mod:`.ray_records`.

- Space: the stage's domains through :mod:`scalesearch.search.tune_space` (nothing lost).
  grid → the constrained grid as a list of points; random → points drawn up front from the
  Tune space with the experiment's seed; tpe/nsga2 → Optuna's samplers through
  ``OptunaSearch`` with a define-by-run space built by the Optuna backend's ``suggest()``.
- Budgets: :class:`BudgetFilter` wraps the searcher and checks each suggested point with
  ``Evaluator.prepare`` on the driver before Tune schedules it; a rejected point is written
  to ``trials.jsonl`` (PRUNED, with its verdict and violations) and never launched.
- Schedulers: pruner asha → ASHA, hyperband → async HyperBand, median → median stopping,
  all on the per-epoch value of the first objective (single-objective runs only); pbt →
  population-based training over the searched lr / weight_decay (:mod:`.tune_pbt`).
- Results: :class:`RecordTrials` (a Tune callback on the driver) appends one record per
  trial to ``RUN_DIR/trials.jsonl`` as it finishes, the same keys as the Optuna backend's.
  Each record is keyed by (stage, number); a number is never written twice.
- Resume: Tune's experiment state lives under ``RUN_DIR/ray/<study>``; re-running restores
  it (``Tuner.restore(..., resume_errored=True)``) with the searcher's state.
- Checkpoints: every epoch (model, optimiser, scheduler, RNG states; :mod:`.ray_checkpoint`)
  under ``RUN_DIR/ray/<study>/trial_*``. Faults: ``FailureConfig(max_failures=3)`` retries a trial
  whose worker or node died, from its last checkpoint (the record's note says so).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune.callback import Callback as _CallbackBase

from scalesearch.analysis.results import load_results, write_json_atomic
from scalesearch.errors import ScalesearchError
from scalesearch.experiment import Experiment, Stage
from scalesearch.progress import Progress
from scalesearch.search.conclusion import final_lines
from scalesearch.search.interrupts import Interrupted, resume_command, stopped_line
from scalesearch.search.ray_connect import check_options, start_ray, stop_on_signals, stop_ray
from scalesearch.search.ray_records import (
    MAX_FAILURES,
    NUMBER_KEY,
    RESULT_KEY,
    STAGE_STATE,
    Records,
    StageRun,
    error_text,
    fmt,
    fmt_values,
    make_record,
    say,
    trial_note,
)
from scalesearch.search.records import TrialState, Verdict
from scalesearch.search.runs import (
    RunLock,
    check_run_dir,
    checked_stage,
    stage_space,
    stage_total,
    study_name,
    write_meta,
)
from scalesearch.search.trial import Evaluator, Rejected
from scalesearch.search.tune_pbt import check_pbt, make_pbt, population
from scalesearch.search.tune_searchers import _payload, make_scheduler, make_searcher
from scalesearch.search.validate import validate_run
from scalesearch.verdict.budget import parse_budget

# --------------------------------------------------------------------------- trainable (on the workers)

for _name in ("ray.train._internal.storage", "ray.tune.trainable.trainable"):  # a line per checkpoint
    logging.getLogger(_name).setLevel(logging.WARNING)  # on the workers, as they import the trainable


def run_trial(config: dict[str, Any], ctx: StageRun) -> None:
    """Train one point on a worker, reporting and checkpointing every epoch; a trial Tune retries (or
    one PBT restarts from another's checkpoint) resumes from its checkpoint. Failures are reported,
    not raised."""
    from ray import tune

    from scalesearch.search import ray_checkpoint as rc
    from scalesearch.search.tune_space import to_values

    try:
        import torch

        torch.set_num_threads(ctx.threads)
    except Exception:  # pragma: no cover - torch missing on a worker fails below with a clear error
        pass
    start = time.perf_counter()
    values = to_values(ctx.space, config)
    number = int(config.get(NUMBER_KEY, -1))
    evaluator = Evaluator(ctx.exp, ctx.space, ctx.budget)
    base: dict[str, Any] = {"values": values, "family": ctx.space.family, "node": os.uname().nodename}
    try:
        prepared = evaluator.prepare(values)
    except Rejected as rej:
        payload = {
            **base,
            "verdict": rej.kind,
            "violations": rej.reasons,
            "point": rej.point,
            "costs": rej.costs,
        }
        tune.report({"epoch": 0, RESULT_KEY: json.dumps(payload, default=str)})
        return
    base.update(point=prepared.point, costs=prepared.costs, verdict=Verdict.FEASIBLE)
    state: dict[str, Any] = {"epoch": 0, "metrics": {}}

    def report(epoch: int, metrics: dict[str, float], schedule: list, checkpoint: dict | None) -> None:
        state.update(epoch=epoch, metrics=metrics)
        objectives = dict(zip(ctx.exp.objectives, evaluator.objective_values(prepared, metrics), strict=True))
        payload = {**base, "metrics": metrics, "epoch": epoch, "duration_s": time.perf_counter() - start}
        payload["schedule"] = schedule
        rc.tune_report(
            {**objectives, "epoch": epoch, RESULT_KEY: json.dumps(payload, default=str)}, checkpoint
        )

    try:
        hyper = rc.Hyper.of(evaluator, values)
        run = rc.build_run(evaluator, prepared, hyper)
        resumed = rc.load_start(run, hyper, rc.tune_checkpoint())
        base.update(resumed_from_epoch=resumed.epoch, resumed_from_trial=resumed.source)
        state["epoch"] = resumed.epoch
        epochs, pbt = ctx.exp.evaluation.epochs, ctx.exp.pruner == "pbt"
        rc.train_epochs(run, resumed, epochs, number, hyper, report, keep_last=pbt)
    except Exception as err:  # recorded as FAIL with its reason; not retried (it would fail again)
        payload = {
            **base,
            "metrics": state["metrics"],
            "epoch": state["epoch"],
            "duration_s": time.perf_counter() - start,
            "error": f"{type(err).__name__}: {err}",
        }
        tune.report({"epoch": state["epoch"], RESULT_KEY: json.dumps(payload, default=str)})


def trial_dirname(trial: Any) -> str:
    return f"trial_{trial.config.get(NUMBER_KEY, 'x')}_{trial.trial_id}"


# --------------------------------------------------------------------------- callback (on the driver)


class RecordTrials(_CallbackBase):
    """Writes each finished Tune trial to ``trials.jsonl`` and prints one line about it."""

    def __init__(self, ctx: StageRun) -> None:
        self.ctx = ctx

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        say(
            f"[{self.ctx.stage}] trial {trial.config.get(NUMBER_KEY)} failed on its worker "
            f"({error_text(trial)}); retrying ({trial.num_failures}/{MAX_FAILURES})"
        )

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        p = _payload(result)
        number, k, source = (
            int(trial.config[NUMBER_KEY]),
            p.get("resumed_from_epoch"),
            p.get("resumed_from_trial"),
        )
        if not k or p.get("epoch") != k + 1:  # only the first epoch after a restart
            return
        if source != number:
            hyper = f"lr={fmt(p['schedule'][-1]['lr'])} weight_decay={fmt(p['schedule'][-1]['weight_decay'])}"
            say(
                f"[{self.ctx.stage}] trial {number} continues from trial {source}'s epoch-{k} checkpoint with {hyper}"
            )
        elif self.ctx.exp.pruner != "pbt":  # PBT pauses and resumes trials all the time
            say(f"[{self.ctx.stage}] trial {number} resumed from its epoch-{k} checkpoint")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, f"gave up after {trial.num_failures} failure(s): {error_text(trial)}")

    def _record(self, trial: Any, system_error: str | None) -> None:
        from scalesearch.search.tune_space import to_values

        ctx = self.ctx
        number = int(trial.config[NUMBER_KEY])
        values = to_values(ctx.space, trial.config)
        p = _payload(trial.last_result)
        epoch = int(p.get("epoch") or 0)
        if not p.get("point"):
            try:
                prepared = ctx.prepare(values)
                p.setdefault("point", prepared.point)
                p.setdefault("costs", prepared.costs)
                p.setdefault("verdict", Verdict.FEASIBLE)
            except Rejected as rej:
                p.update(point=rej.point, costs=rej.costs, verdict=rej.kind, violations=rej.reasons)
        error = system_error or p.get("error")
        pruned_at = None
        if error:
            state = TrialState.FAIL
        elif p.get("verdict") != Verdict.FEASIBLE:
            state = TrialState.PRUNED
        elif epoch < ctx.exp.evaluation.epochs:
            state, pruned_at = TrialState.PRUNED, epoch
        else:
            state = TrialState.COMPLETE
        record = make_record(
            ctx.stage,
            number,
            state,
            values,
            family=ctx.space.family,
            point=p.get("point"),
            costs=p.get("costs"),
            verdict=p.get("verdict"),
            violations=p.get("violations"),
            metrics=p.get("metrics"),
            error=error,
            duration_s=p.get("duration_s"),
            pruned_at_epoch=pruned_at,
            note=trial_note(p, number, ctx.exp.pruner == "pbt"),
        )
        if ctx.records.write(record):
            shown = ", ".join(
                f"{k}={fmt(v)}" for k, v in (p.get("metrics") or {}).items() if k in ("accuracy", "val_loss")
            )
            say(
                f"[{ctx.stage}] trial {number} {state}{' at epoch ' + str(pruned_at) if pruned_at else ''} "
                f"{fmt_values(values)}{' ' + shown if shown else ''}{' — ' + error if error else ''}"
            )


# --------------------------------------------------------------------------- driver


def run_stage(
    ctx: StageRun,
    stage: Stage,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_concurrent: int | None,
    progress: Progress,
    stopped: list[str] | None = None,
) -> None:
    """Run (or resume) one stage as a Tune experiment under ``RUN_DIR/ray/<study>``; ``stopped``
    holds the name of a signal that asked the run to stop (Tune then returns with its state saved)."""
    from ray import tune

    stopped = [] if stopped is None else stopped

    name = study_name(ctx.exp, stage)
    storage = Path(ctx.run_dir) / "ray"
    exp_dir = storage / name
    state_file = exp_dir / STAGE_STATE
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    if state and state["trials"] != ctx.total:
        say(
            f"[{ctx.stage}] this Ray run started with {state['trials']} trials and keeps that count "
            "(a different --trials needs a new --out)"
        )
        ctx = dataclasses.replace(ctx, total=int(state["trials"]))
    progress.stage(
        ctx.stage, done=len(ctx.records.numbers(ctx.stage) & set(range(ctx.total))), total=ctx.total
    )
    if state and state.get("done"):
        return
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, ctx=ctx), {"cpu": cpus_per_trial, "gpu": gpus_per_trial}
    )
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)  # no result.json noise
    # num_to_keep snapshots the experiment state after each epoch's checkpoint: wanted, not worth a warning
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    pbt, samples = False, ctx.total
    if state and tune.Tuner.can_restore(str(exp_dir)):
        say(f"[{ctx.stage}] resuming the Tune run in {exp_dir}")
        tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_errored=True)
    else:
        pbt = ctx.exp.pruner == "pbt"
        if pbt:  # Tune's PBT takes no searcher: the population is drawn (and budget-checked) up front
            search_alg, param_space, samples = population(ctx, stage, max_concurrent)
        else:
            search_alg, param_space, samples = make_searcher(ctx, stage, ctx.exp.seed), None, ctx.total
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=search_alg,
                scheduler=make_pbt(ctx.exp, dataclasses.replace(stage, space=ctx.space))
                if pbt
                else make_scheduler(ctx.exp),
                num_samples=max(1, samples),
                max_concurrent_trials=None if pbt else max_concurrent,
                trial_dirname_creator=trial_dirname,
                reuse_actors=True,  # one worker process per slot: torch and the data load once
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(storage),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                # a retried trial resumes from its last epoch; PBT clones others' (so keeps a few)
                checkpoint_config=tune.CheckpointConfig(num_to_keep=4 if pbt else 1),
                callbacks=[RecordTrials(ctx)],
            ),
        )
        exp_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(state_file, {"stage": ctx.stage, "trials": ctx.total, "done": False})
    if stopped:
        raise Interrupted(stopped[0])
    if not (pbt and samples == 0):  # a population the budget rejected whole is recorded already
        tuner.fit()
    if stopped:
        raise Interrupted(stopped[0])
    ctx.records.reload()
    missing = sorted(set(range(ctx.total)) - ctx.records.numbers(ctx.stage))
    if missing:
        raise ScalesearchError(
            f"stage {ctx.stage}: Tune finished but trials {missing} have no record in trials.jsonl; run the "
            "same command again to resume them"
        )
    write_json_atomic(state_file, {"stage": ctx.stage, "trials": ctx.total, "done": True})


def run_ray(
    exp: Experiment,
    run_dir: Path,
    address: str | None = None,
    trials: int | None = None,
    source: str | None = None,
    overrides: list[str] | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_concurrent: int | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run every stage on Ray Tune (a local Ray when ``address`` is None); re-running resumes.
    SIGINT or SIGTERM stop it resumably: Tune saves its state and the run prints how to resume."""
    check_options(address, cpus_per_trial, gpus_per_trial, max_concurrent)
    run_dir = Path(run_dir).resolve()  # before ray.init: a job's working directory can move under it
    check_run_dir(run_dir, exp, "ray")  # before anything is written, as validate_run
    progress = progress or Progress()
    data: dict[int, Any] = {}
    validate_run(exp, trials, data)
    check_pbt(exp)
    budget = parse_budget(exp.budget)
    stages = exp.all_stages()
    evaluator = Evaluator(exp, stages[0].space, budget, data)
    threads = exp.evaluation.threads or max(1, int(cpus_per_trial))  # a trial uses the CPUs it was given
    progress.say(
        f"run {exp.name} on Ray: {len(stages)} stage(s), {threads} CPU thread(s) per trial "
        f"(threads={exp.evaluation.threads or 'auto'}: --cpus-per-trial {cpus_per_trial:g}), "
        f"results in {run_dir}"
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    lock.acquire()
    Records.at(run_dir / "trials.jsonl").reload()  # the file is the truth, not an earlier call's memory
    val_size = len(evaluator.data(exp.evaluation.resolution).val)
    try:
        write_meta(
            run_dir,
            exp,
            "ray",
            "ray",  # Tune's state, relative to the run directory
            [{"stage": s.name, "study": study_name(exp, s)} for s in stages],
            source,
            list(overrides or []),
            evaluator.num_classes,
            extra={"threads": threads, "val_size": val_size},
        )
        start_ray(address, cpus_per_trial, gpus_per_trial)
        with stop_on_signals() as stopped:
            for stage in stages:
                space = stage_space(stage, exp, lambda: load_results(run_dir))
                stage_evaluator = Evaluator(exp, space, budget, data)
                stage, space = checked_stage(exp, stage, space, budget, stage_evaluator, progress.say)
                ctx = StageRun(
                    exp, stage.name, space, budget, str(run_dir), stage_total(stage, space, trials),
                    cpus_per_trial, threads,
                )  # fmt: skip
                run_stage(ctx, stage, cpus_per_trial, gpus_per_trial, max_concurrent, progress, stopped)
        results = load_results(run_dir)
    except KeyboardInterrupt as err:
        command = resume_command(source, run_dir, overrides) + " --backend ray"
        progress.say(stopped_line(exp.name, err, command + (f" --address {address}" if address else "")))
        raise
    finally:
        lock.release()
        stop_ray()
    progress.close(final_lines(exp, results, run_dir, val_size))
    return results
