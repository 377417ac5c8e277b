"""Below the grid: how small an L-inf budget already breaks a stored model, with an independent cross-check.

The attack template's MIT-BIH grid starts at eps 0.01; a model at 0 there may already be broken far below it. For each
run this script takes the beats of one of its stored evaluations (the same class-balanced subset), attacks them at
each eps of a finer grid with APGD-CE and APGD-T (this project's, 100 steps; a beat counts as broken if either breaks
it) and, as a cross-check of the attack code, with torchattacks' PGD (100 steps of 2.5 eps / 100, random start), and
prints the balanced accuracy per eps. Ours must never be weaker than torchattacks' by more than noise.

    python benchmarks/min_eps.py atk_gan ce_atk_gan_cnn --split atk_gan.mitdb_test \
        --subset-from autoattack --grid 0.0005,0.001,0.002,0.005,0.01
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from ecg_pipeline.attacks.apgd import apgd_ce, apgd_t
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.evaluation.metrics import classification_metrics


def _predict(model, x: torch.Tensor, batch: int) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)]).numpy()


def _torchattacks_pgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, seed: int) -> torch.Tensor:
    import torchattacks

    torch.manual_seed(seed)
    attack = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=True)
    return attack(x, y)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="model runs: loads <run>.model")
    parser.add_argument("--split", required=True, help="the catalog split the evaluation used, e.g. atk_gan.mitdb_test")
    parser.add_argument("--subset-from", required=True,
                        help="an attack whose stored examples give the beats: <run>.<attack>.examples (its 'subset')")
    parser.add_argument("--grid", default="0.0005,0.001,0.002,0.005,0.01")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--bounds", default="0,1", help="the beats' value range ('none' for raw amplitude)")
    parser.add_argument("--env", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    grid = [float(e) for e in args.grid.split(",")]
    bounds = None if args.bounds == "none" else tuple(float(b) for b in args.bounds.split(","))
    bootstrap_project(".")
    rows = []
    with KedroSession.create(env=args.env) as session:
        catalog = session.load_context().catalog
        data = Batches(catalog.load(args.split))
        for run in args.runs:
            model = catalog.load(f"{run}.model").eval()
            subset = np.asarray(catalog.load(f"{run}.{args.subset_from}.examples")["subset"])
            x, y = data.x[subset], data.y[subset]
            n_classes, classes = data.n_classes, data.classes
            clean = _predict(model, x, args.batch)
            for eps in grid:
                start = time.perf_counter()
                ours = np.ones(len(y), dtype=bool)
                for attack in (apgd_ce, apgd_t):
                    x_adv = attack(model, x, y, eps, bounds=bounds, steps=args.steps)
                    ours &= _predict(model, x_adv, args.batch) == y.numpy()
                ours &= clean == y.numpy()
                seconds = time.perf_counter() - start
                theirs = _predict(model, _torchattacks_pgd(model, x, y, eps, args.steps, 0), args.batch) == y.numpy()
                theirs &= clean == y.numpy()
                row = {"run": run, "eps": eps, "n": len(y)}
                for name, correct in (("apgd", ours), ("torchattacks_pgd", theirs)):
                    # only right or wrong matters to balanced accuracy: a wrong beat gets any other class
                    pred = np.where(correct, y.numpy(), (y.numpy() + 1) % n_classes)
                    row[name] = classification_metrics(y.numpy(), pred, n_classes, classes)["balanced_accuracy"]
                row["clean"] = classification_metrics(y.numpy(), clean, n_classes, classes)["balanced_accuracy"]
                row["seconds"] = seconds
                rows.append(row)
                print(f"{run} eps {eps:g}: n {len(y)}, clean {row['clean']:.3f}, APGD-CE+T {row['apgd']:.3f}, "
                      f"torchattacks PGD {row['torchattacks_pgd']:.3f} (balanced accuracy; {seconds:.0f} s)", flush=True)
    return rows


if __name__ == "__main__":
    main()
