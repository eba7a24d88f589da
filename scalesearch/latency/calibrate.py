"""Calibration: measure a designed sample of points, fit the candidate models, keep the one with
the least cross-validated error, and report its error on held-out points of every family."""

from __future__ import annotations

import datetime
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from scalesearch.device import ONNXRUNTIME
from scalesearch.errors import ScalesearchError
from scalesearch.family import Family
from scalesearch.latency.errors import error_table
from scalesearch.latency.features import matrix
from scalesearch.latency.layers import LayerTable, Shape, merge_timings, time_layers
from scalesearch.latency.measure import (
    NOISY_SPREAD,
    Timing,
    busy_note,
    choose_clock,
    combine_rounds,
    measure_model,
    on_device,
    round_agreement,
    spin_up,
)
from scalesearch.latency.model import choose
from scalesearch.latency.profile import Profile, Setting, check_name, current_setting
from scalesearch.latency.sample import SamplePoint, sample_family
from scalesearch.registry import get_family

MIN_POINTS = 4
"""Points measured per family whatever the time budget: three to fit on, one held out."""

ROUNDS_APART = 0.10
"""A round this far from its point's median means the machine's speed moved; over a quarter of the
points so is said in the profile's notes."""

LAYER_RUNS = 3
"""Runs per round in which every layer is timed in place (the median over runs, then over rounds)."""

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
    points_per_family: int = 18
    max_flops: float | None = None
    """The largest point sampled, in FLOPs (None: 1e8 on the CPU and ONNX Runtime, 2e9 on a GPU)."""
    repeats: int = 20
    rounds: int = 3
    """Times every point is measured, in rounds over the whole sample (the median of the rounds is
    kept: a burst of load slows one round, not all); later rounds only as the time budget allows."""
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
            "rounds >= 1": self.rounds >= 1,
        }
        for rule, ok in checks.items():
            if not ok:
                name = rule.split()[0] if rule[0] != "0" else rule.split()[2]
                raise ScalesearchError(f"{rule} must hold, but got {name}={getattr(self, name)}")


@dataclass
class Measured:
    """A sample point, its timing in each round, and its conv, linear and norm layers timed in place."""

    sample: SamplePoint
    rounds: list[Timing]
    layer_rounds: list[dict[Shape, float]] = field(default_factory=list)
    model: nn.Module | None = None
    """Kept, built, until the last round is taken."""
    first_seconds: float = 0.0
    """What its first round of timing took."""

    @property
    def timing(self) -> Timing:
        return combine_rounds(self.rounds)

    @property
    def layers(self) -> dict[Shape, float]:
        """Each layer shape's median over the rounds (timed in the same rounds as the network:
        a machine's speed drifts over minutes, and the table must match the networks' times)."""
        return merge_timings(self.layer_rounds)


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
    """The first round over ``family``'s designed sample, each point's layers timed too, until half
    of ``seconds`` (the family's share of the budget, all rounds) is spent (MIN_POINTS at least)."""
    max_flops = cfg.max_flops or (2e9 if cfg.device.startswith("cuda") else 1e8)
    samples = sample_family(family, cfg.points_per_family, max_flops, cfg.seed, cfg.batch_size)
    start = time.perf_counter()
    out: list[Measured] = []
    for s in samples:
        if len(out) >= MIN_POINTS and time.perf_counter() - start > seconds / 2:
            break
        torch.manual_seed(0)
        m = Measured(s, [], model=family.build(s.point))
        begun = time.perf_counter()
        time_point(m, cfg, point_seconds(cfg, seconds, len(samples)), clock)
        m.first_seconds = time.perf_counter() - begun
        out.append(m)
    tell(f"{family.name}: {len(out)} of {len(samples)} points in {time.perf_counter() - start:.1f} s")
    return out


def point_seconds(cfg: CalibrationConfig, family_seconds: float, points: int) -> float:
    """The time cap of one point's timing in one round."""
    return min(1.0, max(0.05, 0.6 * family_seconds / (cfg.rounds * max(points, 1))))


def time_point(m: Measured, cfg: CalibrationConfig, per_point: float, clock: str) -> None:
    """One more round of timing for ``m``: the network, then its layers in place (a torch device)."""
    assert m.model is not None
    p = m.sample.point
    channels = get_family(m.sample.family).input_channels(p)
    setting = (p["resolution"], cfg.device, cfg.batch_size, cfg.dtype)
    m.rounds.append(measure_model(m.model, *setting, cfg.repeats, per_point, channels, clock))
    if cfg.device != ONNXRUNTIME:
        m.layer_rounds.append(time_layers(*on_device(m.model, *setting, channels), runs=LAYER_RUNS))


def later_rounds(
    measured: Sequence[Measured], cfg: CalibrationConfig, share: float, deadline: float, clock: str
) -> int:
    """Rounds 2.. over the whole sample while the next fits before ``deadline`` (each expected to
    take what the first round's timing took); the rounds taken in all."""
    taken = 1
    first = sum(m.first_seconds for m in measured)
    sizes = Counter(m.sample.family for m in measured)
    rounds = 1 if cfg.device == ONNXRUNTIME else cfg.rounds  # each ORT timing exports the model again
    while taken < rounds and time.perf_counter() + first <= deadline:
        for m in measured:
            time_point(m, cfg, point_seconds(cfg, share, sizes[m.sample.family]), clock)
        taken += 1
    for m in measured:
        m.model = None
    return taken


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
    table = None
    sums = None
    if any(m.layer_rounds for m in measured):  # the table holds the training points' layers only
        table = LayerTable(merge_timings(m.layers for m, t in zip(measured, train, strict=True) if t))
        sums = np.array([table.sums(m.sample.features.shapes) for m in measured]).reshape(len(measured), 2)
    train_fams = [f for f, t in zip(fams, train, strict=True) if t]
    model, candidates = choose(x[train], y[train], train_fams, None if sums is None else sums[train])
    predicted = model.predict(x, fams, sums)
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
            "rounds": len(m.rounds),
            "round_agreement": round(round_agreement(m.rounds), 4),
            "predicted_ms": round(float(p), 5),
            "held_out": bool(t),
        }
        for m, p, t in zip(measured, predicted, test, strict=True)
    ]
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return Profile(name, setting, model, held, candidates, points, seconds, created, notes, clock, table)


def noise_notes(measured: Sequence[Measured]) -> list[str]:
    """What the timings say about the machine: noisy points (a wide spread or many interrupted
    runs), and rounds far apart (its speed changed while calibrating)."""
    notes = []
    noisy = [m for m in measured if m.timing.relative_spread > NOISY_SPREAD or m.timing.rejected_share > 0.3]
    if noisy:
        notes.append(
            f"{len(noisy)} of {len(measured)} points had a spread over {NOISY_SPREAD:.0%} of their median "
            "or over 30 % of their runs interrupted (a busy machine): recalibrate on an idle one for tighter predictions"
        )
    apart = [m for m in measured if len(m.rounds) > 1 and round_agreement(m.rounds) > ROUNDS_APART]
    if len(apart) > len(measured) / 4:
        notes.append(
            f"{len(apart)} of {len(measured)} points had a timing round over {ROUNDS_APART:.0%} from their "
            "median (the machine's speed changed while calibrating): predictions are as uncertain; "
            "recalibrate when nothing else runs"
        )
    return notes


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
        taken = later_rounds(measured, cfg, share, start + cfg.time_budget, clock)
        tell(f"{taken} round(s) of timing over {len(measured)} points")
        if taken < cfg.rounds and cfg.device != ONNXRUNTIME:
            notes.append(
                f"timed in {taken} of {cfg.rounds} rounds: the time budget ({cfg.time_budget:g} s) ran out"
            )
        seconds = time.perf_counter() - start
        late = busy_note(cpus_used)
        if late and not notes:
            notes.append(late)
        notes += noise_notes(measured)
        profile = fit_profile(cfg.name or default_name(setting), setting, measured, seconds, notes, clock)
    finally:
        torch.set_num_threads(previous)
    return profile
