"""Device profiles: a fitted latency model with the setting it was calibrated in and its held-out
error, one JSON file per profile in ``$SCALESEARCH_CACHE_DIR/latency_profiles/`` (written
atomically). Loading checks the setting: a profile made for another device, torch version, thread
count, batch size or dtype is refused with one line."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalesearch.atomic import atomic_path
from scalesearch.cost.latency import cache_dir
from scalesearch.errors import ScalesearchError
from scalesearch.family import Family
from scalesearch.latency.features import PointFeatures, point_features
from scalesearch.latency.layers import LayerTable
from scalesearch.latency.model import LatencyModel

FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class ProfileError(ScalesearchError):
    """A latency profile missing, unreadable, or made for another setting."""


def profiles_dir() -> Path:
    return cache_dir() / "latency_profiles"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ProfileError(
            f"a profile name is letters, digits and _ . + -, starting with a letter or digit, but got {name!r}"
        )
    return name


@dataclass(frozen=True)
class Setting:
    """What a latency depends on besides the network: where and how it runs."""

    device: str
    hardware: str
    torch_version: str
    threads: int
    batch_size: int
    dtype: str


def current_setting(
    device: str, batch_size: int = 1, dtype: str = "fp32", threads: int | None = None
) -> Setting:
    """This machine's setting for ``device`` (threads: torch's current count unless given)."""
    import torch

    from scalesearch.latency.measure import hardware_name

    try:
        hardware = hardware_name(device)
    except (ScalesearchError, ImportError) as err:
        hardware = f"unavailable ({err})"
    return Setting(device, hardware, torch.__version__, threads or torch.get_num_threads(), batch_size, dtype)


@dataclass(frozen=True)
class Prediction:
    """A predicted latency and its band: the 90th percentile of the held-out absolute error."""

    ms: float
    band_pct: float
    profile: str

    @property
    def low_ms(self) -> float:
        return self.ms * (1 - self.band_pct / 100)

    @property
    def high_ms(self) -> float:
        return self.ms * (1 + self.band_pct / 100)

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency_ms_predicted": round(self.ms, 4),
            "latency_band_pct": self.band_pct,
            "latency_band_ms": [round(self.low_ms, 4), round(self.high_ms, 4)],
            "latency_profile": self.profile,
        }

    def text(self) -> str:
        return f"{self.ms:.3g} ms predicted (±{self.band_pct:.0f} %, profile {self.profile})"


@dataclass
class Profile:
    """A calibrated latency model for one setting."""

    name: str
    setting: Setting
    model: LatencyModel
    held_out: dict[str, dict[str, Any]]
    """Held-out error by family, and ``all``: n, spearman, within_10pct, median_abs_pct, p90_abs_pct."""
    candidates: dict[str, float] = field(default_factory=dict)
    """Every candidate model's cross-validated mean absolute log error on the training points."""
    points: list[dict[str, Any]] = field(default_factory=list)
    """The measured sample: family, point, measured and predicted ms, spread, held out or not."""
    calibration_seconds: float = 0.0
    created: str = ""
    notes: list[str] = field(default_factory=list)
    clock: str = "wall"
    """How the calibration runs were timed: ``wall`` clock, or the timing thread's ``cpu`` time."""
    table: LayerTable | None = None
    """Conv and batch-norm layers timed in place, by shape (the ``layers`` model reads it)."""

    @property
    def families(self) -> list[str]:
        return [f for f in self.held_out if f != "all"]

    def band_pct(self, family: str) -> float:
        """The family's held-out 90th-percentile error (3 held-out points or more), else overall."""
        row = self.held_out.get(family)
        if row is None or row["n"] < 3:
            row = self.held_out["all"]
        return float(row["p90_abs_pct"])

    def predict_features(self, family: str, feats: Sequence[PointFeatures]) -> np.ndarray:
        from scalesearch.latency.features import matrix

        sums = None
        if self.model.kind == "layers":
            if self.table is None:
                raise ProfileError(f"latency profile {self.name} has a layers model but no layer table")
            sums = np.array([self.table.sums(f.shapes) for f in feats]).reshape(len(feats), 2)
        return self.model.predict(matrix(feats), [family] * len(feats), sums)

    def predict(self, family: Family, point: Mapping[str, Any]) -> Prediction:
        """The predicted latency of ``family`` at ``point`` (analytic counts only; nothing is built)."""
        feats = point_features(family, family.point(point), self.setting.batch_size, complete=True)
        return self.prediction(family.name, feats)

    def prediction(self, family: str, feats: PointFeatures) -> Prediction:
        ms = float(self.predict_features(family, [feats])[0])
        return Prediction(ms, self.band_pct(family), self.name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "setting": asdict(self.setting),
            "model": self.model.as_dict(),
            "held_out": self.held_out,
            "candidates": self.candidates,
            "calibration_seconds": round(self.calibration_seconds, 2),
            "created": self.created,
            "notes": self.notes,
            "clock": self.clock,
            "points": self.points,
            "layer_table": self.table.as_rows() if self.table is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            data["name"],
            Setting(**data["setting"]),
            LatencyModel.from_dict(data["model"]),
            data["held_out"],
            data.get("candidates", {}),
            data.get("points", []),
            data.get("calibration_seconds", 0.0),
            data.get("created", ""),
            data.get("notes", []),
            data.get("clock", "wall"),
            LayerTable.from_rows(data["layer_table"]) if data.get("layer_table") else None,
        )


def profile_path(name: str) -> Path:
    return profiles_dir() / f"{check_name(name)}.json"


def save_profile(profile: Profile) -> Path:
    path = profile_path(profile.name)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(profile.as_dict(), indent=1, default=str) + "\n")
    return path


def read_profile(name: str) -> Profile:
    """The profile called ``name``, unchecked."""
    path = profile_path(name)
    if not path.exists():
        known = ", ".join(list_profiles()) or "none yet; make one with scalesearch latency calibrate"
        raise ProfileError(f"no latency profile {name!r} in {path.parent}; profiles: {known}")
    try:
        return Profile.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ProfileError(
            f"latency profile {path} is unreadable ({type(err).__name__}: {err}); calibrate it again"
        ) from None


def list_profiles() -> list[str]:
    d = profiles_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []


def mismatch(profile: Profile, current: Setting) -> str | None:
    """One line naming what differs between the profile's setting and ``current``, or None."""
    mine, now = asdict(profile.setting), asdict(current)
    diff = [k for k in mine if k != "device" and mine[k] != now[k]]
    if not diff:
        return None
    was = ", ".join(f"{k}={mine[k]}" for k in diff)
    got = ", ".join(f"{k}={now[k]}" for k in diff)
    fix = f"calibrate one with scalesearch latency calibrate --device {current.device}"
    if diff == ["threads"]:
        fix = f"pass --threads {profile.setting.threads} to predict at the profile's thread count, or {fix} --threads {current.threads}"
    return (
        f"latency profile {profile.name} was calibrated with {was}, but the current setting has {got}: "
        f"its predictions do not hold here; {fix}"
    )


def load_profile(
    name: str, batch_size: int | None = None, dtype: str | None = None, threads: int | None = None
) -> Profile:
    """The profile called ``name``, refused (:class:`ProfileError`) when this machine's setting
    (batch size and dtype where given, else the profile's own) differs from the profile's."""
    profile = read_profile(name)
    s = profile.setting
    current = current_setting(s.device, batch_size or s.batch_size, dtype or s.dtype, threads)
    reason = mismatch(profile, current)
    if reason:
        raise ProfileError(reason)
    return profile
