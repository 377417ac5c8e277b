"""Measurement: do full-confidence examples transfer better? PGD and SAP crafted on one MLP, applied to another.

    python benchmarks/transfer_confidence.py [--data ../shared/data] [--epochs 10] [--per-class 200]
                                             [--target-seed 1] [--threads 1]

Two registry MLPs (``models.mlp``, the ``ce_mlp`` architecture) are trained the same way on real MIT-BIH beats
(Kachuee scheme, at most 3,000 per class, random split, training part upsampled; Adam 3e-3, batch 128,
``--epochs``, common.fit_cross_entropy), differing only in their initialisation: seed 0 (the source) and
``--target-seed`` (the target). On ``--per-class`` class-balanced test beats that both classify correctly clean, seed 004's transfer
attacks are crafted on the source at each eps: PGD (20 steps of eps / 10, no random start) and SAP (20 PGD steps,
then 40 on theta), once returning each beat's first misclassified iterate (``confidence: 0``, the white-box
default) and once at ``confidence: .inf`` (every step, the strongest iterate: what the transfer studies declare).

Printed per attack, eps and setting: the fraction of beats fooled on the source; the transfer rate (fooled on the
target among those fooled on the source); the target's accuracy under the transferred attack; the source's mean
misclassification margin on the fooled beats; and the wall time, with the ratio of .inf to 0 (the peer timed in
the same run: running every step costs more). Ends with the transfer-rate ratio (.inf / 0) per row.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from ecg_pipeline.attacks.base import margin
from ecg_pipeline.attacks.pgd import pgd
from ecg_pipeline.attacks.sap import sap
from ecg_pipeline.data.balance import balanced_subset, cap_per_class, upsample
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.models import build_model

from common import DEFAULT_DATA, fit_cross_entropy  # benchmarks/common.py

GRID = (0.01, 0.03, 0.05, 0.1)
ATTACKS = {
    "pgd": lambda model, x, y, eps, confidence: pgd(model, x, y, eps, bounds=(0.0, 1.0), steps=20, step_ratio=0.1,
                                                    random_start=False, confidence=confidence),
    "sap": lambda model, x, y, eps, confidence: sap(model, x, y, eps, bounds=(0.0, 1.0), pgd_steps=20, steps=40,
                                                    confidence=confidence),
}


def trained_mlp(x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int) -> torch.nn.Module:
    """A registry MLP initialised from ``seed``, trained by common.fit_cross_entropy (its batch order is fixed)."""
    torch.manual_seed(seed)
    return fit_cross_entropy(build_model("mlp"), x, y, epochs, lr=3e-3)


def predict(model, x):
    with torch.inference_mode():
        return model(x).argmax(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--target-seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    parts = split_beats(cap_per_class(segment_beats(read_mitdb(args.data / "mitdb"), scheme="kachuee"), 3000, seed=0),
                        seed=0)
    train = upsample(parts["train"], seed=0)
    x_train = torch.from_numpy(train["x"][:, None, :].astype(np.float32))
    y_train = torch.from_numpy(train["y"].astype(np.int64))
    source = trained_mlp(x_train, y_train, 0, args.epochs)
    target = trained_mlp(x_train, y_train, args.target_seed, args.epochs)
    test = parts["test"]
    index = balanced_subset(test["y"], args.per_class, 0)
    x = torch.from_numpy(test["x"][index][:, None, :].astype(np.float32))
    y = torch.from_numpy(test["y"][index].astype(np.int64))
    both = (predict(source, x) == y) & (predict(target, x) == y)
    x, y = x[both], y[both]
    print(f"set-up {time.perf_counter() - t:.0f} s: two MLPs ({args.epochs} epochs, seeds 0 and {args.target_seed}) on "
          f"{len(y_train)} beats; {len(y)} of {len(index)} test beats right on both clean "
          f"(per class {np.bincount(y.numpy(), minlength=5).tolist()}); threads {torch.get_num_threads()}")
    print(f"{'attack':<5} {'eps':>5} {'confidence':>10} {'source fooled':>13} {'transfer rate':>13} "
          f"{'target acc':>10} {'source margin':>13} {'seconds':>8}")
    ratios = []
    for name, attack in ATTACKS.items():
        for eps in GRID:
            row = {}
            for confidence in (0.0, math.inf):
                t = time.perf_counter()
                x_adv = attack(source, x, y, eps, confidence)
                seconds = time.perf_counter() - t
                fooled_source = predict(source, x_adv) != y
                fooled_target = predict(target, x_adv) != y
                with torch.inference_mode():
                    over = -margin(source(x_adv), y)
                rate = float(fooled_target[fooled_source].float().mean()) if fooled_source.any() else float("nan")
                row[confidence] = (rate, seconds)
                print(f"{name:<5} {eps:>5.2f} {confidence:>10} {float(fooled_source.float().mean()):>13.3f} "
                      f"{rate:>13.3f} {1 - float(fooled_target.float().mean()):>10.3f} "
                      f"{float(over[fooled_source].mean()) if fooled_source.any() else float('nan'):>13.2f} "
                      f"{seconds:>8.2f}")
            ratios.append((name, eps, row[math.inf][0] / row[0.0][0] if row[0.0][0] else float("nan"),
                           row[math.inf][1] / row[0.0][1]))
    print("\n.inf / 0: " + "; ".join(f"{n} eps {e:g}: transfer rate {r:.2f}x, time {s:.2f}x" for n, e, r, s in ratios))


if __name__ == "__main__":
    main()
