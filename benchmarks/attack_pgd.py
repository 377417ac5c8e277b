"""Benchmark: 100-step L-inf PGD on the Kachuee CNN, batch 512, CPU - the project's ``pgd`` against
``torchattacks.PGD`` (test-only reference) in the same process, same model, same beats, same settings.

    python benchmarks/attack_pgd.py [--data ../shared/data] [--repeats 3] [--steps 100] [--batch 512]
                                    [--threads N] [--epochs 1] [--profile]

The CNN (``ecg_pipeline.models.kachuee_cnn.KachueeCNN``) is first trained for ``--epochs`` epoch(s) on
real MIT-BIH beats (at most 3,000 per class, random split, training part upsampled: 9,600 rows; Adam
3e-3, batch 128, seed 0; about 80% clean accuracy - the paper's Adamax 1e-3 leaves it near chance
after one epoch), so that the robust accuracies mean something; the attacked batch is ``--batch``
class-balanced test beats.
Settings: eps 0.05, step 0.01, no random start (so both runs are deterministic and comparable to the
sample), inputs clipped to [0, 1]. Runs are interleaved (the order alternates every repeat) and the
median wall time per implementation is reported as throughput (attacked samples per second), with
the ratio to torchattacks (of medians, and of best runs: on a shared machine the best run is the least
disturbed one), both robust accuracies, and how many adversarial rows agree. The load average is
printed before and after: other processes on a 2-core machine distort two-thread runs badly
(``--threads 1`` is much less sensitive).

Same algorithm, timed against each other: torchattacks.PGD; the project's ``pgd`` with
``cycle_check=0`` (the plain loop: frozen weights, input-only ``autograd.grad``, summed loss, in-place
step and box clamp); the default ``pgd`` (the same loop, plus finishing samples whose iterate has
entered a cycle). For information (not the same algorithm, so not in the ratio's spirit): ``pgd_nsr``
(the NSR code's Adamax 100-PGD, random start).
``--profile`` adds a torch.profiler table (top ops by self CPU time) for 5 steps of each.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from ecg_pipeline.attacks.pgd import pgd, pgd_nsr

from common import accuracy, attack_parser, attacked_model  # benchmarks/common.py

EPS, STEP = 0.05, 0.01


def main() -> None:
    parser = attack_parser(__doc__, threads=None)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()

    import torchattacks  # test/benchmark-only reference

    load_before = os.getloadavg()
    model, x, y = attacked_model(args)
    print(f"PGD L-inf eps {EPS}, step {STEP}, {args.steps} steps, no random start, bounds [0, 1]\n")

    runs = {
        "torchattacks.PGD": lambda: torchattacks.PGD(model, eps=EPS, alpha=STEP, steps=args.steps, random_start=False)(x, y),
        "pgd (cycle_check=0)": lambda: pgd(model, x, y, EPS, bounds=(0.0, 1.0), steps=args.steps, step_size=STEP, random_start=False, cycle_check=0),
        "pgd (default)": lambda: pgd(model, x, y, EPS, bounds=(0.0, 1.0), steps=args.steps, step_size=STEP, random_start=False),
        "pgd_nsr (100-PGD)*": lambda: pgd_nsr(model, x, y, EPS, steps=args.steps, step_size=STEP),
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
    ref = outputs[ref_name]
    ref_tp = len(y) / statistics.median(times[ref_name])
    ref_best = len(y) / min(times[ref_name])
    print(
        f"{'implementation':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'samples/s':>10} {'ratio':>6} "
        f"{'best ratio':>10} {'robust acc':>11} {'rows = ref':>11} {'max|diff|':>10}"
    )
    for name in names:
        med = statistics.median(times[name])
        if name.endswith("*"):
            same, diff = "-", "-"
        else:
            same = f"{(outputs[name] == ref).flatten(1).all(1).float().mean().item():.4f}"
            diff = f"{float((outputs[name] - ref).abs().max()):.2e}"
        print(
            f"{name:<22} {med:>9.2f} {min(times[name]):>7.2f} {max(times[name]):>7.2f} {len(y) / med:>10.1f} "
            f"{len(y) / med / ref_tp:>5.2f}x {len(y) / min(times[name]) / ref_best:>9.2f}x "
            f"{accuracy(model, outputs[name], y):>11.4f} {same:>11} {diff:>10}"
        )
    print("* different algorithm (first misclassified iterate / Adamax with per-sample stop), for information")
    print("\nper-run seconds: " + "; ".join(f"{k}: {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in times.items()))
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        short = {
            "torchattacks.PGD": lambda: torchattacks.PGD(model, eps=EPS, alpha=STEP, steps=5, random_start=False)(x, y),
            "pgd (cycle_check=0)": lambda: pgd(model, x, y, EPS, bounds=(0.0, 1.0), steps=5, step_size=STEP, random_start=False, cycle_check=0),
        }
        for name, fn in short.items():
            fn()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                fn()
            print(f"\nprofile, 5 steps, {name}")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
