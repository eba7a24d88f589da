"""``scalesearch latency calibrate|profiles|show``: device latency profiles, and the
``--latency-profile`` option that ``cost``, ``screen`` and ``solve`` share."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scalesearch.cli.common import format_arg, wrap
from scalesearch.formatting import table, to_json

ERROR_COLUMNS = ("family", "n", "spearman", "within_10pct", "median_abs_pct", "p90_abs_pct")


def profile_arg(p: argparse.ArgumentParser) -> None:
    """``--latency-profile NAME``: predict latency_ms with a calibrated device profile."""
    p.add_argument(
        "--latency-profile",
        metavar="NAME",
        help="predict latency_ms with this calibrated device profile (see scalesearch latency profiles)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads latency is measured or predicted at (default: torch's current count); "
        "a profile must have been calibrated with the same",
    )


def use_threads(args: argparse.Namespace) -> int | None:
    """Sets torch's thread count to ``--threads`` (checked) and returns it (None: not given)."""
    if args.threads is None:
        return None
    if args.threads < 1:
        from scalesearch.errors import UsageError

        raise UsageError(f"--threads must be at least 1, but got --threads {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    return int(args.threads)


def latency_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    c = sub.add_parser("calibrate", help="measure a designed sample, fit a latency model, save the profile")
    c.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or onnxruntime")
    c.add_argument(
        "--family", action="append", default=[], help="a family to calibrate on (repeat; default all)"
    )
    c.add_argument("--batch-size", type=int, default=1, help="images per timed forward pass")
    c.add_argument(
        "--dtype", choices=["fp32", "fp16", "bf16"], default="fp32", help="number format while timing"
    )
    c.add_argument(
        "--threads", type=int, help="torch intra-op threads while timing (default: torch's current)"
    )
    c.add_argument(
        "--time-budget", type=float, default=150.0, help="seconds of measuring, all families together"
    )
    c.add_argument(
        "--rounds", type=int, default=3, help="times each point is timed, in rounds over the whole sample"
    )
    c.add_argument("--points", type=int, default=18, help="points sampled per family (small to large)")
    c.add_argument("--max-flops", type=float, help="largest point sampled (default 1e8 CPU, 2e9 GPU)")
    c.add_argument(
        "--clock",
        choices=["auto", "wall", "cpu"],
        default="auto",
        help="CPU timing clock: wall, the thread's cpu time (one thread), or auto (cpu time on a busy machine)",
    )
    c.add_argument("--seed", type=int, default=0, help="seed of the sample")
    c.add_argument("--name", help="profile name (default: device, hardware, threads, batch, dtype)")
    format_arg(c)
    sub.add_parser("profiles", help="list the saved profiles")
    s = sub.add_parser("show", help="a profile's setting, model and held-out error by family")
    s.add_argument("name", help="profile name")
    format_arg(s)


def cmd_latency(args: argparse.Namespace) -> int:
    if args.action == "calibrate":
        return _calibrate(args)
    if args.action == "profiles":
        return _profiles()
    return _show(args.name, args.format)


def _calibrate(args: argparse.Namespace) -> int:
    from scalesearch.latency.calibrate import CalibrationConfig, calibrate
    from scalesearch.latency.profile import check_name, save_profile
    from scalesearch.registry import families, get_family

    if args.name is not None:
        check_name(args.name)
    fams = [get_family(n) for n in dict.fromkeys(args.family)] if args.family else families()
    cfg = CalibrationConfig(
        device=args.device,
        families=tuple(f.name for f in fams),
        batch_size=args.batch_size,
        dtype=args.dtype,
        threads=args.threads,
        time_budget=args.time_budget,
        points_per_family=args.points,
        rounds=args.rounds,
        max_flops=args.max_flops,
        clock=args.clock,
        seed=args.seed,
        name=args.name,
    )

    def tell(line: str) -> None:
        print(f"scalesearch latency: {line}", file=sys.stderr, flush=True)

    profile = calibrate(cfg, fams, tell)
    path = save_profile(profile)
    tell(f"saved {path}")
    return _print_profile(profile.as_dict(), args.format)


def _profiles() -> int:
    from scalesearch.latency.profile import list_profiles, profiles_dir, read_profile

    rows = []
    for name in list_profiles():
        p = read_profile(name)
        all_ = p.held_out.get("all", {})
        rows.append(
            {
                "name": name,
                "device": p.setting.device,
                "hardware": p.setting.hardware,
                "threads": p.setting.threads,
                "batch": p.setting.batch_size,
                "dtype": p.setting.dtype,
                "model": p.model.name,
                "families": len(p.families),
                "spearman": all_.get("spearman"),
                "within_10pct": all_.get("within_10pct"),
            }
        )
    if not rows:
        print(f"no latency profiles in {profiles_dir()}; make one with scalesearch latency calibrate")
        return 0
    print(table(rows))
    return 0


def _show(name: str, fmt: str) -> int:
    from scalesearch.latency.profile import read_profile

    return _print_profile(read_profile(name).as_dict(), fmt)


def _print_profile(data: dict[str, Any], fmt: str) -> int:
    if fmt == "json":
        print(to_json({k: v for k, v in data.items()}))
        return 0
    s = data["setting"]
    print(
        wrap(
            f"latency profile {data['name']}: {s['device']} ({s['hardware']}), torch {s['torch_version']}, "
            f"{s['threads']} thread(s), batch {s['batch_size']}, {s['dtype']}, timed on the {data['clock']} clock",
            "    ",
        )
    )
    cands = ", ".join(f"{k} {v:.3f}" for k, v in sorted(data["candidates"].items(), key=lambda kv: kv[1]))
    print(wrap(f"model: {_model_name(data['model'])} (cross-validated mean |log error|: {cands})", "    "))
    n = len(data["points"])
    rounds = max((p.get("rounds", 1) for p in data["points"]), default=1)
    layers = len(data.get("layer_table") or [])
    tabled = f", {layers} layer shapes timed in place" if layers else ""
    print(
        wrap(
            f"calibration: {n} points measured in {data['calibration_seconds']:.1f} s ({rounds} round(s)"
            f"{tabled}); held-out error by family:",
            "    ",
        )
    )
    rows = [{"family": fam, **row} for fam, row in data["held_out"].items()]
    print(table(rows, list(ERROR_COLUMNS)))
    for note in data.get("notes", []):
        print(wrap(f"note: {note}", "    "))
    return 0


def _model_name(model: dict[str, Any]) -> str:
    return str(model["kind"]) + ("+family" if model.get("family_factor") else "")
