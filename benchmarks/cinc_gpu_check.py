"""GPU check for Han et al.'s CinC 2017 CNN (``runs.ce_cinc`` of conf/base/parameters_training.yml): training
steps of the declared run (Adam 1e-3, batch 64, the full-width 13-layer network) on real padded CinC 2017
records, printing the step time and the projected epoch and 200-epoch times, then a few steps of a decorrelated
ensemble member (seed 004 eq. 6, CE + 0.2 L_cor against two earlier members) on the same batches.

Under 10 minutes on one GPU at the defaults (300 CE steps + 30 decorrelated steps); runs unchanged on a CPU at
tiny sizes (``--width 0.0625 --steps 3 --batch 4 --records 16 --threads 1``).

    python benchmarks/cinc_gpu_check.py --data data/05_model_input/cinc2017_validation.npz/<version>/cinc2017_validation.npz
        [--steps 300] [--decorrelated-steps 30] [--batch 64] [--width 1.0] [--device auto] [--threads N]

``--data`` is any padded CinC 2017 set written by ``kedro run --pipelines=data_cinc2017`` (the validation split,
29 MB, is enough: step time depends on the sizes, not on which records). Each step is the trainer's own
(``objective``, then ``descend``: backward and the optimizer step); batches are materialised from the padded
set as in training (records drawn with the augmentation's extra copies of ~ and A). The decorrelated member's
earlier-member features are random here (their values do not change the cost: one least-squares fit per
earlier member, no forward pass of those members).
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ecg_pipeline.data.balance import extra_copies_index
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.objectives import CrossEntropy, Decorrelated
from ecg_pipeline.defenses.trainer import descend
from ecg_pipeline.models import build_model
from ecg_pipeline.runtime import resolve_device

ROOT = Path(__file__).resolve().parents[1]
PAPER_EPOCHS = 200
# the training split of `kedro run --pipelines=data_cinc2017` (conf/base: 90/10, then 10 % of the 90 % for
# validation, seed 0): 6,907 records per class (counted from cinc2017_train version 2026-12-02T06.16.09.637Z)
TRAIN_COUNTS = {"N": 4090, "A": 598, "O": 1989, "~": 230}


def epoch_records(extra_copies: dict[str, int]) -> int:
    """Records in one training epoch of the declared run: every training record once, plus the extra copies."""
    return sum(TRAIN_COUNTS.values()) + sum(k * TRAIN_COUNTS[c] for c, k in extra_copies.items())


def declared_run() -> dict:
    """``runs.ce_cinc`` as conf/base declares it (the run keys of the declaration left out)."""
    with open(ROOT / "conf" / "base" / "parameters_training.yml") as f:
        run = dict(yaml.safe_load(f)["runs"]["ce_cinc"])
    return {k: v for k, v in run.items() if k not in ("family", "label", "data")}


def default_data() -> str | None:
    found = sorted(glob.glob(str(ROOT / "data/05_model_input/cinc2017_*.npz/*/cinc2017_*.npz")))
    return found[-1] if found else None


def load(path: str, records: int | None) -> dict:
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    if records is not None:  # the first `records` records of the packed set
        offsets = data["offsets"][: records + 1]
        data = {**data, "values": data["values"][:, : offsets[-1]], "offsets": offsets, "start": data["start"][:records],
                "y": data["y"][:records], "record_id": data["record_id"][:records]}
    return data


def timed_steps(objective, model, opt, batches: list, steps: int, device, extra=None) -> float:
    """Seconds per step over ``steps`` steps after 2 warm-up steps (synchronised on CUDA)."""
    weights = list(model.parameters())

    def step(i: int) -> None:
        x, y, _ = batches[i % len(batches)]
        kwargs = {"extra": extra(y.shape[0])} if extra is not None else {}
        loss, _, _ = objective(model, x.to(device), y.to(device), None, 1, **kwargs)
        descend(loss, opt, weights)

    for i in range(2):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="a padded CinC 2017 npz (default: the newest under data/)")
    parser.add_argument("--records", type=int, default=None, help="use the first N records only")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--decorrelated-steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=None, help="default: the declared run's (64)")
    parser.add_argument("--width", type=float, default=1.0, help="HanCNN width (1.0: the paper's network)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    run = declared_run()
    batch = args.batch or run["batch_size"]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    path = args.data or default_data()
    if path is None:
        raise SystemExit("no --data and no padded CinC 2017 set under data/: run `kedro run --pipelines=data_cinc2017`")
    data = load(path, args.records)
    batches_of = Batches(data)
    rng = np.random.default_rng(0)
    rows = extra_copies_index(batches_of.y.numpy(), {batches_of.classes.index(c): k for c, k in run["extra_copies"].items()})
    order = rng.permutation(rows)
    n_batches = max(1, min(len(order) // batch, 8))  # a few distinct batches, cycled (materialised up front)
    batches = [batches_of.take(order[i * batch:(i + 1) * batch]) for i in range(n_batches)]
    torch.manual_seed(0)
    model = build_model("han_cnn", width=args.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=run["lr"])
    flops = 0  # forward multiply-adds of one record, from the conv layers' shapes
    length = batches[0][0].shape[-1]
    for layer in model.layers:
        conv = layer.conv
        flops += conv.in_channels * conv.out_channels * conv.kernel_size[0] * length
        if hasattr(layer, "pool"):
            length = -(-length // 2)
    print(f"device {device}, {torch.get_num_threads()} CPU thread(s); data {path} ({len(batches_of)} records, "
          f"{batches[0][0].shape[-1]} samples); HanCNN width {args.width} ({sum(p.numel() for p in model.parameters()):,}"
          f" weights, {flops / 1e9:.1f} GMAC forward per record); batch {batch}, {n_batches} distinct batches cycled")
    step_s = timed_steps(CrossEntropy(), model, opt, batches, args.steps, device)
    epoch_batches = -(-epoch_records(run["extra_copies"]) // batch)
    epoch_s = step_s * epoch_batches
    result = {"device": str(device), "width": args.width, "batch": batch, "step_s": step_s,
              "epoch_batches": epoch_batches, "epoch_s": epoch_s, "paper_200_epochs_h": PAPER_EPOCHS * epoch_s / 3600}
    print(f"CE step: {1000 * step_s:.1f} ms ({args.steps} steps); epoch of {epoch_batches} batches "
          f"({epoch_records(run['extra_copies'])} records: {sum(TRAIN_COUNTS.values())} + augmentation): {epoch_s / 60:.1f} min; "
          f"{PAPER_EPOCHS} epochs: {result['paper_200_epochs_h']:.2f} h")
    if args.decorrelated_steps:
        width = model.head.in_features
        objective = Decorrelated(lam=0.2, projection_dim=min(32, width))

        def previous(n: int) -> dict:
            return {"previous_features": torch.randn(n, 2, width, device=device)}

        dec_s = timed_steps(objective, model, opt, batches, args.decorrelated_steps, device, extra=previous)
        result.update(decorrelated_step_s=dec_s, decorrelated_over_ce=dec_s / step_s)
        print(f"decorrelated member step (2 earlier members, r = {min(32, width)}): {1000 * dec_s:.1f} ms "
              f"({args.decorrelated_steps} steps), {dec_s / step_s:.3f} x the CE step")
    return result


if __name__ == "__main__":
    main()
