"""Cost of one paired comparison (evaluation/paired.py) beside its peer, the one-model intervals the report already
draws (evaluation/intervals.py: robustness_intervals), at the MIT-BIH headline's size: 1,161 beats (250 per class,
F 161), seed 001's 7-point eps grid, 1,000 stratified resamples; synthetic monotone per-beat outcomes.

    python benchmarks/paired_comparison.py [--resamples 1000] [--repeats 3]

Prints each one's best time over the repeats and the ratio paired / peer; the benchmark table
(reporting/table.py) draws one paired comparison per (defense, seed) against CE.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ecg_pipeline.evaluation.intervals import Bootstrap, robustness_intervals
from ecg_pipeline.evaluation.paired import mcnemar_per_eps, paired_difference

GRID = [0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3]
PER_CLASS = [250, 250, 250, 161, 250]


def outcomes(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Per-beat worst-case outcomes, monotone in eps (a beat broken at eps stays broken)."""
    draws = rng.random(y.size)
    return np.stack([draws < rate for rate in np.linspace(0.95, 0.1, len(GRID))])


def best_of(repeats: int, func) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(PER_CLASS)), PER_CLASS)
    a, b = outcomes(rng, y), outcomes(rng, y)
    bootstrap = Bootstrap(args.resamples, seed=20261207)
    peer = best_of(args.repeats, lambda: robustness_intervals(y, a, GRID, bootstrap, 0.1))
    paired = best_of(args.repeats, lambda: paired_difference(y, a, b, GRID, bootstrap, 0.1))
    mcnemar = best_of(args.repeats, lambda: mcnemar_per_eps(a, b, GRID))
    print(f"{y.size} beats, {len(GRID)} eps, {args.resamples} resamples, best of {args.repeats}")
    print(f"one model's intervals (peer) {peer:.3f} s | paired difference {paired:.3f} s "
          f"(x{paired / peer:.2f} the peer) | McNemar per eps {mcnemar * 1e3:.1f} ms")
    return {"peer_s": peer, "paired_s": paired, "mcnemar_s": mcnemar, "ratio": paired / peer}


if __name__ == "__main__":
    main()
