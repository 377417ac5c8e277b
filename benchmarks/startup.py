"""Benchmark: what every kedro command pays before its first node - Python start, Kedro, the project's
settings and hooks, configuration, pipeline registration - as `kedro registry list`, for two checkouts of
the project side by side (e.g. before and after a change), as a newcomer runs it (no telemetry variables
set: each checkout's own telemetry setting applies).

    python benchmarks/startup.py --trees ../wt-old . [--repeats 5]

Runs alternate between the trees every repeat; reported: median and best wall seconds per tree and
the ratio to the first tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs="+", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    times: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    load_before = os.getloadavg()[0]
    for r in range(args.repeats):
        for tree in args.trees if r % 2 == 0 else args.trees[::-1]:
            # each tree's own src first, whatever the editable install points at
            run_env = {**env, "PYTHONPATH": str((tree / "src").resolve())}
            t = time.perf_counter()
            subprocess.run(["kedro", "registry", "list"], cwd=tree, env=run_env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            times[tree].append(time.perf_counter() - t)
    first = statistics.median(times[args.trees[0]])
    print(f"{'tree':<30} {'median s':>9} {'min s':>7} {'ratio':>7}")
    for tree, ts in times.items():
        print(f"{str(tree):<30} {statistics.median(ts):>9.2f} {min(ts):>7.2f} {statistics.median(ts) / first:>6.2f}x")
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
