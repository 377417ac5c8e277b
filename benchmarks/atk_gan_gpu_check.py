"""GPU check for ECG-ATK-GAN training: a few epochs of the declared run (``runs.atk_gan`` of
conf/base/parameters_training.yml: the paper's Adam, batch 128, eqs. 1-5) through the project's trainer
(``fit_with_companions``: checkpoints, history, NaN guard, epoch selection all on), on CUDA when present,
printing the step and epoch time and the projected time of the paper's 100 epochs of about 7 x 100,000 beats.

Under 10 minutes on one GPU at the defaults (3 epochs of 40,000 synthetic beats); runs unchanged on a CPU
(tiny sizes there: ``--beats 512 --epochs 2 --width 4 --batch 32 --threads 1``).

    python benchmarks/atk_gan_gpu_check.py [--beats 40000] [--epochs 3] [--batch 128] [--device auto]
                                           [--data atk_gan_train_set.npz --validation atk_gan_validation_set.npz]

Without ``--data`` the beats are synthetic (a class-dependent bump plus noise, and a copy moved by +-0.01
sign noise for the six "attacked" sevenths): step times do not depend on the values, only on the sizes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ecg_pipeline.defenses import TrainingConfig
from ecg_pipeline.defenses.fit import fit_with_companions
from ecg_pipeline.runtime import resolve_device

ROOT = Path(__file__).resolve().parents[1]
PAPER_EPOCH_BEATS = 7 * (69_958 + 3 * 10_000)   # seed 002 section 3.1: SMOTE'd training split, clean + 6 attacks
PAPER_EPOCHS = 100


def synthetic_union(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` beats in the schema of ``atk_gan_train_set`` (x, x_clean, y, attacked, attack), 1/7 clean."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    t = np.arange(280)
    clean = 0.2 + 0.7 * np.exp(-0.5 * ((t[None] - 56 * (y[:, None] + 1)) / 6.0) ** 2)
    clean = np.clip(clean + 0.03 * rng.standard_normal((n, 280)), 0, 1).astype(np.float32)
    attacked = rng.random(n) >= 1 / 7
    moved = np.clip(clean + 0.01 * np.sign(rng.standard_normal((n, 280))), 0, 1)
    return {"x": np.where(attacked[:, None], moved, clean).astype(np.float32), "x_clean": clean,
            "y": y.astype(np.int64), "attacked": attacked, "attack": np.where(attacked, "synthetic", "clean"),
            "classes": np.asarray(["N", "S", "V", "F"])}


def declared_run() -> dict:
    """``runs.atk_gan`` as conf/base declares it (the run keys of the declaration left out)."""
    with open(ROOT / "conf" / "base" / "parameters_training.yml") as f:
        run = dict(yaml.safe_load(f)["runs"]["atk_gan"])
    return {k: v for k, v in run.items() if k not in ("family", "label", "data")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=40_000, help="synthetic training beats (without --data)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None, help="default: the declared batch (128)")
    parser.add_argument("--width", type=int, default=None, help="G and D width (default: the models' 32)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default: torch's)")
    parser.add_argument("--data", type=Path, help="an atk_gan_train_set .npz (attack_generation's output)")
    parser.add_argument("--validation", type=Path, help="an atk_gan_validation_set .npz")
    args = parser.parse_args(argv)

    run = declared_run()
    run.update(epochs=args.epochs, device=args.device, progress=False, checkpoint_every_s=0, num_threads=args.threads)
    if args.batch:
        run["batch_size"] = args.batch
    if args.width:
        run["model"] = {**run["model"], "width": args.width}
        run["objective"] = {**run["objective"], "generator": {**run["objective"]["generator"], "width": args.width}}
    config = TrainingConfig.from_params(run, "runs.atk_gan")
    if args.data:
        train_set = dict(np.load(args.data, allow_pickle=False))
        validation_set = dict(np.load(args.validation, allow_pickle=False)) if args.validation else None
        source = str(args.data)
    else:
        train_set, validation_set = synthetic_union(args.beats, 0), synthetic_union(max(args.beats // 20, 64), 1)
        source = "synthetic"
    device = resolve_device(args.device)
    threads = args.threads or torch.get_num_threads()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({threads} thread(s))"
    n, batches = len(train_set["y"]), -(-len(train_set["y"]) // config.batch_size)
    print(f"device {device}: {name}; torch {torch.__version__}; {source} training set of {n:,} beats "
          f"({batches:,} batches of {config.batch_size}), validation {len(validation_set['y']) if validation_set else 0:,}; "
          f"{config.epochs} epochs", flush=True)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as checkpoints:
        _, meta, history, companions = fit_with_companions(config, train_set, validation_set, checkpoints=checkpoints,
                                                           run_name="atk_gan_gpu_check")
    total = time.perf_counter() - t
    for row in history:
        print(f"epoch {row['epoch']}: {row['seconds']:.1f} s ({1000 * row['seconds'] / batches:.1f} ms a step, "
              f"validation included), D loss {row['train_loss']:.4f}, G loss {row['train_g_loss']:.4f}, "
              f"val accuracy {row.get('val_accuracy', float('nan')):.4f}", flush=True)
    steady = history[1:] or history  # the first epoch carries the warm-up (CUDA context, kernels)
    epoch_s = sum(row["seconds"] for row in steady) / len(steady)
    step_s = epoch_s / batches
    paper_batches = -(-PAPER_EPOCH_BEATS // config.batch_size)
    projected_epoch = step_s * paper_batches
    result = {"device": name, "step_s": step_s, "epoch_s": epoch_s, "paper_epoch_s": projected_epoch,
              "paper_100_epochs_h": PAPER_EPOCHS * projected_epoch / 3600, "total_s": total}
    if device.type == "cuda":
        result["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    print(f"step {1000 * step_s:.1f} ms; epoch of {n:,} beats {epoch_s:.1f} s; the paper's epoch "
          f"({PAPER_EPOCH_BEATS:,} beats, {paper_batches:,} batches) {projected_epoch / 60:.1f} min; "
          f"{PAPER_EPOCHS} epochs {result['paper_100_epochs_h']:.1f} h; this check took {total:.0f} s"
          + (f"; peak GPU memory {result['peak_memory_gb']:.2f} GB" if "peak_memory_gb" in result else ""), flush=True)
    assert set(companions) == {"generator"} and meta["epochs"] == config.epochs
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
