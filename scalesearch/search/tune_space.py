"""Our search domains as a Ray Tune search space, and back, with nothing lost.

Ray Tune's own converters are lossy for our domains: ``tune.qrandint`` rounds to
multiples of ``q`` (not to ``low + k * step``) and weights the two ends by half, and the
Optuna/HyperOpt converters drop grids and conditions. So the converter is ours:

- ``Int(low, high)`` → ``tune.randint(low, high + 1)`` (Tune's upper bound is exclusive);
  ``log=True`` → ``tune.lograndint`` (the same distribution as ``Int.sample``).
- ``Float(low, high)`` → ``tune.uniform``; ``log=True`` → ``tune.loguniform``.
- A ``step`` (Int or Float) → a Tune ``Integer``/``Float`` with the :class:`OnGrid`
  sampler: values ``low + k * step`` exactly, uniform over ``k`` (log-spaced for a stepped
  log Int), the same values as ``Domain.values()``.
- ``Choice`` → ``tune.choice`` (values come back as the original Python objects).
- A family parameter with ``when=...`` (active only for some values of others) becomes a
  ``tune.sample_from`` (:class:`When`) that draws it when active and gives None otherwise.
- A grid is the constrained list :meth:`SearchSpace.grid` itself, handed to Tune as points.

:func:`from_tune` inverts :func:`to_tune` exactly; :func:`sample` draws a config with a
seeded generator and :func:`to_values` turns any Tune config back into checked values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.tune.search import sample as ts

from scalesearch.errors import ExperimentError
from scalesearch.experiment import SearchSpace
from scalesearch.space import Choice, Domain, Float, Int, IntList

TuneSpace = dict[str, ts.Domain]


class OnGrid(ts.Sampler):
    """Samples ``low + k * step`` for k uniform in ``[0, n)``; log-spaced when ``log`` (Int only)."""

    def __init__(self, low: float, high: float, step: float, log: bool = False) -> None:
        self.low, self.high, self.step, self.log = low, high, step, log

    def __str__(self) -> str:
        return f"OnGrid(step={self.step}{', log' if self.log else ''})"

    def sample(
        self, domain: ts.Domain, config: Any = None, size: int = 1, random_state: ts.RandomState = None
    ) -> Any:
        rng = (
            random_state
            if isinstance(random_state, ts._BackwardsCompatibleNumpyRng)
            else ts._BackwardsCompatibleNumpyRng(random_state)
        )
        items = [self._one(domain, rng) for _ in range(size)]
        return items if size > 1 else items[0]

    def _one(self, domain: ts.Domain, rng: Any) -> Any:
        if isinstance(domain, ts.Integer):
            low, high, step = int(self.low), int(self.high), int(self.step)
            if self.log:  # as Int.sample: log-uniform on [low, high + 1), snapped down to the grid
                value = min(high, int(math.exp(rng.uniform(math.log(low), math.log(high + 1)))))
                return low + (value - low) // step * step
            return low + step * int(rng.integers(0, (high - low) // step + 1))
        n = int(round((self.high - self.low) / self.step)) + 1
        return round(self.low + self.step * int(rng.integers(0, n)), 10)


class When:
    """A ``tune.sample_from`` function: the inner Tune domain when ``when`` holds, else None."""

    def __init__(
        self,
        name: str,
        inner: ts.Domain,
        when: Mapping[str, tuple[Any, ...]],
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self.name, self.inner = name, inner
        self.when = {k: tuple(v) for k, v in when.items()}
        self.fixed = dict(fixed or {})

    def active(self, config: Mapping[str, Any]) -> bool:
        """True unless a known value (searched or fixed) lies outside the condition."""
        known = {**self.fixed, **config}
        return all(k not in known or _py(known[k]) in vs for k, vs in self.when.items())

    def __call__(self, config: Mapping[str, Any]) -> Any:
        return self.inner.sample() if self.active(config) else None


def _py(value: Any) -> Any:
    """numpy scalars → Python scalars (Tune samples numpy types)."""
    return value.item() if isinstance(value, np.generic) else value


def domain_to_tune(name: str, domain: Domain) -> ts.Domain:
    """One of our domains as a Tune domain with the same values and distribution."""
    if isinstance(domain, Int):
        if domain.step != 1:
            grid_int = ts.Integer(domain.low, domain.high + 1)
            grid_int.set_sampler(OnGrid(domain.low, domain.high, domain.step, domain.log))
            return grid_int
        if domain.log:
            return ts.lograndint(domain.low, domain.high + 1)
        return ts.randint(domain.low, domain.high + 1)
    if isinstance(domain, Float):
        if domain.step:
            d = ts.Float(domain.low, domain.high)
            d.set_sampler(OnGrid(domain.low, domain.high, domain.step))
            return d
        return ts.loguniform(domain.low, domain.high) if domain.log else ts.uniform(domain.low, domain.high)
    if isinstance(domain, Choice):
        return ts.choice(list(domain.choices))
    if isinstance(domain, IntList):
        raise ExperimentError(
            f"{name}: {domain.describe()} cannot be searched; fix it or use a Choice of values"
        )
    raise ExperimentError(f"{name}: unsupported domain {domain!r}")


def domain_from_tune(name: str, d: ts.Domain) -> Domain:
    """The domain :func:`domain_to_tune` made ``d`` from (Tune's plain uniform/log/choice domains too)."""
    sampler = d.get_sampler()
    if isinstance(sampler, OnGrid):
        if isinstance(d, ts.Integer):
            return Int(int(sampler.low), int(sampler.high), int(sampler.step), sampler.log)
        return Float(sampler.low, sampler.high, sampler.step)
    if isinstance(d, ts.Integer) and isinstance(sampler, (ts.Uniform, ts.LogUniform)):
        return Int(int(d.lower), int(d.upper) - 1, log=isinstance(sampler, ts.LogUniform))
    if isinstance(d, ts.Float) and isinstance(sampler, (ts.Uniform, ts.LogUniform)):
        return Float(float(d.lower), float(d.upper), log=isinstance(sampler, ts.LogUniform))
    if isinstance(d, ts.Categorical) and not d.is_grid():
        return Choice(tuple(d.categories))
    raise ExperimentError(
        f"{name}: the Tune domain {type(d).__name__} with sampler {sampler} has no exact "
        "scalesearch equivalent (quantised Tune domains round to multiples of q; use OnGrid)"
    )


def conditions(space: SearchSpace) -> dict[str, dict[str, tuple[Any, ...]]]:
    """``when`` conditions of the searched names that are conditional family parameters."""
    from scalesearch.registry import get_family

    try:
        fam = get_family(space.family)
    except Exception:  # an unknown family fails later, where it is named
        return {}
    out = {}
    for name in space.search:
        if name in fam.space.names:
            param = fam.space.param(name)
            if param.when:
                out[name] = {k: tuple(v) for k, v in param.when.items()}
    return out


def to_tune(space: SearchSpace) -> TuneSpace:
    """The Tune ``param_space`` of a stage space (conditional parameters as ``sample_from``)."""
    whens = conditions(space)
    out: TuneSpace = {}
    for name, domain in space.search.items():
        d = domain_to_tune(name, domain)
        if name in whens:
            fixed = {k: space.fixed[k] for k in whens[name] if k in space.fixed}
            d = ts.sample_from(When(name, d, whens[name], fixed))
        out[name] = d
    return out


def is_active(space: SearchSpace, name: str, values: Mapping[str, Any]) -> bool:
    """Whether searched parameter ``name`` is active given the values drawn so far (and the fixed ones)."""
    when = conditions(space).get(name)
    if not when:
        return True
    fixed = {k: space.fixed[k] for k in when if k in space.fixed}
    return When(name, ts.Domain(), when, fixed).active(values)


def from_tune(param_space: Mapping[str, ts.Domain]) -> tuple[dict[str, Domain], dict[str, dict]]:
    """Our domains (and the ``when`` conditions) back from a :func:`to_tune` param space."""
    domains: dict[str, Domain] = {}
    whens: dict[str, dict] = {}
    for name, d in param_space.items():
        if isinstance(d, ts.Function) and isinstance(d.func, When):
            whens[name] = dict(d.func.when)
            d = d.func.inner
        domains[name] = domain_from_tune(name, d)
    return domains, whens


def sample(param_space: Mapping[str, ts.Domain], rng: np.random.Generator) -> dict[str, Any]:
    """One config drawn from a Tune param space with ``rng`` (conditions after the rest)."""
    config: dict[str, Any] = {}
    later = []
    for name, d in param_space.items():
        if isinstance(d, ts.Function) and isinstance(d.func, When):
            later.append((name, d.func))
        else:
            config[name] = _py(d.sample(random_state=rng))
    for name, when in later:
        config[name] = _py(when.inner.sample(random_state=rng)) if when.active(config) else None
    return config


def to_values(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """The searched values of a Tune config, checked against their domains (inactive → left out)."""
    whens = conditions(space)
    values: dict[str, Any] = {}
    for name, domain in space.search.items():
        if name not in config and name in whens:
            continue  # an inactive conditional parameter (Optuna's define-by-run leaves it out)
        if name not in config:
            raise ExperimentError(f"the Tune config has no value for {name}; got keys {sorted(config)}")
        value = _py(config[name])
        if value is None and name in whens:
            continue
        values[name] = domain.check(name, value)
    return values


def grid_points(space: SearchSpace, limit: int | None = None) -> list[dict[str, Any]]:
    """The constrained grid, as the list of points Tune evaluates (identical to ``space.grid()``)."""
    grid = space.grid()
    return grid if limit is None else grid[:limit]
