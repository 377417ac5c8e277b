"""Benchmark: time per training step (forward, backward, Adamax step) of the robust objectives vs. CE
on the Kachuee CNN, batch 128, in one process, interleaved so machine noise hits every method alike.

    python benchmarks/training_step.py [--model kachuee_cnn] [--batch 128] [--steps 20] [--repeats 3] [--threads 1]

Issue target: NSR at most 2.0x CE (the paper reports about 6.9x wall clock).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ecg_pipeline.defenses.objectives import NSR, Adversarial, CrossEntropy, Jacobian
from ecg_pipeline.defenses.trainer import descend
from ecg_pipeline.models import build_model


def time_steps(objective, model, opt, x, y, steps: int) -> float:
    """Seconds per step of the trainer's own step: objective, then ``descend`` (backward to the weights, Adamax)."""
    weights = list(model.parameters())
    for _ in range(2):  # warm-up
        loss, _, _ = objective(model, x, y, None, 1)
        descend(loss, opt, weights)
    t = time.perf_counter()
    for _ in range(steps):
        loss, _, _ = objective(model, x, y, None, 1)
        descend(loss, opt, weights)
        loss.item()
    return (time.perf_counter() - t) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="kachuee_cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, 187)
    y = torch.randint(0, 5, (args.batch,))
    objectives = {
        "CE": CrossEntropy(),
        "NSR (beta 0.3)": NSR(beta=0.3),
        "Jacobian (eq. 12)": Jacobian(lam=0.7),
        "10-PGD adversarial": Adversarial(eps=0.1, steps=10, step_size=0.01),
    }
    times = {name: [] for name in objectives}
    for r in range(args.repeats):
        order = list(objectives) if r % 2 == 0 else list(reversed(objectives))
        for name in order:
            model = build_model(args.model)
            opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
            times[name].append(time_steps(objectives[name], model, opt, x, y, args.steps))
    ce = statistics.median(times["CE"])
    print(f"{args.model}, batch {args.batch}, {args.steps} steps x {args.repeats} interleaved repeats, {args.threads} thread(s)")
    print(f"{'objective':<22} {'median ms/step':>15} {'min ms':>8} {'x CE':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<22} {1000 * median:>15.1f} {1000 * min(values):>8.1f} {median / ce:>6.2f}")


if __name__ == "__main__":
    main()
