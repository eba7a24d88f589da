"""``scalesearch train``: train a family point, a canonical network or a run's winner to completion.

TARGET is a family name (its point as key=value), a canonical network name, or a run directory
(its best feasible point, or the ``--rank``-th; the run's own evaluation settings are the
defaults). Evaluation fields are overridden with ``--set field=value``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalesearch.cli.common import set_arg
from scalesearch.cli.run import mlflow_arg
from scalesearch.errors import UsageError
from scalesearch.formatting import compact, to_json

if TYPE_CHECKING:
    from scalesearch.experiment import Evaluation
    from scalesearch.progress import Progress
    from scalesearch.tracking import TrainTracker


def train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target", help="a family name, a canonical network name (e.g. resnet18) or a run directory"
    )
    p.add_argument("values", nargs="*", metavar="key=value", help="point values (over the target's)")
    p.add_argument("--out", required=True, help="output directory; the same command again resumes there")
    set_arg(
        p,
        "override an evaluation field (dataset, epochs, lr, batch_size, resolution, optimizer, ...)",
        metavar="FIELD=VALUE",
    )
    p.add_argument(
        "--rank", type=int, default=1, help="with a run directory: train its N-th best feasible point"
    )
    p.add_argument(
        "--init", help="start from this state-dict file (torchvision/timm layout), loaded strictly"
    )
    p.add_argument(
        "--num-classes", type=int, help="replace the classifier by one with N outputs (transfer learning)"
    )
    p.add_argument("--freeze-backbone", action="store_true", help="train the classifier only")
    p.add_argument(
        "--format", choices=["table", "json"], default="table", help="output format of the summary"
    )
    mlflow_arg(p, "one run: the command, every epoch, the summary, model.pt and summary.json")


def _run_target(run_dir: Path, rank: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The family, point and evaluation settings of the ``rank``-th best feasible trial of a run."""
    from scalesearch.analysis.results import load_results, load_run_meta

    meta = load_run_meta(run_dir)
    df = load_results(run_dir)
    best = df[(df["state"] == "COMPLETE") & df["feasible"]] if not df.empty else df
    if len(best) < rank:
        raise UsageError(
            f"--rank {rank}: run {run_dir} has {len(best)} completed feasible trial(s)"
            + ("; it has nothing to train yet" if best.empty else "")
        )
    row = best.iloc[rank - 1]
    return str(row["family"]), dict(row["point"]), dict(meta.get("evaluation") or {})


def resolve_target(
    target: str, values: list[str], rank: int
) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    """``(family, point values, evaluation defaults, label)`` of a TARGET and its key=value values."""
    from scalesearch.registry import canonical_names, family_names, find_canonical, get_family

    if rank < 1:
        raise UsageError(f"--rank must be >= 1, but got --rank {rank}")
    evaluation: dict[str, Any] = {}
    if target in family_names():
        family, base, label = target, {}, target
    elif target in canonical_names():
        fam, canonical = find_canonical(target)
        family, base, label = fam.name, dict(canonical.values), target
    elif Path(target).is_dir():
        family, base, evaluation = _run_target(Path(target), rank)
        label = f"{target} (rank {rank})"
    else:
        raise UsageError(
            f"TARGET must be a family, a canonical network or a run directory, but got {target!r}; "
            f"families: {', '.join(family_names())} (networks: scalesearch fixed-points)"
        )
    if rank != 1 and not Path(target).is_dir():
        raise UsageError(f"--rank applies to a run directory, but {target!r} is not one")
    given = get_family(family).space.parse(values)
    point = {**base, **given}
    label = " ".join([label, *values])
    return family, point, evaluation, label


def evaluation_of(
    defaults: dict[str, Any], overrides: list[str], resolution: int | None = None
) -> Evaluation:
    """The evaluation fields: ``defaults`` (a run's), then ``resolution`` (given as a point value),
    then ``--set``; an unknown field or a bad value is one line."""
    from scalesearch.experiment import Evaluation, Experiment, SearchSpace, apply_overrides

    names = [f.name for f in dataclasses.fields(Evaluation)]
    items = list(overrides)
    for item in items:
        key = item.partition("=")[0].strip().removeprefix("evaluation.")
        if key not in names:
            raise UsageError(f"unknown --set field {key!r}; valid fields: {', '.join(names)}")
    if resolution is not None:
        items.insert(0, f"resolution={resolution}")
    base = Evaluation(**{k: v for k, v in defaults.items() if k in names})
    exp = Experiment("train", space=SearchSpace("train", {}), evaluation=base, trials=None)
    return apply_overrides(exp, items).evaluation


def cmd_train(args: argparse.Namespace) -> int:
    from scalesearch.progress import Progress
    from scalesearch.tracking import TrainTracker, tracking

    with tracking(args.mlflow, TrainTracker) as tracker:  # a bad URI is refused before any work
        summary = _train(args, Progress(), tracker)
    if args.format == "json":
        print(to_json(summary))
    else:
        for key, value in summary.items():
            if value is not None:
                print(f"{key:>18}: {compact(value)}")
    return 0


def _train(args: argparse.Namespace, progress: Progress, tracker: TrainTracker | None) -> dict[str, Any]:
    from scalesearch.train.final import TrainSpec, train_final

    family, point, defaults, label = resolve_target(args.target, args.values, args.rank)
    explicit = {v.partition("=")[0] for v in args.values}
    if "num_classes" in explicit and args.init is None:
        raise UsageError(
            "num_classes= is for the network of an --init file; without --init the classifier fits "
            "the dataset, or --num-classes N"
        )
    given_resolution = point.pop("resolution", None) if "resolution" in explicit else None
    ev = evaluation_of(defaults, args.overrides, given_resolution)
    if given_resolution is not None and ev.resolution != given_resolution:
        raise UsageError(
            f"resolution is given twice with different values: resolution={given_resolution} and "
            f"--set resolution={ev.resolution}"
        )
    spec = TrainSpec(family, point, ev, label, args.init, args.num_classes, args.freeze_backbone)
    return train_final(spec, Path(args.out), progress, tracker)
