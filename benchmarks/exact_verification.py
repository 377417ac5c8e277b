"""Benchmark: the exact step on the beats alpha-CROWN leaves open, old MILP (solved to optimality) vs the sign-only
engines of ``verification.exact`` (``milp``: MILP with a cut-off; ``bab``: branch and bound with beta-CROWN
bounds; ``hybrid``: 30 % of the time bab, then milp), one core.

    nice python benchmarks/exact_verification.py [--model zoo/nsr_mlp] [--split .../mitdb_test.npz] [--eps 0.01]
        [--beats 20] [--time-limit 10] [--engines old,milp,bab,hybrid] [--seed 0] [--include-attacked] [--out results.json]

The beats are the zoo model's evaluated subset (``subset`` of its stored attack evaluations, 1,161 beats of the test
split); *open* ones are those alpha-CROWN (20 steps, as ``certify``) leaves uncertified that every stored attack
evaluation leaves unbroken at ``--eps`` (with ``--include-attacked``: every uncertified, clean-correct beat, i.e. what
the MILP of ``certify`` would be run on). ``--beats`` of them (seeded sample; 0: all) are decided by each engine in
turn with the same per-beat time limit; printed per engine: decided beats, robust / broken / timed out, seconds per
decided beat and decided beats per second, then the ratio of each new engine to the old MILP, and every beat where
two engines disagree (there must be none). ``--out``: per-beat results as JSON (written as it goes), and the bracket
at ``--eps`` in class-balanced accuracy: certified (alpha-CROWN + exact robust) and attack worst case (stored
attacks + exact breaks).
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

from ecg_pipeline.evaluation.metrics import classification_metrics
from common import stored_model_and_split  # benchmarks/common.py
from ecg_pipeline.verification import certify
from ecg_pipeline.verification.bounds import crown_bounds, input_box, other_classes
from ecg_pipeline.verification.exact import decide_beat, decide_beat_bab, decide_beat_hybrid
from ecg_pipeline.verification.milp import affine_segments, verify_beat
from ecg_pipeline.verification.network import DTYPE, translate

ROOT = Path(__file__).resolve().parents[1]
NAMES = {1: "robust", -1: "broken", 0: "timed out"}


def load(model_dir: Path, split: Path | None, eps: float):
    model, test, split = stored_model_and_split(model_dir, split)
    unbroken, subset, subset_y = None, None, None
    for path in sorted((model_dir / "evaluations").glob("*.npz")):
        stored = np.load(path)
        hit = np.flatnonzero(np.isclose(stored["grid"], eps)) if "grid" in stored else []
        if len(hit) == 0:
            continue     # another grid (noise SNR)
        right = (stored["pred"][: hit[0] + 1] == stored["subset_y"]).all(0)   # nested balls: any smaller eps too
        unbroken = right if unbroken is None else unbroken & right
        subset, subset_y = stored["subset"], stored["subset_y"]
    if subset is None:
        raise SystemExit(f"{model_dir}: no stored attack evaluation with eps {eps} in its grid")
    if not np.array_equal(test["y"][subset], subset_y):
        raise SystemExit(f"{split}: its labels at the evaluated subset differ from the zoo's: another split")
    x = torch.from_numpy(test["x"][subset][:, None, :].astype(np.float32))
    y = torch.from_numpy(test["y"][subset].astype(np.int64))
    return model, x, y, unbroken, split


def balanced(y: np.ndarray, correct: np.ndarray) -> float:
    return float(classification_metrics(y, np.where(correct, y, (y + 1) % 5), 5)["balanced_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "zoo" / "nsr_mlp")
    parser.add_argument("--split", type=Path, default=None)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--beats", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--engines", default="old,milp")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--include-attacked", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    engines = args.engines.split(",")
    load_before = os.getloadavg()

    model, x, y, unbroken, split = load(args.model, args.split, args.eps)
    t = time.perf_counter()
    cert = certify(model, x, y, args.eps, method="alpha_crown", alpha_steps=20)
    alpha_seconds = time.perf_counter() - t
    uncertified = np.flatnonzero(cert.outcome == 0)
    candidates = uncertified if args.include_attacked else uncertified[unbroken[uncertified]]
    rng = np.random.default_rng(args.seed)
    chosen = candidates if args.beats == 0 or args.beats >= candidates.size else \
        np.sort(rng.choice(candidates, args.beats, replace=False))
    print(f"{args.model.name} at eps {args.eps}: {y.numel()} beats, alpha-CROWN certified {int(cert.certified.sum())} "
          f"({alpha_seconds:.1f} s), uncertified {uncertified.size}, of them unbroken by the stored attacks "
          f"{int(unbroken[uncertified].sum())}; deciding {chosen.size} ({'all' if args.beats == 0 else 'sample'}, "
          f"{args.time_limit:g} s a beat), split {split}")

    network = translate(model)
    reference = translate_reference(model)
    segments, relus = affine_segments(network)
    lower, upper = input_box(x[chosen], args.eps, (0.0, 1.0), network.input_shape)
    bounds = crown_bounds(network, lower, upper)
    others = other_classes(y[chosen], network.n_classes).numpy()
    results = {engine: [] for engine in engines}
    for engine in engines:
        for i, position in enumerate(chosen):
            per_layer = [(bounds.node[k][0][i].numpy(), bounds.node[k][1][i].numpy()) for k in relus]
            box = (lower[i].numpy().reshape(-1), upper[i].numpy().reshape(-1))
            label, margins = int(y[position]), cert.lower_margin[position]
            start = time.perf_counter()
            if engine == "old":
                outcome, proven, point = verify_beat(reference, network, segments, per_layer, *box, label, margins,
                                                     others[i], time_limit=args.time_limit, margin_tol=1e-4)
            else:
                decide = {"milp": decide_beat, "bab": decide_beat_bab, "hybrid": decide_beat_hybrid}[engine]
                answer = decide(reference, network, segments, per_layer, x[position].double().numpy().reshape(-1),
                                args.eps, *box, label, margins, others[i], time_limit=args.time_limit, margin_tol=1e-4)
                outcome, proven, point = answer.outcome, answer.proven, answer.counterexample
            seconds = time.perf_counter() - start
            row = {"position": int(position), "label": label, "outcome": NAMES[outcome], "seconds": round(seconds, 3),
                   "attack_broken": bool(not unbroken[position]), "min_proven_margin": float(np.min(proven)),
                   "counterexample_class": None if point is None else int(
                       reference(torch.from_numpy(point).reshape(1, 1, -1)).detach().argmax(1))}
            results[engine].append(row)
            if outcome == 1 and not unbroken[position]:
                print(f"UNSOUND: beat {position} proven robust by {engine} but broken by a stored attack")
            print(f"  {engine:4s} beat {position:5d} (label {label}): {row['outcome']:9s} {seconds:6.2f} s", flush=True)
            if args.out is not None:
                save(args, results, cert, y, unbroken, chosen)
    summary = {}
    for engine in engines:
        rows = results[engine]
        decided = [r for r in rows if r["outcome"] != "timed out"]
        total = sum(r["seconds"] for r in rows)
        summary[engine] = len(decided) / total if total else 0.0
        print(f"{engine:4s}: decided {len(decided)} of {len(rows)} (robust "
              f"{sum(r['outcome'] == 'robust' for r in rows)}, broken {sum(r['outcome'] == 'broken' for r in rows)}), "
              f"{total:.1f} s in all, {total / max(len(decided), 1):.2f} s per decided beat, "
              f"{summary[engine]:.3f} decided beats per second")
    if "old" in engines:
        for engine in engines:
            if engine != "old":
                print(f"ratio {engine} / old (decided beats per second): "
                      f"{summary[engine] / summary['old'] if summary['old'] else float('inf'):.2f}x")
    for i, position in enumerate(chosen):   # every engine saw every beat
        decided = {e: results[e][i]["outcome"] for e in engines if results[e][i]["outcome"] != "timed out"}
        if len(set(decided.values())) > 1:
            print(f"DISAGREEMENT on beat {position}: {decided}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


def translate_reference(model):
    """The float64 copy of the model that confirms a break."""
    import copy
    return copy.deepcopy(model).to(dtype=DTYPE).eval()


def save(args, results, cert, y, unbroken, chosen) -> None:
    """Per-beat results and the bracket at eps (class-balanced accuracy) from what is decided so far."""
    engine = [e for e in results if e != "old"][-1] if any(e != "old" for e in results) else "old"
    rows = results[engine]
    labels = y.numpy()
    certified = cert.outcome == 1
    attack_right = unbroken & (cert.outcome != -1)
    for row in rows:
        if row["outcome"] == "robust":
            certified[row["position"]] = True
        elif row["outcome"] == "broken":
            attack_right[row["position"]] = False
    record = {"model": args.model.name, "eps": args.eps, "time_limit": args.time_limit, "engine": engine,
              "beats": int(labels.size), "to_decide": int(chosen.size), "decided_so_far": len(rows),
              "bracket": {"certified_balanced": balanced(labels, certified),
                          "worst_case_balanced": balanced(labels, attack_right),
                          "alpha_crown_balanced": balanced(labels, cert.outcome == 1),
                          "attacks_balanced": balanced(labels, unbroken & (cert.outcome != -1))},
              "counts": {name: sum(r["outcome"] == name for r in rows) for name in NAMES.values()},
              "per_beat": rows}
    record["bracket"]["width"] = record["bracket"]["worst_case_balanced"] - record["bracket"]["certified_balanced"]
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
