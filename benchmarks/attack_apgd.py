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

import os


from ecg_pipeline.attacks.apgd import apgd

from common import AsImage, attack_parser, attacked_model, interleaved, print_comparison  # benchmarks/common.py

EPS = 0.05


def main() -> None:
    parser = attack_parser(__doc__)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()

    import torchattacks  # test/benchmark-only reference

    load_before = os.getloadavg()
    model, x, y = attacked_model(args)
    print(f"APGD-CE L-inf eps {EPS}, {args.steps} steps, 1 restart, bounds [0, 1]\n")
    wrapped = AsImage(model).eval()
    runs = {
        "torchattacks.APGD": lambda: torchattacks.APGD(wrapped, eps=EPS, steps=args.steps, n_restarts=1, loss="ce", seed=0)(
            x[:, :, None, :], y
        ).reshape(x.shape),
        "apgd (ours)": lambda: apgd(model, x, y, EPS, bounds=(0.0, 1.0), loss="ce", steps=args.steps, restarts=1, seed=0),
    }
    times, outputs = interleaved(runs, args.repeats)
    print_comparison(times, outputs, model, y)
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            apgd(model, x, y, EPS, bounds=(0.0, 1.0), loss="ce", steps=10, seed=0)
        print("\nprofile, 10 steps, apgd (ours)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
