"""Rank candidate points by a zero-cost proxy or a cost baseline and keep the top k, without training.

Used by a stage's :class:`~scalesearch.experiment.Prefilter` (the run layer samples the stage's
space, keeps the feasible points, ranks them here and trains only the best ``keep``) and by
``scalesearch proxies --family F``. Higher scores rank first for every proxy and for the baselines
(the largest networks first: the baseline a proxy has to beat).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scalesearch.errors import UsageError
from scalesearch.experiment import Evaluation
from scalesearch.proxies import BASELINES, SCORES
from scalesearch.proxies.evaluate import Batches, score_row
from scalesearch.space import Point


@dataclass(frozen=True)
class Ranked:
    """A candidate's score and its place in the sample (``index``)."""

    index: int
    score: float


def score_points(
    family_name: str,
    points: Sequence[Mapping[str, Any]],
    score: str,
    evaluation: Evaluation,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """``score`` of every point: a baseline from the family's exact counts, a proxy on one batch."""
    from scalesearch.proxies.scores import check_names
    from scalesearch.registry import get_family

    check_names([score], SCORES)
    family = get_family(family_name)
    batches = Batches(evaluation, batch_size) if score not in BASELINES else None
    out = []
    for i, point in enumerate(points):
        if batches is None:
            out.append(float(family.complexity(point).as_dict()[score]))
        else:
            out.append(score_row(family_name, point, batches, [score])[score])
        if progress is not None:
            progress(i + 1, len(points))
    return out


def top_k(scores: Sequence[float], keep: int) -> list[Ranked]:
    """The ``keep`` best scores, best first (ties keep the sample order, NaN last)."""
    order = sorted(
        range(len(scores)),
        key=lambda i: (math.isnan(scores[i]), -scores[i] if not math.isnan(scores[i]) else 0),
    )
    return [Ranked(i, scores[i]) for i in order[:keep]]


def family_sample(family_name: str, samples: int, fixed: Mapping[str, Any], seed: int = 0) -> list[Point]:
    """``samples`` distinct valid points of the family's default search domains (``fixed`` held)."""
    from scalesearch.registry import get_family
    from scalesearch.space import point_key

    if samples < 1:
        raise UsageError(f"--samples must be >= 1, but got --samples {samples}")
    family = get_family(family_name)
    domains = family.space.search_domains(fixed)
    rng = random.Random(seed)
    found: dict[Any, Point] = {}
    for _ in range(samples):
        point = family.space.sample(rng, domains, fixed)
        found.setdefault(point_key(point), point)
    return list(found.values())
