"""Benchmark: L-inf Square attack on the Kachuee CNN, CPU - the project's ``square`` against
``torchattacks.Square`` (test-only reference) in the same process, same model, same beats, same settings.

    python benchmarks/attack_square.py [--data ../shared/data] [--repeats 3] [--queries 1000] [--batch 512]
                                       [--eps 0.05] [--threads 1] [--epochs 1] [--profile]

Model and beats as in ``benchmarks/attack_pgd.py`` (KachueeCNN trained ``--epochs`` epoch(s) on real
MIT-BIH beats; the attacked batch is ``--batch`` class-balanced test beats). Settings: eps ``--eps``,
``--queries`` queries per beat, 1 restart, p_init 0.8, margin loss, inputs in [0, 1], seed 0 for both.
torchattacks gets the beats as [n, 1, 1, 187] through a reshape wrapper (its Square assumes images: its
squares have side ``sqrt(p * 187)`` samples, ours cover ``p * 187`` samples; see
``ecg_pipeline.attacks.square``), so the two search different neighbourhoods and their robust
accuracies differ by more than noise; both are printed. The time of a Square run depends on how fast
beats fall (a fooled beat stops being queried), so the throughput is per attacked beat for the whole
budget, and queries per second are printed too. Runs are interleaved (the order alternates every
repeat). ``--profile`` adds a torch.profiler table for ours.
"""

from __future__ import annotations

import os


from ecg_pipeline.attacks.square import square, square_with_queries

from common import AsImage, attack_parser, attacked_model, interleaved, print_comparison  # benchmarks/common.py


def main() -> None:
    parser = attack_parser(__doc__)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.05)
    args = parser.parse_args()

    import torchattacks  # test/benchmark-only reference

    load_before = os.getloadavg()
    model, x, y = attacked_model(args)
    print(f"Square L-inf eps {args.eps}, {args.queries} queries, 1 restart, p_init 0.8, bounds [0, 1]\n")
    wrapped = AsImage(model).eval()
    runs = {
        "torchattacks.Square": lambda: torchattacks.Square(
            wrapped, eps=args.eps, n_queries=args.queries, n_restarts=1, p_init=0.8, seed=0
        )(x[:, :, None, :], y).reshape(x.shape),
        "square (ours)": lambda: square(model, x, y, args.eps, bounds=(0.0, 1.0), max_queries=args.queries, seed=0),
    }
    times, outputs = interleaved(runs, args.repeats)
    print_comparison(times, outputs, model, y)
    _, queries = square_with_queries(model, x, y, args.eps, bounds=(0.0, 1.0), max_queries=args.queries, seed=0)
    print(f"ours: {int(queries.sum())} model queries in all, mean {queries.float().mean():.0f} per beat")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            square(model, x, y, args.eps, bounds=(0.0, 1.0), max_queries=min(args.queries, 200), seed=0)
        print(f"\nprofile, {min(args.queries, 200)} queries, square (ours)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
