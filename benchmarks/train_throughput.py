"""Training throughput and inference latency of canonical networks on one device, side by side.

Run by hand: ``python benchmarks/train_throughput.py [--device cuda] [--batch-size 64]
[--resolution 224] [--networks resnet50,efficientnet_b0,...] [--steps 20]``.
For each network, the training step that ``scalesearch run``/``train`` take (scalesearch/train/
loop.py: channels-last on CUDA, SGD with momentum, cross entropy) is timed on synthetic images in
fp32 and under bf16 autocast (the loop's default on CUDA), after warm-up steps, with the device
synchronised around the timed steps; the ratio is bf16's throughput over fp32's. Inference latency
is ``scalesearch cost --latency``'s measurement (median of timed runs) at batch 1 and at the
training batch size, fp32.
"""

from __future__ import annotations

import argparse
import platform
import time
from contextlib import AbstractContextManager, nullcontext

import torch
from torch.nn import functional as F

from scalesearch import create_model
from scalesearch.cost.latency import LatencySpec, measure
from scalesearch.device import resolve_device
from scalesearch.formatting import table

NETWORKS = (
    "resnet50,efficientnet_b0,mobilenet_v3_large,convnext_tiny,regnet_y_1_6gf,res2net50_26w_4s,"
    "resnetv2_50x1_bit,legacy_xception,inception_v3"
)


def images_per_second(
    name: str, device: torch.device, batch: int, resolution: int, steps: int, bf16: bool
) -> float:
    """Training images per second of ``steps`` timed SGD steps (after 3 warm-up steps)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=1000)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model.to(device, memory_format=fmt).train()  # type: ignore[call-overload]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, resolution, resolution, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device=device)
    autocast: AbstractContextManager = (
        torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    )

    def step() -> None:
        with autocast:
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--networks", default=NETWORKS)
    args = ap.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device {name}, torch {torch.__version__}, batch {args.batch_size}, {args.resolution} px, "
        f"{args.steps} timed steps; threads {torch.get_num_threads()}"
    )
    rows = []
    for net in args.networks.split(","):
        fp32 = images_per_second(net, device, args.batch_size, args.resolution, args.steps, bf16=False)
        bf16 = images_per_second(net, device, args.batch_size, args.resolution, args.steps, bf16=True)
        model = create_model(net, num_classes=1000)
        lat1 = measure(model, args.resolution, LatencySpec(device=str(device), batch_size=1, repeats=20))
        latb = measure(
            model, args.resolution, LatencySpec(device=str(device), batch_size=args.batch_size, repeats=10)
        )
        rows.append(
            {
                "network": net,
                "train_fp32_img_s": round(fp32, 1),
                "train_bf16_img_s": round(bf16, 1),
                "bf16/fp32": round(bf16 / fp32, 2),
                "latency_b1_ms": round(lat1.median_ms, 3),
                f"latency_b{args.batch_size}_ms": round(latb.median_ms, 2),
                "infer_img_s": round(args.batch_size / latb.median_ms * 1000, 1),
            }
        )
        print(table(rows[-1:]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
