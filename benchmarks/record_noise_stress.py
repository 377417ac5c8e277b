"""Benchmark and measurement: record-level noise stress (PhysioNet nst, issue 28 item 4) of the zoo's MLPs.

    python benchmarks/record_noise_stress.py [--data ../shared/data] [--models ce_mlp nsr_mlp] [--noise em]
                                             [--calibration nst] [--snrs 24 18 12 6 0 -6] [--full]

Rebuilds the base configuration's MIT-BIH test split (all 48 records, Kachuee beats, aami5, random split seed 0:
the split the zoo models were trained and evaluated on), stresses every record that holds a test beat at each
SNR and scores each model on (a) the 1,161-beat class-balanced subset its stored attack evaluations used (the
subset in ``zoo/<model>/evaluations/real_noise_em.npz``; the beat-level ``real_noise_em`` curve is printed beside
it) and, with ``--full``, (b) the whole test split. Timing: stressing and re-segmenting the records of the split
per SNR, against the peer, the plain segmentation of the same records (ratio printed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb, read_nstdb_noise
from ecg_pipeline.data.mitdb.noise_stress import STRESS_SNRS_DB, stress_split
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.datasets.torch_model import TorchModelDataset
from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy, interval
from ecg_pipeline.evaluation.noise_stress import in_noisy_segment, predict_beats

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--models", nargs="+", default=["ce_mlp", "nsr_mlp"])
    ap.add_argument("--noise", default="em", choices=["em", "ma", "bw"])
    ap.add_argument("--channel", default="noise1")
    ap.add_argument("--calibration", default="nst", choices=["nst", "segments"])
    ap.add_argument("--snrs", nargs="+", type=float, default=list(STRESS_SNRS_DB))
    ap.add_argument("--full", action="store_true", help="also score the whole test split")
    args = ap.parse_args()

    t = time.perf_counter()
    records = read_mitdb(args.data / "mitdb")
    test = split_beats(segment_beats(records, scheme="kachuee"), method="random", seed=0)["test"]
    noise_table = read_nstdb_noise(args.data / "nstdb", records=[args.noise])
    noise = np.asarray(noise_table.loc[noise_table["lead"] == args.channel, "signal"].iloc[0], dtype=np.float64)
    print(f"data: {len(records)} records, test split {test['y'].shape[0]} beats ({time.perf_counter() - t:.1f} s)")

    models = {name: TorchModelDataset(filepath=str(ROOT / "zoo" / name / "model.pt")).load() for name in args.models}
    subsets = {}
    for name in args.models:
        with np.load(ROOT / "zoo" / name / "evaluations" / "real_noise_em.npz") as stored:
            subsets[name] = stored["subset"]
    noisy_segment = in_noisy_segment(records, test)
    y = test["y"]

    t = time.perf_counter()
    segment_beats(records[records["record_id"].isin(np.unique(test["record_id"]))], scheme="kachuee")
    peer = time.perf_counter() - t
    conditions = [("clean", test["x"])]
    stress_seconds = []
    for snr in args.snrs:
        t = time.perf_counter()
        stressed = stress_split(records, test, noise, snr, calibration=args.calibration)
        stress_seconds.append(time.perf_counter() - t)
        conditions.append((f"{args.noise} {snr:g} dB", stressed["x"]))
    per_snr = float(np.mean(stress_seconds))
    print(f"stress + re-segment {len(np.unique(test['record_id']))} records: {per_snr:.2f} s per SNR; plain "
          f"segmentation of the same records {peer:.2f} s; ratio {per_snr / peer:.2f}")

    outcomes: dict[str, list[np.ndarray]] = {}
    for name, model in models.items():
        subset = subsets[name]
        outcomes[name] = []
        stored = json.loads((ROOT / "zoo" / name / "evaluations" / "real_noise_em.json").read_text())
        beat_level = {float(p["snr_db"]): p["balanced_accuracy"] for p in stored["curve"]}
        print(f"\n{name} (calibration {args.calibration}, noise {args.noise}/{args.channel})")
        print("| condition | subset beats | subset acc | subset bal. acc | beat-level real_noise_em bal. acc"
              + (" | full beats | full acc | full bal. acc | full bal. acc, R peak in a noisy segment |"
                 if args.full else " |"))
        for (label, x), snr in zip(conditions, [None, *args.snrs]):
            chosen = x if args.full else x[subset]
            pred = predict_beats(model, chosen)
            correct = pred == (y if args.full else y[subset])
            outcomes[name].append(correct)
            sub = correct[subset] if args.full else correct
            ys = y[subset]
            cells = [label, str(ys.size), f"{sub.mean():.3f}", f"{balanced_accuracy(ys, sub):.3f}",
                     "" if snr is None else f"{beat_level.get(snr, float('nan')):.3f}"]
            if args.full:
                cells += [str(y.size), f"{correct.mean():.3f}", f"{balanced_accuracy(y, correct):.3f}",
                          f"{balanced_accuracy(y[noisy_segment], correct[noisy_segment]):.3f}"]
            print("| " + " | ".join(cells) + " |")

    if args.full and len(models) == 2:
        first, second = args.models
        bootstrap = Bootstrap(resamples=1000, seed=0)
        print(f"\npaired: balanced accuracy {second} - {first} on the same beats (95% stratified bootstrap interval)")
        print("| condition | all test beats | R peak in a noisy segment |")
        for (label, _), a, b in zip(conditions, outcomes[first], outcomes[second]):
            cells = [label]
            for keep in (np.ones_like(noisy_segment), noisy_segment):
                yk, ak, bk = y[keep], a[keep], b[keep]
                diff = interval(lambda rows: balanced_accuracy(yk, bk[rows]) - balanced_accuracy(yk, ak[rows]),
                                yk, bootstrap)
                cells.append(f"{diff.estimate:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
