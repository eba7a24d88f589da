"""Experiments: a search space over a family, a budget, objectives, a strategy, an evaluation.

An experiment file defines one module-level ``experiment = Experiment(...)``; importing
it runs nothing. ``--set key=value`` overrides any field of the experiment, its
evaluation, or its ``options`` (the knobs the file's own functions read).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import random
import sys
import traceback
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalesearch.errors import ExperimentError, PointError
from scalesearch.metrics import COST_METRICS, TRAINING_METRICS
from scalesearch.proxies import SCORES
from scalesearch.space import Choice, Constraint, Domain, Float, Int, Point

STRATEGIES = ("grid", "random", "tpe", "nsga2")
OPTIMIZERS = ("sgd", "adamw")  # as scalesearch.train.loop.OPTIMIZERS (kept here: no torch import)
RUN_LEVEL = ("resolution", "num_classes")  # point values a run sets itself
PRUNERS = ("none", "median", "asha", "hyperband", "pbt")  # pbt: population-based training, Ray only
TRAINING_FIELDS = ("lr", "weight_decay")  # evaluation fields a pbt stage may search beside the network
DIRECTIONS = ("maximize", "minimize")
METRIC_OBJECTIVES = TRAINING_METRICS
COST_OBJECTIVES = COST_METRICS


@dataclass
class Evaluation:
    """How a candidate is trained and scored."""

    dataset: str = "digits"
    data_root: str | None = None
    resolution: int = 32
    epochs: int = 2
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    weight_decay: float | None = None
    """Applied to weights, not biases or norms; None: 5e-4 for sgd, 0.05 for adamw."""
    label_smoothing: float = 0.0
    device: str = "auto"
    seed: int = 0
    max_batches_per_epoch: int | None = None
    latency: bool = False
    latency_batch_size: int = 1
    threads: int | None = None
    """Torch's intra-op CPU threads per trial; None: the usable CPUs divided among the workers."""
    amp: bool = True
    """bf16 autocast when training on a GPU that supports it (False: fp32, for networks it slows)."""
    latency_profile: str | None = None
    """A calibrated device profile (``scalesearch latency profiles``): latency_ms is predicted by it
    when points are screened, and the winner's latency is then measured for real."""


@dataclass
class SearchSpace:
    """The searched part of a family: search domains, fixed values, an optional re-parameterisation.

    ``derive`` maps the searched values (plus ``fixed``) to family parameter values, e.g.
    EfficientNet's compound scaling maps (phi, alpha, beta, gamma) to (depth_mult,
    width_mult, resolution). ``constraints`` apply to the searched values (e.g.
    alpha * beta**2 * gamma**2 ≈ 2); grids keep only the combinations that satisfy them.
    """

    family: str
    search: Mapping[str, Domain]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    derive: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    constraints: Sequence[Constraint] = ()

    def values_to_point(self, values: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Point:
        """The family point of searched ``values`` (``extra`` = run-level fixed values)."""
        from scalesearch.registry import get_family

        full = {**dict(extra or {}), **dict(self.fixed), **dict(values)}
        for c in self.constraints:
            if not c.check(full):
                raise PointError(f"{self.family} search space: {c.message(full)}")
        fam = get_family(self.family)
        derived = dict(call_user(self.derive, full)) if self.derive else full
        return fam.point({k: v for k, v in derived.items() if k in fam.space.names})

    def grid(self) -> list[dict[str, Any]]:
        """All combinations of the search domains that satisfy the constraints."""
        import itertools

        names = list(self.search)
        for n in names:
            if not math.isfinite(self.search[n].size):
                raise ExperimentError(
                    f"a grid needs finite domains, but {n} is a {self.search[n].describe()}; "
                    f"give it a step or use a Choice of values"
                )
        out = []
        for combo in itertools.product(*(self.search[n].values() for n in names)):
            values = dict(zip(names, combo, strict=True))
            full = {**dict(self.fixed), **values}
            if all(c.check(full) for c in self.constraints):
                out.append(values)
        return out

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {n: d.sample(rng) for n, d in self.search.items()}

    def corners(self, limit: int = 512) -> list[dict[str, Any]]:
        import itertools

        def ends(d: Domain) -> list[Any]:
            if isinstance(d, Choice):
                return list(d.choices)
            if isinstance(d, (Int, Float)):
                return [d.low, d.high]
            return []

        names = list(self.search)
        return [
            dict(zip(names, c, strict=True))
            for c in itertools.islice(itertools.product(*(ends(self.search[n]) for n in names)), limit)
        ]


@dataclass(frozen=True)
class Prefilter:
    """Rank ``sample`` feasible points of a grid or random stage, untrained, by ``proxy`` (a zero-cost
    proxy of :mod:`scalesearch.proxies` on one batch of ``batch_size``, or params/flops/activations)
    and train only the best ``keep``."""

    proxy: str = "synflow"
    sample: int = 200
    keep: int = 10
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.proxy not in SCORES:
            raise ExperimentError(f"prefilter proxy must be one of {', '.join(SCORES)}, not {self.proxy!r}")
        if not 1 <= self.keep <= self.sample:
            raise ExperimentError(f"prefilter: 1 <= keep <= sample, not {self.keep} and {self.sample}")
        if self.batch_size < 2:
            raise ExperimentError(f"prefilter batch_size must be >= 2, but got batch_size={self.batch_size}")


@dataclass
class Stage:
    """One search stage. ``fix_from(results, experiment)`` computes fixed values from earlier stages;
    ``prefilter`` trains only the points a proxy ranks best (grid and random stages)."""

    name: str
    space: SearchSpace
    strategy: str = "tpe"
    trials: int | None = None
    fix_from: Callable[[Any, Experiment], Mapping[str, Any]] | None = None
    prefilter: Prefilter | None = None


@dataclass
class Experiment:
    """A complete search: stages (or one space), budget, objectives, strategy, evaluation."""

    name: str
    space: SearchSpace | None = None
    stages: Sequence[Stage] = ()
    budget: str | Sequence[str] | None = None
    objectives: Mapping[str, str] = field(default_factory=lambda: {"accuracy": "maximize"})
    strategy: str = "tpe"
    pruner: str = "median"
    trials: int | None = 20
    seed: int = 0
    evaluation: Evaluation = field(default_factory=Evaluation)
    options: dict[str, Any] = field(default_factory=dict)
    references: Sequence[str] = ()
    description: str = ""
    summarize: Callable[[Any, Experiment], str] | None = None
    """``summarize(results, experiment)``: text printed after a run and by ``scalesearch results``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if (self.space is None) == (not self.stages):
            raise ExperimentError(f"experiment {self.name!r}: give exactly one of space=... or stages=[...]")
        for s in self.all_stages():
            if s.strategy not in STRATEGIES:
                raise ExperimentError(
                    f"strategy must be one of {', '.join(STRATEGIES)}, but got strategy={s.strategy}"
                )
            if s.prefilter is not None and s.strategy not in ("grid", "random"):
                raise ExperimentError(f"stage {s.name}: prefilter needs grid or random, not {s.strategy}")
        if self.pruner not in PRUNERS:
            raise ExperimentError(f"pruner must be one of {', '.join(PRUNERS)}, but got pruner={self.pruner}")
        if not self.objectives:
            raise ExperimentError("an experiment needs at least one objective, e.g. {'accuracy': 'maximize'}")
        for metric, direction in self.objectives.items():
            if metric not in METRIC_OBJECTIVES + COST_OBJECTIVES:
                raise ExperimentError(
                    f"objective {metric!r} is unknown; valid objectives: "
                    f"{', '.join(METRIC_OBJECTIVES + COST_OBJECTIVES)}"
                )
            if direction not in DIRECTIONS:
                raise ExperimentError(
                    f"objective {metric} must be maximize or minimize, but got {direction!r}"
                )
        if self.trials is not None and self.trials < 1:
            raise ExperimentError(f"trials must be >= 1, but got trials={self.trials}")
        ev = self.evaluation
        for name in ("epochs", "batch_size", "resolution"):
            if getattr(ev, name) < 1:
                raise ExperimentError(f"{name} must be >= 1, but got {name}={getattr(ev, name)}")
        if not ev.lr > 0:
            raise ExperimentError(f"lr must be > 0, but got lr={ev.lr}")
        _validate_evaluation(ev)

    def all_stages(self) -> list[Stage]:
        if self.stages:
            return list(self.stages)
        assert self.space is not None
        return [Stage("search", self.space, self.strategy, self.trials)]

    @property
    def family(self) -> str:
        return self.all_stages()[0].space.family

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


def _validate_evaluation(ev: Evaluation) -> None:
    """Settings that can never work fail here, before any file is written."""
    if ev.optimizer not in OPTIMIZERS:
        raise ExperimentError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got optimizer={ev.optimizer}"
        )
    dev = str(ev.device)
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ExperimentError(f"device must be auto, cpu, cuda or cuda:N, but got device={ev.device}")
    if ev.max_batches_per_epoch is not None and ev.max_batches_per_epoch < 1:
        raise ExperimentError(
            "max_batches_per_epoch must be >= 1 or None, but got "
            f"max_batches_per_epoch={ev.max_batches_per_epoch}"
        )
    if not 0 <= ev.label_smoothing < 1:
        raise ExperimentError(
            f"label_smoothing must be in [0, 1), but got label_smoothing={ev.label_smoothing}"
        )
    if ev.threads is not None and ev.threads < 1:
        raise ExperimentError(f"threads must be >= 1 or None (auto), but got threads={ev.threads}")
    if ev.weight_decay is not None and not ev.weight_decay >= 0:
        raise ExperimentError(f"weight_decay must be >= 0 or None, but got weight_decay={ev.weight_decay}")
    if ev.latency_batch_size < 1:
        raise ExperimentError(
            f"latency_batch_size must be >= 1, but got latency_batch_size={ev.latency_batch_size}"
        )


def call_user(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a function of an experiment file (``derive``, ``fix_from``); what it raises becomes one
    line naming the function, its file and the error."""
    try:
        return fn(*args)
    except (ExperimentError, PointError):
        raise
    except Exception as err:
        code = getattr(fn, "__code__", None)
        where = f"{code.co_filename}:{code.co_firstlineno}" if code else type(fn).__name__
        name = getattr(fn, "__qualname__", repr(fn))
        raise UserCodeError(f"{name} ({where}) raised {type(err).__name__}: {err}") from err


class UserCodeError(ExperimentError):
    """A function of an experiment file raised."""


# --------------------------------------------------------------------------- loading


def load_experiment(path: str | Path) -> Experiment:
    """Import an experiment file and return the one Experiment it defines."""
    path = Path(path)
    if not path.exists():
        raise ExperimentError(f"experiment file {path} does not exist")
    if path.suffix != ".py":
        raise ExperimentError(f"an experiment file must be a .py file, but got {path}")
    name = f"scalesearch_experiment_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling (Ray) need the module registered
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ExperimentError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    except ExperimentError as err:
        raise ExperimentError(f"{path}: {err}") from None
    except Exception as err:
        frames = [
            f
            for f in traceback.extract_tb(err.__traceback__)
            if Path(f.filename) == path.resolve() or Path(f.filename) == path
        ]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        raise ExperimentError(f"{where}: {type(err).__name__}: {err}") from None
    return _find_experiment(module, path)


def _find_experiment(module: types.ModuleType, path: Path) -> Experiment:
    found = getattr(module, "experiment", None)
    if isinstance(found, Experiment):
        return found
    candidates = [v for v in vars(module).values() if isinstance(v, Experiment)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ExperimentError(f"no experiment defined in {path}: define `experiment = Experiment(...)`")
    raise ExperimentError(f"{path} defines {len(candidates)} experiments; name the one to run `experiment`")


# --------------------------------------------------------------------------- overrides

_TOP = ("name", "budget", "strategy", "pruner", "trials", "seed", "description")


def settable_keys(exp: Experiment) -> list[str]:
    ev = [f.name for f in dataclasses.fields(Evaluation)]
    return list(_TOP) + ev + list(exp.options)


def _coerce(key: str, text: str, current: Any, annotation: str) -> Any:
    if text.lower() == "none" and ("None" in annotation or current is None):
        return None
    kinds: list[type] = []
    if isinstance(current, bool) or "bool" in annotation:
        kinds.append(bool)
    if (isinstance(current, int) and not isinstance(current, bool)) or "int" in annotation:
        kinds.append(int)
    if isinstance(current, float) or "float" in annotation:
        kinds.append(float)
    if isinstance(current, str) or "str" in annotation:
        kinds.append(str)
    if not kinds:
        kinds = [int, float, str]
    for kind in kinds:
        if kind is bool:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
        elif kind is int:
            try:
                return int(text)
            except ValueError:
                pass
        elif kind is float:
            try:
                value = float(text)
                if math.isfinite(value):
                    return value
            except ValueError:
                pass
        else:
            return text
    names = "/".join(k.__name__ for k in kinds)
    raise ExperimentError(f"--set {key} expects {names}, but got {key}={text}")


def apply_overrides(exp: Experiment, items: Sequence[str]) -> Experiment:
    """Apply ``key=value`` overrides (``--set``); unknown keys list the valid ones."""
    exp = dataclasses.replace(exp, evaluation=dataclasses.replace(exp.evaluation), options=dict(exp.options))
    ev_fields = {f.name: str(f.type) for f in dataclasses.fields(Evaluation)}
    top_fields = {f.name: str(f.type) for f in dataclasses.fields(Experiment)}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().removeprefix("evaluation.").removeprefix("options.")
        if not sep or not key:
            raise ExperimentError(f"--set needs key=value, but got {item!r}")
        if key in ev_fields:
            value = _coerce(key, text, getattr(exp.evaluation, key), ev_fields[key])
            setattr(exp.evaluation, key, value)
        elif key in _TOP:
            setattr(exp, key, _coerce(key, text, getattr(exp, key), top_fields[key]))
        elif key in exp.options:
            exp.options[key] = _coerce(key, text, exp.options[key], "")
        else:
            raise ExperimentError(f"unknown --set key {key!r}; valid keys: {', '.join(settable_keys(exp))}")
    exp.validate()
    return exp
