"""A sweep on a 2-worker Dask ``LocalCluster`` beside the sequential runner: wall time, ratio, same results.

Runs the ``nsr_mlp_sweep`` of the ``ci`` env (real MIT-BIH, 4 records, at most 400 beats per class) in two throwaway
copies of the project, made larger than ci so that there is work to share: ``--members`` beta values and
``--epochs`` epochs per member (the runtime parameters a user would pass). The MIT-BIH stages are built once
(untimed) and copied into both. Timed, in this one process and on this machine:

- ``sequential``: ``session.run`` with Kedro's SequentialRunner;
- ``dask warm``: the same on a 2-worker LocalCluster started (and bootstrapped) before the clock: a lab's
  running cluster; ``--repeats`` pairs, sequential and warm interleaved, each in a fresh project copy;
- ``dask cold``: once, ``DaskRunner(n_workers=2)`` starting its own LocalCluster (spawned workers importing
  torch and the project) and closing it: what ``kedro run --runner=ecg_pipeline.runners.DaskRunner`` costs.

Prints each wall time, the ratios sequential / dask (medians), the load average and the machine's parallel
headroom before and after (two CPU-bound loops side by side over one after the other: the ceiling of any
2-worker speed-up under the other users' load of the moment), and checks that the selection tables and every
member's weights are identical between the runs (exit 1 otherwise).

    python benchmarks/dask_sweep.py [--members 4] [--epochs 150] [--repeats 2] [--workers 2] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
          "07_model_output", "08_reporting")
SWEEP = "nsr_mlp_sweep"
BETAS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8)


def new_project(path: Path) -> Path:
    """A project copy (conf, pyproject, empty data layers) that runs the installed package."""
    shutil.copytree(ROOT / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
    (path / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", path / "pyproject.toml")
    (path / "src").mkdir()
    for layer in LAYERS:
        (path / "data" / layer).mkdir(parents=True)
    return path


def run(project: Path, params: dict, pipeline: str, runner=None, **kwargs) -> float:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    start = time.perf_counter()
    with KedroSession.create(project_path=project, env="ci", runtime_params=params) as session:
        session.run(pipeline_names=[pipeline], runner=runner, **kwargs)
    return time.perf_counter() - start


def stored(project: Path, params: dict):
    """The selection table and each member's state dict, as the catalog loads them."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="ci", runtime_params=params) as session:
        catalog = session.load_context().catalog
        table = catalog.load(f"{SWEEP}.selection")
        models = {m: catalog.load(f"{SWEEP}.{m}.model").state_dict() for m in table["member"]}
    return table, models


def same(left, right) -> bool:
    import torch

    (table_a, models_a), (table_b, models_b) = left, right
    return table_a.equals(table_b) and models_a.keys() == models_b.keys() and all(
        torch.equal(models_a[m][k], models_b[m][k]) for m in models_a for k in models_a[m])


def _spin(n: int = 20_000_000) -> float:
    start, total = time.perf_counter(), 0
    for i in range(n):
        total += i
    return time.perf_counter() - start


def parallel_headroom() -> float:
    """The most any 2-process run can gain here now: the work of two CPU-bound loops, one after the other in this
    process, over their wall time side by side in two processes (2.0 on two idle cores; other users' load
    lowers it)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [1000, 1000]))   # the processes started before the clock
        alone = _spin() + _spin()
        start = time.perf_counter()
        list(pool.map(_spin, [20_000_000] * 2))
        return alone / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4, help=f"sweep values (at most {len(BETAS)})")
    parser.add_argument("--epochs", type=int, default=150, help="epochs per member")
    parser.add_argument("--repeats", type=int, default=2, help="sequential / warm Dask pairs, interleaved")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    os.environ.pop("KEDRO_ENV", None)  # the session's env=ci chooses the sweep's base
    from distributed import Client, LocalCluster

    from ecg_pipeline.runners import DaskRunner
    from ecg_pipeline.runners.worker import ClientState, ProjectBootstrap

    params = {"data_root": str(args.data.resolve()), "runs": {"nsr_mlp": {"epochs": args.epochs}},
              "sweeps": {SWEEP: {"values": list(BETAS[:args.members])}}}
    load_before, headroom_before = os.getloadavg(), parallel_headroom()
    sweep = {"namespaces": [SWEEP]}
    times: dict[str, list[float]] = {"sequential": [], "dask warm": [], "dask cold": []}
    results = {}
    with tempfile.TemporaryDirectory(prefix="dask_sweep_") as tmp:
        tmp = Path(tmp)
        seed = new_project(tmp / "seed")
        run(seed, params, "data_mitdb", only_missing_outputs=True)

        def fresh(name: str) -> Path:
            project = new_project(tmp / name)
            shutil.copytree(seed / "data", project / "data", dirs_exist_ok=True)
            return project

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            # a running cluster has served runs before: the project is bootstrapped on its workers
            client.register_plugin(ProjectBootstrap(ClientState(package_name="ecg_pipeline", logging_config=None,
                                                                env="ci")), name=ProjectBootstrap.name)
            for repeat in range(args.repeats):  # interleaved: the machine's other load moves both alike
                for mode in ("sequential", "dask warm"):
                    project = fresh(f"{mode.replace(' ', '_')}_{repeat}")
                    runner = DaskRunner(client=client) if mode == "dask warm" else None
                    times[mode].append(run(project, params, "sweep", runner=runner, **sweep))
                    results[mode] = stored(project, params)
        project = fresh("dask_cold")
        times["dask cold"].append(run(project, params, "sweep", runner=DaskRunner(n_workers=args.workers), **sweep))
        results["dask cold"] = stored(project, params)
    load_after, headroom_after = os.getloadavg(), parallel_headroom()

    print(f"\nsweep {SWEEP}: {args.members} members x {args.epochs} epochs (ci data), {args.workers} Dask workers, "
          f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) before {tuple(round(v, 2) for v in load_before)}, "
          f"after {tuple(round(v, 2) for v in load_after)}; parallel headroom (2 CPU-bound processes side by side "
          f"/ one after the other) before {headroom_before:.2f}x, after {headroom_after:.2f}x")
    base = statistics.median(times["sequential"])
    for mode, seconds in times.items():
        each = ", ".join(f"{t:.1f}" for t in seconds)
        ratio = "" if mode == "sequential" else f"  sequential / {mode} = {base / statistics.median(seconds):.2f}x"
        pairs = "" if mode != "dask warm" else " (per repeat: " + ", ".join(
            f"{a / b:.2f}x" for a, b in zip(times["sequential"], seconds)) + ")"
        print(f"  {mode:<11} median {statistics.median(seconds):7.1f} s [{each}]{ratio}{pairs}")
    identical = all(same(results["sequential"], results[mode]) for mode in ("dask cold", "dask warm"))
    print(f"  same selection table and member weights as sequential: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
