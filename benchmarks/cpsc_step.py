"""Benchmark: CPU time and peak memory of one training step on a batch of 64 real CPSC 2018 records (8 x 33,792,
full-width masked ResNet), for each declared CPSC run's objective against CE in the same invocation.

    python benchmarks/cpsc_step.py [--runs ce_cpsc nsr_cpsc jacob_cpsc adv_cpsc] [--steps 3] [--batch 64]
                                   [--threads 2] [--width 64]

Each run is measured in a fresh subprocess (its peak resident memory, ``ru_maxrss``, is then its own), the
objectives at an epoch after the warm-up (regulariser / adversarial loss on). Prints seconds per step,
peak RSS, and the ratio to CE, and the projected CPU time of one 70-epoch run (balanced epoch of the full
data, from the real REFERENCE.csv). Data: the shared 20-record sample, repeated by the balanced sampler.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpsc_common import DEFAULT_DATA, RUNS, build, sample_batches, study_size, time_steps  # noqa: E402


def measure(run: str, args: argparse.Namespace) -> dict:
    """In this process: one run's step times and peak RSS (GB)."""
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    x, y, mask = sample_batches(args.data, args.batch)
    config, model, objective, opt = build(run, args.width, device)
    epoch = max(int(config.objective.get("start_epoch", 1)), 1) + 10  # past the warm-up (and into the eps ramp)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    wall, cpu = time_steps(model, objective, opt, x, y, mask, epoch=epoch, steps=args.steps, device=device)
    return {"run": run, "seconds": wall, "cpu_seconds": cpu, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "rss_before_steps_gb": rss_before, "epoch": epoch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=int, default=None, help="ResNet width (default: the declared run's, 64)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one run and print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return
    results = []
    for run in dict.fromkeys(["ce_cpsc", *args.runs]):  # CE first: the peer every ratio is against
        command = [sys.executable, __file__, "--one", run, "--steps", str(args.steps), "--batch", str(args.batch),
                   "--threads", str(args.threads), "--data", str(args.data)]
        if args.width is not None:
            command += ["--width", str(args.width)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{run}: failed (exit {done.returncode}; peak memory too large?)\n{done.stderr[-2000:]}")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    size = study_size(args.data)
    ce = statistics.median(results[0]["seconds"]) if results and results[0]["run"] == "ce_cpsc" else None
    print(f"CPU, {args.threads} thread(s), batch {args.batch} of 8 x 33,792, width {args.width or 64}, "
          f"{args.steps} timed steps after 1 warm-up; full study: {size['batches_per_epoch']} batches per balanced "
          f"epoch x {size['epochs']} epochs ({size['warm_up_epochs']} warm-up)")
    print(f"{'run':<11} {'epoch':>5} {'median s/step':>14} {'min s':>7} {'CPU s/step':>11} {'x CE':>6} "
          f"{'peak RSS GB':>12} {'one run, days':>14}")
    for r in results:
        median = statistics.median(r["seconds"])
        days = min(r["seconds"]) * size["batches_per_epoch"] * size["epochs"] / 86400  # upper bound: warm-up costs less
        print(f"{r['run']:<11} {r['epoch']:>5} {median:>14.2f} {min(r['seconds']):>7.2f} "
              f"{statistics.median(r['cpu_seconds']):>11.2f} {median / ce if ce else float('nan'):>6.2f} "
              f"{r['peak_rss_gb']:>12.2f} {days:>14.1f}")


if __name__ == "__main__":
    main()
