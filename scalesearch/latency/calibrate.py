"""Calibration: measure a designed sample of points, fit the candidate models, keep the one with
the least cross-validated error, and report its error on held-out points of every family."""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from scalesearch.errors import ScalesearchError
from scalesearch.family import Family
from scalesearch.latency.errors import error_table
from scalesearch.latency.features import matrix
from scalesearch.latency.measure import NOISY_SPREAD, Timing, busy_note, choose_clock, measure_model, spin_up
from scalesearch.latency.model import choose
from scalesearch.latency.profile import Profile, Setting, check_name, current_setting
from scalesearch.latency.sample import SamplePoint, sample_family

MIN_POINTS = 4
"""Points measured per family whatever the time budget: three to fit on, one held out."""

HOLD_OUT_EVERY = 3
"""Every 3rd point of a family in FLOP order, from the second, is held out (never the smallest or
the largest: held-out points test interpolation over the range, not extrapolation)."""


@dataclass(frozen=True)
class CalibrationConfig:
    device: str = "cpu"
    families: tuple[str, ...] = ()
    """Family names; empty: every registered family."""
    batch_size: int = 1
    dtype: str = "fp32"
    threads: int | None = None
    """Torch's intra-op threads while timing (None: its current count), recorded in the profile."""
    time_budget: float = 150.0
    """Seconds for measuring, all families together (each gets an equal share, at least MIN_POINTS points)."""
    points_per_family: int = 12
    max_flops: float | None = None
    """The largest point sampled, in FLOPs (None: 1e8 on the CPU and ONNX Runtime, 2e9 on a GPU)."""
    repeats: int = 20
    clock: str = "auto"
    """``wall``, ``cpu`` (thread CPU time, one thread only) or ``auto`` (see :func:`choose_clock`)."""
    seed: int = 0
    name: str | None = None

    def __post_init__(self) -> None:
        checks = {
            "batch_size >= 1": self.batch_size >= 1,
            f"points_per_family >= {MIN_POINTS}": self.points_per_family >= MIN_POINTS,
            "0 < time_budget < inf": 0 < self.time_budget < math.inf,
            "threads >= 1 (or None)": self.threads is None or self.threads >= 1,
            "0 < max_flops < inf (or None)": self.max_flops is None or 0 < self.max_flops < math.inf,
            "repeats >= 3": self.repeats >= 3,
        }
        for rule, ok in checks.items():
            if not ok:
                name = rule.split()[0] if rule[0] != "0" else rule.split()[2]
                raise ScalesearchError(f"{rule} must hold, but got {name}={getattr(self, name)}")


@dataclass(frozen=True)
class Measured:
    sample: SamplePoint
    timing: Timing


def default_name(setting: Setting) -> str:
    hw = re.sub(r"[^A-Za-z0-9]+", "-", setting.hardware).strip("-")[:40] or "device"
    dev = setting.device.replace(":", "")
    return check_name(f"{dev}-{hw}-t{setting.threads}-b{setting.batch_size}-{setting.dtype}")


def measure_family(
    family: Family,
    cfg: CalibrationConfig,
    seconds: float,
    tell: Callable[[str], None],
    clock: str = "wall",
) -> list[Measured]:
    """Measure ``family``'s designed sample until its share of time is spent (MIN_POINTS at least)."""
    max_flops = cfg.max_flops or (2e9 if cfg.device.startswith("cuda") else 1e8)
    samples = sample_family(family, cfg.points_per_family, max_flops, cfg.seed, cfg.batch_size)
    per_point = min(1.0, max(0.05, 0.6 * seconds / max(len(samples), 1)))
    start = time.perf_counter()
    out: list[Measured] = []
    for s in samples:
        if len(out) >= MIN_POINTS and time.perf_counter() - start > seconds:
            break
        torch.manual_seed(0)
        model = family.build(s.point)
        timing = measure_model(
            model,
            s.point["resolution"],
            cfg.device,
            cfg.batch_size,
            cfg.dtype,
            cfg.repeats,
            per_point,
            family.input_channels(s.point),
            clock,
        )
        out.append(Measured(s, timing))
    tell(f"{family.name}: {len(out)} of {len(samples)} points in {time.perf_counter() - start:.1f} s")
    return out


def held_out_mask(measured: Sequence[Measured]) -> np.ndarray:
    """Every HOLD_OUT_EVERY-th point of each family by FLOPs, from the second, ends excluded."""
    mask = np.zeros(len(measured), dtype=bool)
    by_family: dict[str, list[int]] = {}
    for i, m in enumerate(measured):
        by_family.setdefault(m.sample.family, []).append(i)
    for rows in by_family.values():
        if len(rows) < 3:
            continue
        rows = sorted(rows, key=lambda i: measured[i].sample.features.counts.flops)
        for k, i in enumerate(rows):
            mask[i] = k % HOLD_OUT_EVERY == 1 and k < len(rows) - 1
    return mask


def fit_profile(
    name: str,
    setting: Setting,
    measured: Sequence[Measured],
    seconds: float,
    notes: list[str],
    clock: str = "wall",
) -> Profile:
    """Choose and fit the model on the training points; its error on the held-out ones."""
    x = matrix([m.sample.features for m in measured])
    y = np.array([m.timing.median_ms for m in measured])
    fams = [m.sample.family for m in measured]
    test = held_out_mask(measured)
    train = ~test
    model, candidates = choose(x[train], y[train], [f for f, t in zip(fams, train, strict=True) if t])
    predicted = model.predict(x, fams)
    held = error_table(predicted[test], y[test], [f for f, t in zip(fams, test, strict=True) if t])
    points = [
        {
            "family": m.sample.family,
            "point": m.sample.point,
            "flops": m.sample.features.counts.flops,
            "measured_ms": round(m.timing.median_ms, 5),
            "spread_ms": round(m.timing.spread_ms, 5),
            "runs": m.timing.runs,
            "rejected": m.timing.rejected,
            "predicted_ms": round(float(p), 5),
            "held_out": bool(t),
        }
        for m, p, t in zip(measured, predicted, test, strict=True)
    ]
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return Profile(name, setting, model, held, candidates, points, seconds, created, notes, clock)


def calibrate(
    cfg: CalibrationConfig,
    families: Sequence[Family],
    tell: Callable[[str], None] = lambda line: None,
) -> Profile:
    """Measure, fit and return the profile of ``cfg`` over ``families`` (not saved)."""
    if not families:
        raise ScalesearchError("calibration needs at least one family, but got none")
    previous = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        setting = current_setting(cfg.device, cfg.batch_size, cfg.dtype)
        if setting.hardware.startswith("unavailable"):
            raise ScalesearchError(f"device {cfg.device} is {setting.hardware}")
        clock, why = choose_clock(cfg.clock, cfg.device, setting.threads)
        cpus_used = 1 if cfg.device.startswith("cuda") else setting.threads  # one thread launches the kernels
        notes = [n for n in (busy_note(cpus_used), why) if n]
        for n in notes:
            tell(f"note: {n}")
        spin_up(cfg.device)
        start = time.perf_counter()
        share = cfg.time_budget / len(families)
        measured = [m for f in families for m in measure_family(f, cfg, share, tell, clock)]
        seconds = time.perf_counter() - start
        noisy = [
            m for m in measured if m.timing.relative_spread > NOISY_SPREAD or m.timing.rejected_share > 0.3
        ]
        late = busy_note(cpus_used)
        if late and not notes:
            notes.append(late)
        if noisy:
            notes.append(
                f"{len(noisy)} of {len(measured)} points had a spread over {NOISY_SPREAD:.0%} of their median "
                "or over 30 % of their runs interrupted (a busy machine): recalibrate on an idle one for tighter predictions"
            )
        profile = fit_profile(cfg.name or default_name(setting), setting, measured, seconds, notes, clock)
    finally:
        torch.set_num_threads(previous)
    return profile
