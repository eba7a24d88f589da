"""Latency of exported models in ONNX Runtime vs eager PyTorch on the CPU, per family.

Run by hand: ``python benchmarks/export_latency.py [--resolution 128] [--threads 1] [--families a,b]``.
For each family, its first canonical network (the family's default point where it has none) is
built once and timed on both devices back to back in this one process, with the discipline of
``scalesearch cost --latency`` (``--warmup`` untimed runs, then the median of ``--repeats`` timed
runs, batch 1, fp32): eager PyTorch in inference mode, and ONNX Runtime's CPU execution provider on
the file ``scalesearch export`` writes (legacy exporter, opset 18), with the same thread count.
The ratio is ONNX Runtime's median over PyTorch's: below 1, the exported model is faster.
"""

from __future__ import annotations

import argparse
import platform
from typing import Any

import onnxruntime
import torch

from scalesearch.cost.latency import LatencySpec, measure
from scalesearch.family import Family
from scalesearch.formatting import table
from scalesearch.registry import families, get_family


def _network(fam: Family) -> tuple[str, dict[str, Any]]:
    """The family's first canonical network and its point (the default point where it has none)."""
    if fam.canonical:
        return fam.canonical[0].name, dict(fam.canonical_point(fam.canonical[0].name))
    return f"{fam.name} (default point)", dict(fam.point({}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, help="input resolution (default: each network's own)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of both runtimes")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--families", help="comma-separated families (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.families.split(",") if args.families else [f.name for f in families()]
    print(
        f"# batch 1, fp32, {args.threads} thread(s), median of {args.repeats} runs after {args.warmup}; "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {platform.machine()} "
        f"{platform.processor() or ''}".rstrip()
    )
    rows = []
    for name in names:
        fam = get_family(name)
        network, point = _network(fam)
        if args.resolution:
            point["resolution"] = args.resolution
        model = fam.build(point).eval()
        channels, res = fam.input_channels(point), point["resolution"]
        timed = {}
        for device in ("cpu", "onnxruntime"):
            spec = LatencySpec(device, 1, "fp32", False, args.warmup, args.repeats)
            timed[device] = measure(model, res, spec, channels=channels).median_ms
        rows.append(
            {
                "family": name,
                "network": network,
                "resolution": res,
                "params": f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M",
                "pytorch_ms": f"{timed['cpu']:.2f}",
                "onnxruntime_ms": f"{timed['onnxruntime']:.2f}",
                "ratio": f"{timed['onnxruntime'] / timed['cpu']:.2f}",
            }
        )
        print(f"# {name}: done", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
