"""``scalesearch export``: a family point or canonical network to ONNX or TorchScript, parity checked."""

from __future__ import annotations

import argparse
from pathlib import Path

from scalesearch.errors import UsageError


def export_args(p: argparse.ArgumentParser) -> None:
    from scalesearch.export import EXPORTERS, FORMATS, OPSET

    p.add_argument(
        "target",
        metavar="TARGET",
        help="a family (its point as key=value, see `scalesearch families`) or a canonical network "
        "such as resnet50 (key=value overrides its point; see `scalesearch fixed-points`)",
    )
    p.add_argument("values", nargs="*", metavar="key=value", help="parameter values of the point")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="file format to write")
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write (atomically)")
    p.add_argument("--resolution", type=int, help="input resolution (same as resolution=R)")
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="weights: a state-dict file, or a checkpoint of `scalesearch train` (loaded strictly); "
        "without it, the network's random initialisation",
    )
    p.add_argument(
        "--onnx-exporter",
        choices=list(EXPORTERS),
        default="auto",
        help=f"torch's ONNX exporter (opset {OPSET}): legacy (TorchScript-based, fast), dynamo "
        "(torch.export-based, slower) or auto (legacy, then dynamo where legacy cannot express the network)",
    )


def cmd_export(args: argparse.Namespace) -> int:
    from scalesearch.export.target import build, resolve_target
    from scalesearch.export.writer import export_model

    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out must be a file, but {out} is a directory")
    if args.onnx_exporter != "auto" and args.format != "onnx":
        raise UsageError(f"--onnx-exporter applies to --format onnx only, but got --format {args.format}")
    target = resolve_target(args.target, args.values, args.resolution)
    model = build(target, args.checkpoint)
    result = export_model(model, args.format, out, target.channels, target.resolution, args.onnx_exporter)
    weights = f"weights {args.checkpoint}" if args.checkpoint else "random weights (no --checkpoint)"
    print(f"{target.name} at resolution {target.resolution}, {weights}: {result.summary()}")
    return 0
