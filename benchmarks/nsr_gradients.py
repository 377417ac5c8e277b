"""Benchmark (diagnostic, not a test): input-gradient norms of the true logit, the strongest other logit
and the margin, and the zero-CE-gradient fraction, for CE- and NSR-trained models on real MIT-BIH beats.

    python benchmarks/nsr_gradients.py [MODEL.pt ...] [--data ../shared/data] [--per-class 1000]
        [--eval-per-class 200] [--epochs 50] [--beta 0.4] [--threads 1]

With ``.pt`` paths (written by ``ecg_pipeline.datasets.TorchModelDataset``), those models are measured.
Without, an MLP is trained quickly with CE, NSR (``target="logit"``, seed 001 eq. 7) and NSR with
``target="margin"`` (the project's variant) on a class-balanced subset of the random split's training
beats, through ``ecg_pipeline.defenses.fit``. The measurement runs on a class-balanced subset of the
test beats (seed 001's random split, seed 0), on the beats each model classifies correctly and on all.
Columns: medians of ||dz_y/dx||_1, ||dz_j*/dx||_1 (j* the strongest other class), ||dm/dx||_1 for the
margin m = z_y - z_j*, their other/true ratio, the median first-order L-inf distance m / ||dm/dx||_1 to
the boundary with j* (negative when misclassified), and the fraction with an all-zero CE input gradient.
The quick defaults (1000 beats per class, 50 epochs) take about 30 s on one CPU thread; 300 and 10
leave the NSR models far from trained (train accuracy 0.2-0.4).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats, take
from ecg_pipeline.defenses import TrainingConfig, fit
from ecg_pipeline.evaluation.gradients import logit_gradient_norms
from ecg_pipeline.models import logits_of

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_model(path: str):
    from ecg_pipeline.datasets import TorchModelDataset

    return TorchModelDataset(filepath=str(path)).load()


def quick_models(train: dict, *, epochs: int, beta: float, seed: int) -> dict:
    """CE, NSR (eq. 7) and NSR-margin MLPs, trained with the project's ``fit`` (Adamax, lr 1e-3, batch 128)."""
    objectives = {
        "CE": {"name": "ce"},
        f"{beta}NSR (logit, eq. 7)": {"name": "nsr", "beta": beta, "eps_max": 1.0, "reduction": "code"},
        f"{beta}NSR (margin)": {"name": "nsr", "beta": beta, "eps_max": 1.0, "reduction": "code", "target": "margin"},
    }
    models = {}
    for label, objective in objectives.items():
        config = TrainingConfig(model={"name": "mlp"}, objective=objective, epochs=epochs, seed=seed,
                                progress=False, device="cpu")
        t = time.perf_counter()
        model, meta, history = fit(config, train, None, checkpoints=None, run_name=label)
        print(f"trained {label}: {epochs} epochs in {time.perf_counter() - t:.1f} s, "
              f"final train acc {history[-1].get('train_accuracy', float('nan')):.3f}")
        models[label] = model
    return models


def report(label: str, model, x: torch.Tensor, y: torch.Tensor) -> None:
    with torch.no_grad():
        model.eval()
        correct = (logits_of(model, x).argmax(1) == y).numpy()
    out = logit_gradient_norms(model, x, y)
    print(f"\n{label}: accuracy {correct.mean():.3f} on {len(y)} class-balanced test beats")
    print(f"  {'subset':<8} {'n':>4} {'med |dz_y|':>10} {'med |dz_j*|':>11} {'med |dm|':>9} "
          f"{'other/true':>10} {'med m/|dm|':>10} {'CE grad == 0':>12}")
    for name, rows in (("all", np.ones_like(correct)), ("correct", correct)):
        rows = rows.astype(bool)
        if not rows.any():
            continue
        med = {k: float(np.median(out[k][rows])) for k in ("true_logit", "other_logit", "margin")}
        ratio = med["other_logit"] / med["true_logit"] if med["true_logit"] > 0 else float("inf")
        with np.errstate(divide="ignore", invalid="ignore"):  # first-order L-inf distance to the j* boundary
            distance = float(np.median(out["margin_value"][rows] / out["margin"][rows]))
        print(f"  {name:<8} {int(rows.sum()):>4} {med['true_logit']:>10.3f} {med['other_logit']:>11.3f} "
              f"{med['margin']:>9.3f} {ratio:>10.2f} {distance:>10.4f} {out['ce_grad_zero'][rows].mean():>12.3f}")
    assert out["summary"]["median_true_logit"] == float(np.median(out["true_logit"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=".pt checkpoints written by TorchModelDataset")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="shared data folder (holds mitdb/)")
    parser.add_argument("--per-class", type=int, default=1000, help="training beats per class (quick mode)")
    parser.add_argument("--eval-per-class", type=int, default=200, help="test beats per class measured")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--beta", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    beats = segment_beats(read_mitdb(Path(args.data) / "mitdb"), scheme="kachuee")
    splits = split_beats(beats, method="random", seed=0)
    test = take(splits["test"], balanced_subset(splits["test"]["y"], args.eval_per_class, seed=args.seed))
    print(f"MIT-BIH: {beats['y'].shape[0]} beats read and segmented in {time.perf_counter() - t:.1f} s; "
          f"test subset {np.bincount(test['y']).tolist()} per class {[str(c) for c in test['classes']]}")
    x, y = torch.from_numpy(test["x"][:, None, :].astype(np.float32)), torch.from_numpy(test["y"])

    if args.models:
        models = {path: load_model(path) for path in args.models}
    else:
        train = take(splits["train"], balanced_subset(splits["train"]["y"], args.per_class, seed=args.seed))
        print(f"quick mode: training on {np.bincount(train['y']).tolist()} beats per class")
        models = quick_models(train, epochs=args.epochs, beta=args.beta, seed=args.seed)
    for label, model in models.items():
        report(label, model, x, y)


if __name__ == "__main__":
    main()
