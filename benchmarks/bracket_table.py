"""Benchmark: the bracket of stored models at small eps (issue 24 item 5), one core.

    nice python benchmarks/bracket_table.py --models zoo/ce_mlp zoo/nsr_mlp ... [--split .../mitdb_test.npz]
        [--eps 0.001,0.003,0.01,0.03] [--per-class 0] [--method alpha_crown] [--out bracket.json]

Each model folder is laid out like a zoo entry (``model.pt``, ``evaluations/*.npz``: the stored attack evaluations
of the pipeline, all on the same seeded subset of the test split: 1,161 beats). The MIT-BIH grid of the attacks
(0, 0.01, 0.03, ...) has no point below 0.01, so at every ``--eps``:

- the LOWER end: ``verification.certify`` (``--method``, 20 alpha steps) on the subset (``--per-class`` > 0: a
  seeded class-balanced sample of it, for the CNN's costly full CROWN; ``--nested``: above the first eps only the
  beats certified at the eps before), timed per bounded beat;
- the UPPER end: the stored evaluations' per-beat breaks at every grid eps <= eps (the balls are nested); at an eps
  off their grid, plus AutoAttack "standard" (APGD-CE, APGD-T, FAB-T, Square; 100 steps, 5,000 queries, seed 0)
  run at eps on the beats still unbroken and not certified (a certified beat cannot be broken: the attack's time
  goes where it can matter); on the grid the stored evaluations (the pipeline's escalated suite) are the worst case;
- class-balanced accuracy of both and the width, the counts certified / broken / open, seconds.

A beat certified and broken at once would be an unsound bound: the script stops on it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core for numpy's BLAS too
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import torch

from ecg_pipeline.attacks.autoattack import STANDARD, autoattack
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.evaluation.metrics import classification_metrics
from common import stored_model_and_split  # benchmarks/common.py
from ecg_pipeline.verification import CERTIFIED, certify



def load(model_dir: Path, split: Path | None):
    model, test, split = stored_model_and_split(model_dir, split)
    stored = []
    for path in sorted((model_dir / "evaluations").glob("*.npz")):
        found = np.load(path)
        if "grid" in found and "pred" in found and found["grid"].max() < 1:   # an eps grid (not noise SNR)
            stored.append((path.stem, found))
    if not stored:
        raise SystemExit(f"{model_dir}: no stored attack evaluation over an eps grid")
    subset, subset_y = stored[0][1]["subset"], stored[0][1]["subset_y"]
    if not np.array_equal(test["y"][subset], subset_y):
        raise SystemExit(f"{split}: its labels at the evaluated subset differ from {model_dir}'s: another split")
    return model, test["x"][subset].astype(np.float32), subset_y.astype(np.int64), subset, stored


def stored_breaks(stored, subset: np.ndarray, eps: float) -> np.ndarray:
    """Per beat of ``subset``: broken by some stored evaluation at some grid eps <= ``eps`` (or wrong clean)."""
    broken = np.zeros(subset.size, dtype=bool)
    for _, found in stored:
        position = {int(b): i for i, b in enumerate(found["subset"])}
        here = np.array([position.get(int(b), -1) for b in subset])
        rows = np.flatnonzero(found["grid"] <= eps + 1e-12)
        wrong = (found["pred"][rows] != found["subset_y"][None, :]).any(0)
        broken |= (here >= 0) & wrong[np.maximum(here, 0)]
    return broken


def balanced(y: np.ndarray, correct: np.ndarray) -> float:
    return float(classification_metrics(y, np.where(correct, y, (y + 1) % 5), 5)["balanced_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--split", type=Path, default=None)
    parser.add_argument("--eps", default="0.001,0.003,0.01,0.03")
    parser.add_argument("--per-class", type=int, default=0, help="bound a seeded sample of this many beats a class")
    parser.add_argument("--method", default="alpha_crown")
    parser.add_argument("--nested", action="store_true", help="above the first eps, bound only the beats certified "
                        "at the eps before (as certify's nested: the CNN)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows = []
    print(f"{'model':<16} {'eps':>6} {'n':>5} {'certified':>9} {'worst case':>10} {'width':>7} {'cert/brk/open':>14} "
          f"{'cert s/beat':>11} {'attack s':>8}")
    for model_dir in args.models:
        model, x_all, y_all, subset, stored = load(model_dir, args.split)
        pick = (balanced_subset(y_all, args.per_class, 0) if args.per_class > 0 else np.arange(y_all.size))
        x, y, beats = torch.from_numpy(x_all[pick][:, None, :]), torch.from_numpy(y_all[pick]), subset[pick]
        tried = np.arange(y.numel())
        for eps in (float(e) for e in args.eps.split(",")):
            certified = np.zeros(y.numel(), dtype=bool)
            cert_seconds, bounded = 0.0, int(tried.size)
            if tried.size:
                cert = certify(model, x[tried], y[tried], eps, method=args.method,
                               batch_size=64 if args.per_class == 0 else 10)
                certified[tried], cert_seconds = cert.outcome == CERTIFIED, cert.seconds
            if args.nested:
                tried = np.flatnonzero(certified)
            broken = stored_breaks(stored, beats, eps)
            if (certified & broken).any():
                raise SystemExit(f"{model_dir.name} eps {eps}: beats {np.flatnonzero(certified & broken)[:5]} "
                                 "certified and broken: an unsound bound")
            on_grid = any(np.isclose(found["grid"], eps).any() for _, found in stored)
            # on the attacks' grid the stored (escalated) evaluations are the worst case; below it, a new AutoAttack
            attacked = np.flatnonzero(~certified & ~broken) if not on_grid else np.zeros(0, dtype=np.int64)
            start = time.perf_counter()
            if attacked.size:
                x_adv, _ = autoattack(model, x[attacked], y[attacked], eps, bounds=(0.0, 1.0), seed=0,
                                      attacks=STANDARD)
                with torch.no_grad():
                    fooled = (model(x_adv).argmax(1) != y[attacked]).numpy()
                distance = (x_adv.double() - x[attacked].double()).flatten(1).abs().amax(1).numpy()
                valid = fooled & (distance <= eps + 1e-7)
                if (certified[attacked[valid]]).any():
                    raise SystemExit(f"{model_dir.name} eps {eps}: a certified beat broken by AutoAttack")
                broken[attacked[valid]] = True
            attack_s = time.perf_counter() - start
            lower, upper = balanced(y.numpy(), certified), balanced(y.numpy(), ~broken)
            row = {"model": model_dir.name, "eps": eps, "n": int(y.numel()), "certified_balanced": lower,
                   "worst_case_balanced": upper, "width": upper - lower, "certified": int(certified.sum()),
                   "broken": int(broken.sum()), "open": int((~certified & ~broken).sum()),
                   "bounded": bounded,
                   "certify_seconds_per_beat": cert_seconds / max(bounded, 1), "attacked": int(attacked.size),
                   "attack_seconds": attack_s, "method": args.method}
            rows.append(row)
            print(f"{row['model']:<16} {eps:>6g} {row['n']:>5} {lower:>9.4f} {upper:>10.4f} {row['width']:>7.4f} "
                  f"{row['certified']:>4}/{row['broken']:>4}/{row['open']:>4} {row['certify_seconds_per_beat']:>11.4f} "
                  f"{attack_s:>8.1f}", flush=True)
            if args.out is not None:
                args.out.write_text(json.dumps(rows, indent=1))
    print(f"\nload average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
