"""Benchmark / experiment (issue 26, part 10): does the CPU kernel set or the thread count move the main job's MLPs?

Trains the main job's ``ce_mlp`` and ``nsr_mlp`` (conf/base/parameters_training.yml: Adamax, lr 1e-3, batch 128,
seed 0; NSR beta 0.4, eps_max 1.0) with ``fit`` for ``--epochs`` epochs of at most ``--batches`` batches on the
main job's real MIT-BIH split, in a fresh process per setting, and compares the final weights and the clean balanced
accuracy on the test split. ``ATEN_CPU_CAPABILITY`` (default / avx2 / avx512) must be set before torch is imported,
hence one subprocess per setting:

    nice -n 10 python benchmarks/kernel_reproducibility.py --split-dir data/05_model_input --out /tmp/repro_exp

``--split-dir``: a folder holding ``mitdb_train_balanced.npz`` / ``mitdb_test.npz`` (the newest Kedro version of
each is taken). ``--settings``: ``capability:threads[:VAR=value...]`` (default: default:1, avx2:1, avx512:1, avx512:2); extra
environment variables select the BLAS / oneDNN code path too, e.g. ``avx512:1:MKL_ENABLE_INSTRUCTIONS=AVX2``
(MKL's sgemm, which the MLP's linear layers run on, dispatches on its own, not on ``ATEN_CPU_CAPABILITY``) or
``avx512:1:ONEDNN_MAX_CPU_ISA=AVX2``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RUNS = {
    "ce_mlp": {"model": {"name": "mlp"}, "objective": {"name": "ce"}},
    "nsr_mlp": {"model": {"name": "mlp"}, "objective": {"name": "nsr", "beta": 0.4, "eps_max": 1.0}},
}


def newest(folder: Path, name: str) -> Path:
    path = folder / name
    if path.is_file():
        return path
    versions = sorted(p for p in path.iterdir() if (p / name).is_file())
    return versions[-1] / name


def child(args) -> None:
    import torch

    from ecg_pipeline.data.balance import balanced_subset
    from ecg_pipeline.defenses.config import TrainingConfig
    from ecg_pipeline.defenses.fit import fit
    from ecg_pipeline.evaluation.metrics import classification_metrics

    torch.set_num_threads(args.threads)
    train = dict(np.load(newest(args.split_dir, "mitdb_train_balanced.npz")))
    test = dict(np.load(newest(args.split_dir, "mitdb_test.npz")))
    x_test = torch.from_numpy(test["x"][:, None, :].astype(np.float32))
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "numpy": np.__version__}
    subset = balanced_subset(test["y"], 250, 0)  # the attacks' clean subset (1,161 beats; the eps-0 point)
    for name in args.runs.split(","):
        run = RUNS[name]
        config = TrainingConfig(**run, epochs=args.epochs, max_batches_per_epoch=args.batches or None, progress=False,
                                num_threads=args.threads, checkpoint_every_s=0, device="cpu", section=name)
        t = time.perf_counter()
        model, meta, history = fit(config, train, None, checkpoints=None, run_name=name)
        with torch.inference_mode():
            pred = model(x_test).argmax(1).numpy()
        acc = classification_metrics(test["y"], pred, 5)["balanced_accuracy"]
        acc_subset = classification_metrics(test["y"][subset], pred[subset], 5)["balanced_accuracy"]
        np.savez(args.out / f"{args.tag}_{name}.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
        out[name] = {"loss": [row["train_loss"] for row in history], "test_balanced_accuracy": acc,
                     "clean_subset_balanced_accuracy": acc_subset,
                     "seconds": time.perf_counter() - t}
    (args.out / f"{args.tag}.json").write_text(json.dumps(out, indent=1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split-dir", type=Path, default=Path("data/05_model_input"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/kernel_reproducibility"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=0, help="at most this many batches an epoch (0: all)")
    parser.add_argument("--settings", default="default:1,avx2:1,avx512:1,avx512:2")
    parser.add_argument("--runs", default="ce_mlp,nsr_mlp")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args)
        return
    tags = []
    for setting in args.settings.split(","):
        capability, threads, *extra = setting.split(":")
        tag = f"{capability}_{threads}t" + "".join(f"_{e.split('=')[0].split('_')[0].lower()}-{e.split('=')[1].lower()}"
                                                  for e in extra)
        env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, **dict(e.split("=", 1) for e in extra))
        subprocess.run([sys.executable, __file__, "--child", "--split-dir", str(args.split_dir), "--out", str(args.out),
                        "--epochs", str(args.epochs), "--batches", str(args.batches), "--runs", args.runs, "--threads", threads, "--tag", tag],
                       env=env, check=True)
        tags.append(tag)
    reference = tags[0]
    print(f"{args.epochs} epoch(s) of at most {args.batches or 'all'} batches; weights compared with {reference}")
    print(f"{'setting':<34} {'capability':<10} {'run':<8} {'last loss':>12} {'test bal. acc':>13} {'clean 1161':>10} {'max |dW|':>10} {'s':>6}")
    for tag in tags:
        result = json.loads((args.out / f"{tag}.json").read_text())
        for name in args.runs.split(","):
            ref = np.load(args.out / f"{reference}_{name}.npz")
            mine = np.load(args.out / f"{tag}_{name}.npz")
            diff = max(float(np.abs(ref[k] - mine[k]).max()) for k in ref.files)
            r = result[name]
            print(f"{tag:<34} {result['capability']:<10} {name:<8} {r['loss'][-1]:>12.8f} "
                  f"{r['test_balanced_accuracy']:>13.4f} {r['clean_subset_balanced_accuracy']:>10.4f} {diff:>10.2e} {r['seconds']:>6.1f}")


if __name__ == "__main__":
    main()
