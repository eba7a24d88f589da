"""Latency profiles: calibrate at default settings, print the held-out error by family, the
calibration time, and points/s of prediction (screening a latency budget) beside measurement.

    python benchmarks/latency_model.py [--device cpu|cuda] [--time-budget 150] [--family F ...] [--threads 1]

Targets (issue 13, on the machine calibrated): held-out Spearman >= 0.95 and >= 90 % of points
within ±10 % in every family; calibration <= 3 minutes on 2 cores; prediction >= 1000 points/s.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from scalesearch.formatting import table
from scalesearch.latency.calibrate import CalibrationConfig, calibrate
from scalesearch.latency.profile import Profile, save_profile
from scalesearch.registry import families, get_family
from scalesearch.verdict.budget import parse_budget
from scalesearch.verdict.screen import screen


def prediction_rate(profile: Profile, names: list[str], samples: int) -> dict[str, float]:
    """Points/s of screening ``latency_ms<=5`` with the profile, per family (analytic path)."""
    budget = parse_budget("latency_ms<=5")
    rates = {}
    for name in names:
        fam = get_family(name)
        result = screen(fam, budget, samples, seed=1, latency_profile=profile)
        rates[name] = result.points_per_second
    return rates


def repeatability(profile: Profile, clock: str) -> dict[str, float]:
    """The held-out points measured a second time: how far two measurements of one point differ
    (the noise floor under any model's error on this machine now)."""
    import numpy as np

    from scalesearch.latency.measure import measure_model

    s = profile.setting
    ratios = []
    for p in profile.points:
        if not p["held_out"]:
            continue
        fam = get_family(p["family"])
        torch.manual_seed(0)
        model = fam.build(p["point"])
        point = fam.point(p["point"])
        t = measure_model(
            model,
            point["resolution"],
            s.device,
            s.batch_size,
            s.dtype,
            20,
            0.3,
            fam.input_channels(point),
            clock,
        )
        ratios.append(abs(t.median_ms / p["measured_ms"] - 1))
    r = np.array(ratios)
    return {
        "median_abs_pct": round(100 * float(np.median(r)), 2),
        "within_10pct": round(float(np.mean(r <= 0.1)), 4),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or onnxruntime")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--time-budget", type=float, default=150.0)
    ap.add_argument("--family", action="append", default=[])
    ap.add_argument("--threads", type=int)
    ap.add_argument("--rounds", type=int, default=CalibrationConfig.rounds, help="timing rounds per point")
    ap.add_argument(
        "--points", type=int, default=CalibrationConfig.points_per_family, help="points per family"
    )
    ap.add_argument("--clock", default="auto", choices=["auto", "wall", "cpu"])
    ap.add_argument("--samples", type=int, default=300, help="points screened per family for the rate")
    ap.add_argument("--save", help="save the profile under this name")
    args = ap.parse_args()
    fams = [get_family(n) for n in args.family] if args.family else families()
    cfg = CalibrationConfig(
        device=args.device,
        families=tuple(f.name for f in fams),
        batch_size=args.batch_size,
        threads=args.threads,
        time_budget=args.time_budget,
        rounds=args.rounds,
        points_per_family=args.points,
        clock=args.clock,
        name=args.save or "benchmark",
    )
    start = time.perf_counter()
    profile = calibrate(cfg, fams, lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    total = time.perf_counter() - start
    if args.save:
        save_profile(profile)
    s = profile.setting
    print(
        f"device {s.device} ({s.hardware}), torch {s.torch_version}, {s.threads} thread(s), batch "
        f"{s.batch_size}, {s.dtype}; clock {profile.clock}; model {profile.model.name}"
    )
    print(
        f"calibration: {len(profile.points)} points, {profile.calibration_seconds:.1f} s measuring, "
        f"{total:.1f} s in all (target <= 180 s)"
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    rates = prediction_rate(profile, [f.name for f in fams], args.samples)
    measure_rate = len(profile.points) / max(profile.calibration_seconds, 1e-9)
    rows = [
        {
            "family": fam,
            **row,
            "target_met": bool(row["spearman"] >= 0.95 and row["within_10pct"] >= 0.9),
            "predict_pts_s": round(rates[fam] if fam in rates else _mean(rates)),
            "measure_pts_s": round(measure_rate, 2),
        }
        for fam, row in profile.held_out.items()
    ]
    print("held-out error by family (predicted vs measured), and points/s of prediction vs measurement:")
    print(table(rows))
    agree = [p["round_agreement"] for p in profile.points if p.get("rounds", 1) > 1]
    if agree:
        import numpy as np

        a = np.array(agree)
        print(
            f"timing rounds ({profile.points[0]['rounds']} per point, minutes apart): every round within ±10 % of "
            f"the point's median for {np.mean(a <= 0.1):.0%} of points, within ±5 % for {np.mean(a <= 0.05):.0%} "
            "(the measurement noise under any model's error)"
        )
    again = repeatability(profile, profile.clock)
    print(
        f"held-out points measured again after the calibration: median |difference| {again['median_abs_pct']} %, "
        f"{again['within_10pct']:.0%} within ±10 % of the calibration's measurement (drift over minutes)"
    )
    for note in profile.notes:
        print(f"note: {note}")
    return 0


def _mean(rates: dict[str, float]) -> float:
    return len(rates) / sum(1 / r for r in rates.values())  # points/s over all families together


if __name__ == "__main__":
    sys.exit(main())
