"""Benchmark: the cost of seed 004's decorrelation term in a member's training step, against the CE step of
the same model, interleaved in one process (the machine is shared: ratios in one run are what count).

    python benchmarks/decorrelation_step.py [--models mlp kachuee_cnn] [--batch 128] [--members 1 2]
        [--projection 16] [--steps 30] [--repeats 5] [--threads 1]

Each step is the trainer's own: objective, then ``descend`` (backward to the weights, the optimizer step).
The decorrelated step reads the earlier members' features from the batch's per-sample array (the cached
features of the train_ens pipeline), so it adds one least-squares fit per earlier member, not a forward pass
of the earlier members. Issue 11's target: a few percent of the CE step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ecg_pipeline.defenses.objectives import CrossEntropy, Decorrelated
from ecg_pipeline.defenses.trainer import descend
from ecg_pipeline.models import build_model


def seconds_per_step(objective, model, opt, x, y, extra, steps: int) -> float:
    weights = list(model.parameters())
    kwargs = {"extra": extra} if extra is not None else {}
    for _ in range(2):  # warm-up
        loss, _, _ = objective(model, x, y, None, 1, **kwargs)
        descend(loss, opt, weights)
    start = time.perf_counter()
    for _ in range(steps):
        loss, _, _ = objective(model, x, y, None, 1, **kwargs)
        descend(loss, opt, weights)
        loss.item()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "kachuee_cnn"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--members", nargs="+", type=int, default=[1, 2], help="earlier members decorrelated against")
    parser.add_argument("--projection", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.rand(args.batch, 1, 187), torch.randint(0, 5, (args.batch,))
    print(f"batch {args.batch}, {args.steps} steps x {args.repeats} interleaved repeats, {args.threads} thread(s), "
          f"projection r = {args.projection}")
    print(f"{'model':<12} {'step':<28} {'median ms':>10} {'min ms':>8} {'x CE':>7}")
    for name in args.models:
        width = build_model(name).head.in_features
        runs = {"CE": (CrossEntropy(), None)}
        for m in args.members:
            features = {"previous_features": torch.randn(args.batch, m, width)}
            runs[f"CE + decorrelation ({m} earlier)"] = (Decorrelated(lam=0.2, projection_dim=args.projection), features)
        times = {label: [] for label in runs}
        for r in range(args.repeats):
            for label in (runs if r % 2 == 0 else reversed(list(runs))):
                objective, extra = runs[label]
                torch.manual_seed(0)
                model = build_model(name)
                opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
                times[label].append(seconds_per_step(objective, model, opt, x, y, extra, args.steps))
        ce = statistics.median(times["CE"])
        for label, values in times.items():
            median = statistics.median(values)
            print(f"{name:<12} {label:<28} {1000 * median:>10.2f} {1000 * min(values):>8.2f} {median / ce:>7.3f}")


if __name__ == "__main__":
    main()
