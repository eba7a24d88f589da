"""Commands for Ray clusters: submit (a run as a Ray job) and jobs (status, logs, stop, list, fetch)."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from scalesearch.cli.common import set_arg
from scalesearch.errors import UsageError
from scalesearch.formatting import table


def _address_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        help="the Ray job server (dashboard), e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS)",
    )


def submit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="experiment file, e.g. experiments/efficientnet_grid.py")
    _address_arg(p)
    p.add_argument("--out", help="local run directory for the results (default runs/<experiment name>)")
    set_arg(p, "override an experiment field (dataset, epochs, resolution, budget, ...)")
    p.add_argument("--trials", type=int, help="cap the number of trials per stage")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs Ray reserves for each trial")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        help="GPUs Ray reserves for each trial (fractions share a GPU)",
    )
    p.add_argument("--max-concurrent", type=int, help="trials running at once")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the job is submitted (fetch later with `scalesearch jobs fetch`)",
    )


def cmd_submit(args: argparse.Namespace) -> int:
    from scalesearch.cluster import jobs, transfer
    from scalesearch.experiment import apply_overrides, load_experiment

    if args.trials is not None and args.trials < 1:
        raise UsageError(f"--trials must be >= 1, but got --trials {args.trials}")
    if not (math.isfinite(args.cpus_per_trial) and args.cpus_per_trial > 0):
        raise UsageError(
            f"--cpus-per-trial must be a number > 0, but got --cpus-per-trial {args.cpus_per_trial}"
        )
    if not (math.isfinite(args.gpus_per_trial) and args.gpus_per_trial >= 0):
        raise UsageError(
            f"--gpus-per-trial must be a number >= 0, but got --gpus-per-trial {args.gpus_per_trial}"
        )
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError(f"--max-concurrent must be >= 1, but got --max-concurrent {args.max_concurrent}")
    exp = apply_overrides(
        load_experiment(args.file), args.overrides
    )  # bad files fail here, not on the cluster
    out = transfer.check_new_run_dir(Path(args.out or Path("runs") / exp.name))
    run_args = jobs.run_arguments(
        args.overrides, args.trials, args.cpus_per_trial, args.gpus_per_trial, args.max_concurrent
    )
    sub = jobs.submit(args.file, args.address, exp.name, run_args, out)
    print(f"submitted job {sub.job_id} to {sub.address}", file=sys.stderr, flush=True)
    if args.no_wait:
        print(sub.job_id)
        print(
            f"follow it: scalesearch jobs logs {sub.job_id} --address {sub.address} --follow; results: "
            f"scalesearch jobs fetch {sub.job_id} --address {sub.address} --out {out}",
            file=sys.stderr,
        )
        return 0
    client = jobs.client(sub.address)
    try:
        jobs.stream_logs(client, sub.job_id, _echo)
    except KeyboardInterrupt:
        print(
            f"\nstopped following; job {sub.job_id} goes on (scalesearch jobs stop {sub.job_id} "
            f"--address {sub.address} ends it)",
            file=sys.stderr,
        )
        return 130
    return _finish(client, sub.job_id, sub.address, out, args.file)


def _finish(client: object, job_id: str, address: str, out: Path, source: str | None) -> int:
    """Write the job's results into ``out``; report a failed job with the tail of its log."""
    from scalesearch.cluster import jobs, transfer

    info = jobs.wait(client, job_id)
    status = jobs.status_name(info)
    logs = client.get_job_logs(job_id)  # type: ignore[attr-defined]
    files = transfer.extract_results(logs)
    if files and "run.json" in files:
        transfer.write_results(files, out, source, f"ray job {job_id} at {address}")
        n = len([ln for ln in files.get("trials.jsonl", "").splitlines() if ln.strip()])
        print(
            f"job {job_id} {status}: {n} trial records in {out}; scalesearch results {out}", file=sys.stderr
        )
    if status == "SUCCEEDED":
        if not files:
            print(f"scalesearch submit: job {job_id} succeeded but printed no results", file=sys.stderr)
            return 1
        return 0
    message = (getattr(info, "message", "") or "").strip().splitlines()
    first = message[0].split(", last available logs")[0] if message else "no message"
    print(f"scalesearch submit: job {job_id} {status}: {first}", file=sys.stderr)
    print(f"--- last lines of the job's log ---\n{jobs.log_tail(logs)}", file=sys.stderr)
    return 1


def jobs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["status", "logs", "stop", "list", "fetch"], help="what to do")
    p.add_argument("job_id", nargs="?", help="the job's id (submission id), as `scalesearch submit` printed")
    _address_arg(p)
    p.add_argument("--follow", action="store_true", help="logs: follow until the job ends")
    p.add_argument("--out", help="fetch: local run directory for the results (default runs/<job id>)")


def cmd_jobs(args: argparse.Namespace) -> int:
    from scalesearch.cluster import connection, jobs, transfer

    if args.action != "list" and not args.job_id:
        raise UsageError(f"`scalesearch jobs {args.action}` needs a JOB_ID")
    if args.job_id is not None:
        transfer.check_job_id(args.job_id)
    if args.action == "fetch":
        transfer.check_new_run_dir(Path(args.out or Path("runs") / args.job_id))
    client = jobs.client(args.address)
    if args.action == "list":
        rows = []
        for j in client.list_jobs():
            rows.append(
                {
                    "job": j.submission_id or j.job_id,
                    "status": jobs.status_name(j),
                    "start": _time(j.start_time),
                    "end": _time(j.end_time),
                    "entrypoint": (j.entrypoint or "")[:60],
                }
            )
        print(table(rows) if rows else "no jobs")
        return 0
    info = _info(client, args.job_id)
    if args.action == "status":
        print(f"{args.job_id}: {jobs.status_name(info)}")
        if info.message:
            print(info.message.strip().splitlines()[0])
        return 0
    if args.action == "stop":
        stopped = client.stop_job(args.job_id)
        print(
            f"{args.job_id}: {'stop requested' if stopped else 'not running (' + jobs.status_name(info) + ')'}"
        )
        return 0
    if args.action == "logs":
        if args.follow:
            jobs.stream_logs(client, args.job_id, _echo)
        else:
            for line in transfer.without_results(client.get_job_logs(args.job_id).splitlines()):
                print(line)
        return 0
    out = Path(args.out or Path("runs") / args.job_id)
    if jobs.status_name(info) not in jobs.TERMINAL:
        raise UsageError(f"job {args.job_id} is {jobs.status_name(info)}; fetch it once it has ended")
    return _finish(client, args.job_id, connection.dashboard_address(args.address), out, None)


def _info(client: Any, job_id: str) -> Any:
    from scalesearch.errors import ScalesearchError

    try:
        return client.get_job_info(job_id)
    except RuntimeError as err:
        raise ScalesearchError(f"no job {job_id} on this cluster ({str(err).strip()[:200]})") from None


def _time(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
