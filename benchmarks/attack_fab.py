"""Benchmark: L-inf FAB-T (multi-targeted, AutoAttack "standard") on the Kachuee CNN, CPU - the project's
``fab_t`` against ``torchattacks.FAB(norm="Linf", multi_targeted=True)`` (test-only reference) in the same
process, same model, same beats, same settings.

    python benchmarks/attack_fab.py [--data ../shared/data] [--repeats 1] [--steps 100] [--batch 512]
                                    [--eps 0.03] [--threads 1] [--epochs 1] [--profile]

Model and beats as in ``benchmarks/attack_apgd.py`` (KachueeCNN trained ``--epochs`` epoch(s) on real MIT-BIH
beats; the attacked batch is ``--batch`` class-balanced test beats). Settings: eps ``--eps``, ``--steps``
steps, 1 restart, every other class as a target (4 of 5), alpha_max 0.1, eta 1.05, beta 0.9, inputs in
[0, 1]. torchattacks' FAB runs every step on every beat (a minimum-norm search); ours stops a beat once it
holds a break inside the eps-ball. Reported: wall times, the ratio ours / torchattacks, both robust
accuracies, and the breaks of each counted with the same check (misclassified, float64 L-inf distance < eps).
"""

from __future__ import annotations

import os

import torch

from ecg_pipeline.attacks.fab import fab_t

from common import attack_parser, attacked_model, interleaved, print_comparison  # benchmarks/common.py


def valid_breaks(model, x, y, x_adv, eps) -> int:
    with torch.inference_mode():
        right, wrong = model(x).argmax(1) == y, model(x_adv).argmax(1) != y
    inside = (x_adv.double() - x.double()).flatten(1).abs().amax(1) < eps
    return int((right & wrong & inside).sum())


def main() -> None:
    parser = attack_parser(__doc__)
    parser.set_defaults(repeats=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--eps", type=float, default=0.03)
    args = parser.parse_args()

    import torchattacks  # test/benchmark-only reference

    load_before = os.getloadavg()
    model, x, y = attacked_model(args)
    print(f"FAB-T L-inf eps {args.eps}, {args.steps} steps, 1 restart, 4 target classes, bounds [0, 1]\n")
    runs = {
        "torchattacks.FAB": lambda: torchattacks.FAB(model, norm="Linf", eps=args.eps, steps=args.steps, n_restarts=1,
                                                     multi_targeted=True, n_classes=5)(x, y),
        "fab_t (ours)": lambda: fab_t(model, x, y, args.eps, bounds=(0.0, 1.0), steps=args.steps, restarts=1),
    }
    with torch.random.fork_rng():
        times, outputs = interleaved(runs, args.repeats)
    print_comparison(times, outputs, model, y)
    print("valid breaks (misclassified, float64 L-inf distance < eps): "
          + "; ".join(f"{name} {valid_breaks(model, x, y, out, args.eps)}" for name, out in outputs.items()))
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fab_t(model, x, y, args.eps, bounds=(0.0, 1.0), steps=10)
        print("\nprofile, 10 steps, fab_t (ours)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
