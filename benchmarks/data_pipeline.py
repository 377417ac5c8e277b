"""Benchmark: the whole MIT-BIH database through ingestion, both beat schemes, the random split
and upsampling. Prints wall time per stage, the total, and peak memory (max RSS).

    python benchmarks/data_pipeline.py [--data ../shared/data] [--repeat 3]

Target (issue 2): under 10 s and under 2 GB on 2 cores. Stages run in-process on the domain code
(no Kedro I/O), which is what a pipeline run spends its compute on; the parquet/npz I/O of the
same artifacts is timed separately at the end.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from ecg_pipeline.data.balance import balance_training_set
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run_once(data: Path) -> dict[str, float]:
    times = {}
    t = time.perf_counter()
    records = read_mitdb(data / "mitdb")
    times["ingestion (48 records, MLII)"] = time.perf_counter() - t
    for scheme in ("kachuee", "centered"):
        t = time.perf_counter()
        beats = segment_beats(records, scheme=scheme, label_set="aami5" if scheme == "kachuee" else "aami4")
        times[f"segmentation {scheme} ({beats['y'].shape[0]} beats)"] = time.perf_counter() - t
        if scheme == "kachuee":
            kachuee = beats
    t = time.perf_counter()
    parts = split_beats(kachuee, method="random", seed=0)
    times["random split"] = time.perf_counter() - t
    t = time.perf_counter()
    balanced = balance_training_set(parts["train"], method="upsample", seed=0)
    times[f"upsample ({balanced['y'].shape[0]} beats)"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return times, records, balanced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        times, records, balanced = run_once(args.data)
        runs.append(times)
    print(f"{'stage':<45} {'best s':>8} {'median s':>9}")
    for stage in runs[0]:
        values = sorted(r[stage] for r in runs)
        print(f"{stage:<45} {values[0]:>8.2f} {values[len(values) // 2]:>9.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")

    from ecg_pipeline.datasets import NpzDataset
    from kedro_datasets.pandas import ParquetDataset

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ParquetDataset(filepath=f"{tmp}/records.parquet").save(records)
        ParquetDataset(filepath=f"{tmp}/records.parquet").load()
        io_parquet = time.perf_counter() - t
        t = time.perf_counter()
        NpzDataset(filepath=f"{tmp}/train.npz").save(balanced)
        NpzDataset(filepath=f"{tmp}/train.npz").load()
        io_npz = time.perf_counter() - t
    print(f"catalog I/O, save+load: record table parquet {io_parquet:.2f} s, balanced train npz {io_npz:.2f} s")


if __name__ == "__main__":
    main()
