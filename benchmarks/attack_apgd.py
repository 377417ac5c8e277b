"""Benchmark: 100-step L-inf APGD-CE on the Kachuee CNN, batch 512, CPU - the project's ``apgd`` against
``torchattacks.APGD`` (test-only reference) in the same process, same model, same beats, same settings.

    python benchmarks/attack_apgd.py [--data ../shared/data] [--repeats 3] [--steps 100] [--batch 512]
                                     [--threads 1] [--epochs 1] [--profile]

Model and beats as in ``benchmarks/attack_pgd.py`` (KachueeCNN trained ``--epochs`` epoch(s) on real
MIT-BIH beats; the attacked batch is ``--batch`` class-balanced test beats). Settings: eps 0.05,
``--steps`` steps, 1 restart, loss CE, inputs in [0, 1], seed 0 for both (their random starts differ:
torchattacks draws from the global generator). torchattacks gets the beats as [n, 1, 1, 187] through a
reshape wrapper (its APGD assumes image batches). Runs are interleaved (the order alternates every
repeat); reported: median and best wall time, throughput (attacked samples per second), the ratio
ours / torchattacks, and both robust accuracies. ``--profile`` adds a torch.profiler table for ours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from ecg_pipeline.attacks.apgd import apgd

from common import DEFAULT_DATA, accuracy, prepare  # benchmarks/common.py

EPS = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import torchattacks  # test/benchmark-only reference

    load_before = os.getloadavg()
    model, x, y, info = prepare(args.data, args.batch, args.epochs)
    print(
        f"data {info['data s']:.1f} s; trained KachueeCNN {args.epochs} epoch(s) on {info['train beats']} beats "
        f"in {info['train s']:.1f} s; attacked batch {len(y)} (per class {info['test classes']}); "
        f"threads {torch.get_num_threads()}; clean accuracy {accuracy(model, x, y):.4f}"
    )
    print(f"APGD-CE L-inf eps {EPS}, {args.steps} steps, 1 restart, bounds [0, 1]\n")
    wrapped = AsImage(model).eval()
    runs = {
        "torchattacks.APGD": lambda: torchattacks.APGD(wrapped, eps=EPS, steps=args.steps, n_restarts=1, loss="ce", seed=0)(
            x[:, :, None, :], y
        ).reshape(x.shape),
        "apgd (ours)": lambda: apgd(model, x, y, EPS, bounds=(0.0, 1.0), loss="ce", steps=args.steps, restarts=1, seed=0),
    }
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    outputs: dict[str, torch.Tensor] = {}
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            outputs[name] = runs[name]()
            times[name].append(time.perf_counter() - t)

    ref_name = names[0]
    ref_tp = len(y) / statistics.median(times[ref_name])
    ref_best = len(y) / min(times[ref_name])
    print(f"{'implementation':<20} {'median s':>9} {'min s':>7} {'max s':>7} {'samples/s':>10} {'ratio':>6} {'best ratio':>10} {'robust acc':>11}")
    for name in names:
        med = statistics.median(times[name])
        print(
            f"{name:<20} {med:>9.2f} {min(times[name]):>7.2f} {max(times[name]):>7.2f} {len(y) / med:>10.1f} "
            f"{len(y) / med / ref_tp:>5.2f}x {len(y) / min(times[name]) / ref_best:>9.2f}x {accuracy(model, outputs[name], y):>11.4f}"
        )
    print("\nper-run seconds: " + "; ".join(f"{k}: {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in times.items()))
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            apgd(model, x, y, EPS, bounds=(0.0, 1.0), loss="ce", steps=10, seed=0)
        print("\nprofile, 10 steps, apgd (ours)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
