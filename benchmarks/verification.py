"""Benchmark: certified lower bounds (``ecg_pipeline.verification``) on real MIT-BIH beats, one core.

    nice python benchmarks/verification.py [--data ../shared/data] [--eps 0.01] [--per-class 250] [--epochs 5]
        [--model mlp.pt] [--save-model mlp.pt] [--alpha-steps 20] [--milp-beats 10] [--milp-time 30]
        [--cnn-beats 3] [--cnn-epochs 1] [--cnn-eps 0.001,0.01] [--attack-steps 100] [--threads 1]

An MLP (``models.mlp.MLP``) is trained ``--epochs`` epochs (CE, Adam 1e-3, batch 128) on the seed-0 random split
of MIT-BIH (at most 3,000 beats a class, upsampled), or loaded from a project checkpoint (``--model``). The beats
are the class-balanced test subset of the attack template (``--per-class`` 250: 1,161 beats). At ``--eps``:

- IBP and batched CROWN, and the plain per-beat float64 CROWN (``verification.reference``) as the peer: ratio of
  time per beat, and the largest difference of their margins (the batched one may only be tighter: it also
  intersects with IBP);
- alpha-CROWN (``--alpha-steps``);
- APGD-CE (the project's, ``--attack-steps`` steps): the attack upper bound, and a check that no beat it breaks
  is certified by any method;
- MILP (HiGHS) on ``--milp-beats`` beats that alpha-CROWN leaves open: outcomes and time per decided beat;
- the Kachuee CNN (trained ``--cnn-epochs`` epochs): IBP and CROWN time per beat on ``--cnn-beats`` beats at each
  of ``--cnn-eps``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core for numpy's BLAS too
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import torch
from torch import nn

from ecg_pipeline.attacks.apgd import apgd_ce
from ecg_pipeline.data.balance import balanced_subset, cap_per_class, upsample
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.evaluation.metrics import classification_metrics
from ecg_pipeline.models import build_model
from ecg_pipeline.verification import certify, translate
from ecg_pipeline.verification.bounds import input_box, margin_spec
from ecg_pipeline.verification.reference import crown_margins_one

from common import fit_cross_entropy  # benchmarks/common.py

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def train(name: str, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> nn.Module:
    torch.manual_seed(0)
    return fit_cross_entropy(build_model(name), x, y, epochs, lr)


def balanced_accuracy(y: np.ndarray, correct: np.ndarray) -> float:
    return classification_metrics(y, np.where(correct, y, (y + 1) % 5), 5)["balanced_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--per-class", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", type=Path, default=None, help="a project checkpoint (.pt) of an MLP")
    parser.add_argument("--save-model", type=Path, default=None)
    parser.add_argument("--alpha-steps", type=int, default=20)
    parser.add_argument("--reference-beats", type=int, default=300, help="beats the per-beat reference is timed on")
    parser.add_argument("--milp-beats", type=int, default=10)
    parser.add_argument("--milp-time", type=float, default=30.0)
    parser.add_argument("--cnn-beats", type=int, default=3)
    parser.add_argument("--cnn-epochs", type=int, default=1)
    parser.add_argument("--cnn-eps", default="0.001,0.01", help="the eps values the CNN is bounded at")
    parser.add_argument("--attack-steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    t = time.perf_counter()
    parts = split_beats(segment_beats(read_mitdb(args.data / "mitdb"), scheme="kachuee"), seed=0)
    training = upsample(cap_per_class(parts["train"], 3000, seed=0), seed=0)
    x_train = torch.from_numpy(training["x"][:, None, :].astype(np.float32))
    y_train = torch.from_numpy(training["y"].astype(np.int64))
    subset = balanced_subset(parts["test"]["y"], args.per_class, seed=0)
    x = torch.from_numpy(parts["test"]["x"][subset][:, None, :].astype(np.float32))
    y = torch.from_numpy(parts["test"]["y"][subset].astype(np.int64))
    print(f"data {time.perf_counter() - t:.1f} s: {len(y_train)} training beats, {len(y)} test beats "
          f"{np.bincount(y.numpy(), minlength=5).tolist()}; eps {args.eps}, bounds [0, 1], {args.threads} thread(s)")

    t = time.perf_counter()
    if args.model is not None:
        checkpoint = torch.load(args.model, weights_only=True)
        model = build_model(checkpoint["name"], **checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
        model.eval()
    else:
        model = train("mlp", x_train, y_train, args.epochs, 1e-3)
        if args.save_model is not None:
            torch.save({"name": "mlp", "config": model.model_config, "state_dict": model.state_dict(), "meta": {}},
                       args.save_model)
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).numpy()
    print(f"MLP: {'loaded' if args.model else f'trained {args.epochs} epochs'} in {time.perf_counter() - t:.1f} s, "
          f"clean accuracy {clean.mean():.4f}, balanced {balanced_accuracy(y.numpy(), clean):.4f}\n")

    t = time.perf_counter()
    x_adv = apgd_ce(model, x, y, args.eps, bounds=(0.0, 1.0), steps=args.attack_steps, seed=0)
    with torch.no_grad():
        unbroken = (model(x_adv).argmax(1) == y).numpy() & clean
    attack_s = time.perf_counter() - t

    rows = {}
    for method, options in (("ibp", {}), ("crown", {}), ("alpha_crown", {"alpha_steps": args.alpha_steps})):
        rows[method] = certify(model, x, y, args.eps, method=method, **options)

    network = translate(model)
    n_ref = min(args.reference_beats, len(y))
    lower, upper = input_box(x[:n_ref], args.eps, (0.0, 1.0), network.input_shape)
    spec = margin_spec(y[:n_ref], 5).numpy()
    t = time.perf_counter()
    reference = np.stack([crown_margins_one(network, lower[i].numpy(), upper[i].numpy(), spec[i]) for i in range(n_ref)])
    reference_per_beat = (time.perf_counter() - t) / n_ref
    difference = rows["crown"].lower_margin[:n_ref] - reference

    print(f"{'method':<28} {'total s':>8} {'ms/beat':>8} {'ratio':>7} {'certified':>9} {'bal. acc':>8}")
    print(f"{'CROWN per-beat reference':<28} {reference_per_beat * len(y):>8.2f} {reference_per_beat * 1e3:>8.3f} "
          f"{1.0:>6.2f}x {'':>9} {'':>8}   (timed on {n_ref} beats, total extrapolated)")
    for method, cert in rows.items():
        per_beat = cert.seconds / len(y)
        print(f"{method:<28} {cert.seconds:>8.2f} {per_beat * 1e3:>8.3f} {reference_per_beat / per_beat:>6.2f}x "
              f"{cert.certified.mean():>9.4f} {balanced_accuracy(y.numpy(), cert.certified):>8.4f}")
    print(f"{'APGD-CE ' + str(args.attack_steps) + ' steps (upper)':<28} {attack_s:>8.2f} {attack_s / len(y) * 1e3:>8.3f} "
          f"{'':>7} {unbroken.mean():>9.4f} {balanced_accuracy(y.numpy(), unbroken):>8.4f}")
    print(f"\nbatched CROWN - reference margins: min {difference.min():.2e}, max {difference.max():.2e} "
          f"(expected: minus the rounding widening, 1e-9 x magnitude, or above where IBP is tighter)")
    for method, cert in rows.items():
        bad = int((cert.certified & ~unbroken).sum())
        print(f"{method}: certified but broken by APGD-CE: {bad}")
    improved = rows["alpha_crown"].lower_margin.min(1) - rows["crown"].lower_margin.min(1)
    print(f"alpha-CROWN over CROWN (smallest margin per beat): mean +{improved.mean():.4f}, max +{improved.max():.4f}, "
          f"never below: {bool((improved >= -1e-12).all())}")

    open_beats = np.flatnonzero((rows["alpha_crown"].outcome == 0))
    rng = np.random.default_rng(0)
    # half of the sample among the open beats APGD-CE leaves unbroken (where a proof is needed), half among the rest
    groups = [open_beats[unbroken[open_beats]], open_beats[~unbroken[open_beats]]]
    sample = np.sort(np.concatenate([rng.choice(g, min(n, g.size), replace=False) for g, n in
                                     zip(groups, (args.milp_beats - args.milp_beats // 2, args.milp_beats // 2))]))
    if sample.size:
        cert = certify(model, x[sample], y[sample], args.eps, method="milp", alpha_steps=args.alpha_steps,
                       milp_time_limit=args.milp_time)
        decided = cert.outcome != 0
        names = {1: "robust", 0: "unknown", -1: "broken"}
        print(f"\nMILP on {sample.size} of the {open_beats.size} beats alpha-CROWN leaves open ({groups[0].size} of them "
              f"unbroken by APGD-CE; the sample: {min(groups[0].size, args.milp_beats - args.milp_beats // 2)} of "
              f"those), limit {args.milp_time:g} s a beat: " + ", ".join(f"{names[v]} {int((cert.outcome == v).sum())}" for v in (1, -1, 0)))
        print(f"  time per beat {cert.beat_seconds.mean():.2f} s; per decided beat "
              f"{cert.beat_seconds[decided].mean() if decided.any() else float('nan'):.2f} s; "
              f"agrees with APGD-CE: robust never broken by it: {bool(not (cert.certified & ~unbroken[sample]).any())}, "
              f"MILP breaks {int((cert.outcome == -1).sum())}, APGD-CE breaks {int((~unbroken[sample]).sum())}")
        for position, point in cert.counterexamples.items():
            distance = np.abs(point - x[sample[position]].double().numpy().reshape(-1)).max()
            print(f"  beat {sample[position]}: counter-example class {cert.counterexample_class[position]} "
                  f"(label {int(y[sample[position]])}), L-inf distance {distance:.6f}")

    if args.cnn_beats:
        t = time.perf_counter()
        cnn = train("kachuee_cnn", x_train, y_train, args.cnn_epochs, 3e-3)
        print(f"\nKachuee CNN trained {args.cnn_epochs} epoch(s) in {time.perf_counter() - t:.1f} s")
        beats = balanced_subset(y.numpy(), max(1, args.cnn_beats // 5 + 1), seed=0)[: args.cnn_beats]
        for eps in (float(e) for e in args.cnn_eps.split(",")):
            for method in ("ibp", "crown"):
                cert = certify(cnn, x[beats], y[beats], eps, method=method, batch_size=1)
                print(f"CNN eps {eps:g} {method}: {cert.seconds / beats.size:.2f} s a beat on {beats.size} beats, certified "
                      f"{int(cert.certified.sum())}, smallest lower margins {np.round(cert.lower_margin.min(1), 3).tolist()}")
    print(f"\nload average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
