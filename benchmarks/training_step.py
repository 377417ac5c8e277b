"""Benchmark: time per training step as the trainer runs it (objective, then ``descend``: backward to the
weights, Adamax step), batch 128, in one process, interleaved so machine noise hits every side alike.

    python benchmarks/training_step.py [--model kachuee_cnn] [--batch 128] [--steps 20] [--repeats 3] [--threads 1]
    python benchmarks/training_step.py --compare [--steps 10] [--repeats 5] [--threads 1] [--current-threads 1,2] [--equality-steps 200]

Default: the robust objectives against CE with today's step (issue target: NSR at most 2.0x CE).

``--compare`` (issue 15): the step as first written (``KachueeCNN.reference_forward``, Adamax looping over
the parameters in Python) against the current one (``forward``: channels-last 2-D convolutions, and inside
``models.double_backprop``, as NSR runs it, the custom convolution / ReLU / pool autograd functions; Adamax
with ``foreach``), for the Kachuee CNN and the MLP, CE, NSR and Jacobian (the CNN's on batch replicas now,
vmapped on the reference layers). ``--current-threads 1,2`` runs the current step on one and on two torch
threads, each a side of its own (the reference keeps ``--threads``): "two threads or one", to be asked on a
machine whose cores are free. It prints wall-clock and CPU-time ratios (CPU time of this process is what
one thread's work costs; on a machine shared with other jobs it moves much less than wall time). Then
an equality run: ``--equality-steps`` steps of the trainer (``defenses.trainer.train``) on real MIT-BIH
beats, same seed, both paths, CE and NSR on the CNN; it prints the largest difference of the per-step loss
curves and of the final weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecg_pipeline.data.balance import upsample
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import NSR, Adversarial, CrossEntropy, Jacobian
from ecg_pipeline.defenses.objectives.certified import IBP, CrownIBP
from ecg_pipeline.defenses.objectives.trades import Trades
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.defenses.trainer import build_optimizer, descend, train
from ecg_pipeline.models import build_model

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MITDB_BATCHES_PER_EPOCH = 2266   # 289,990 balanced training beats / 128 (parameters_training.yml)
EQUALITY_RECORDS = [str(r) for r in range(100, 110)]  # 10 MIT-BIH records, ~20k beats before balancing


class ReferencePath(nn.Module):
    """Today's step, kept callable: the wrapped model's ``reference_forward`` where it has one (Kachuee
    CNN), else its ``forward``. The parameters are the wrapped model's, in the same order."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, "reference_forward", self.model.forward)(x)


def reference_optimizer(params) -> torch.optim.Optimizer:
    """Adamax as the trainer built it before issue 15 (torch's per-parameter loop on CPU)."""
    return build_optimizer("adamax", params, lr=1e-3, foreach=False)


def time_steps(objective, model, opt, x, y, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step of the trainer's own step: objective, then ``descend``."""
    weights = list(model.parameters())
    for _ in range(2):  # warm-up
        loss, _, _ = objective(model, x, y, None, 1)
        descend(loss, opt, weights)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss, _, _ = objective(model, x, y, None, 1)
        descend(loss, opt, weights)
        loss.item()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def objectives_table(args) -> None:
    x = torch.rand(args.batch, 1, 187)
    y = torch.randint(0, 5, (args.batch,))
    # issue 30's defenses at their full strength (the certified ones past their eps ramp), as conf/base runs them
    objectives = {
        "CE": CrossEntropy(),
        "NSR (beta 0.3)": NSR(beta=0.3),
        "Jacobian (eq. 12)": Jacobian(lam=0.7),
        "Jacobian (L1 code)": Jacobian(lam=0.9, form="l1_code"),
        "10-PGD adversarial": Adversarial(eps=0.1, steps=10, step_size=0.01),
        "TRADES (beta 6)": Trades(beta=6.0, eps=0.1, steps=10, step_size=0.01),
        "IBP": IBP(eps_train=0.011, warmup_steps=0, ramp_steps=0),
        "CROWN-IBP": CrownIBP(eps_train=0.011, warmup_steps=0, ramp_steps=0),
    }
    times = {name: [] for name in objectives}
    skipped = {}
    for r in range(args.repeats):
        order = list(objectives) if r % 2 == 0 else list(reversed(objectives))
        for name in order:
            if name in skipped:
                continue
            model = build_model(args.model)
            opt = build_optimizer("adamax", model.parameters(), lr=1e-3)
            try:
                objectives[name].bind(model, torch.device("cpu"), lambda p: build_optimizer("adamax", p, lr=1e-3))
            except EcgDataError as error:  # CROWN-IBP has no CNN bounds: say so instead of timing it
                skipped[name] = str(error).split(";")[0]
                continue
            times[name].append(time_steps(objectives[name], model, opt, x, y, args.steps)[0])
    ce = statistics.median(times["CE"])
    print(f"{args.model}, batch {args.batch}, {args.steps} steps x {args.repeats} interleaved repeats, {args.threads} thread(s)")
    print(f"{'objective':<22} {'median ms/step':>15} {'min ms':>8} {'x CE':>6} {'50 epochs (h)':>14}")
    for name, values in times.items():
        if name in skipped:
            print(f"{name:<22} not run: {skipped[name]}")
            continue
        median = statistics.median(values)
        hours = median * MITDB_BATCHES_PER_EPOCH * 50 / 3600
        print(f"{name:<22} {1000 * median:>15.1f} {1000 * min(values):>8.1f} {median / ce:>6.2f} {hours:>14.2f}")
    print(f"(50 epochs: the bare step x {MITDB_BATCHES_PER_EPOCH} batches of 128 an epoch, the balanced MIT-BIH split; "
          "the trainer adds its overhead, benchmarks/trainer_overhead.py)")


def mitdb_beats(data: Path, records: list[str]) -> tuple[dict[str, np.ndarray] | None, str]:
    """Class-balanced (upsampled) real beats of ``records``, or None and why not."""
    if not (data / "mitdb").is_dir():
        return None, f"no MIT-BIH at {data / 'mitdb'}"
    beats = segment_beats(read_mitdb(data / "mitdb", records=records), scheme="kachuee")
    return upsample(beats, seed=0), f"real MIT-BIH beats of {len(records)} records"


def compare(args) -> None:
    x = torch.rand(args.batch, 1, 187)
    y = torch.randint(0, 5, (args.batch,))
    current_threads = [int(n) for n in str(args.current_threads or args.threads).split(",")]
    paths = {"reference": args.threads}  # each side of the comparison and its torch threads
    paths.update({"current" if len(current_threads) == 1 else f"current {n}t": n for n in current_threads})
    print(f"batch {args.batch}, {args.steps} steps x {args.repeats} interleaved repeats; torch threads: "
          + ", ".join(f"{path} {n}" for path, n in paths.items())
          + "; 'reference': the step as first written, 'current': forward + foreach Adamax (CPU time sums all threads)")
    for model_name, beta, lam in (("kachuee_cnn", 0.3, 0.7), ("mlp", 0.4, 0.9)):
        objectives = {"CE": CrossEntropy(), "NSR": NSR(beta=beta), "Jacobian": Jacobian(lam=lam)}
        sides = {(obj, path): ([], []) for obj in objectives for path in paths}
        for r in range(args.repeats):
            for key in (list(sides) if r % 2 == 0 else list(reversed(sides))):
                torch.manual_seed(0)
                torch.set_num_threads(paths[key[1]])
                model = build_model(model_name)
                if key[1] == "reference":
                    model, opt = ReferencePath(model), reference_optimizer(model.parameters())
                else:
                    opt = build_optimizer("adamax", model.parameters(), lr=1e-3)
                wall, cpu = time_steps(objectives[key[0]], model, opt, x, y, args.steps)
                sides[key][0].append(wall)
                sides[key][1].append(cpu)
        torch.set_num_threads(args.threads)
        med = {key: (statistics.median(w), statistics.median(c)) for key, (w, c) in sides.items()}
        print(f"\n{model_name} (NSR beta {beta}, Jacobian eq. 12 lambda {lam})")
        print(f"{'step':<24} {'wall ms':>8} {'CPU ms':>8} {'speed-up wall':>14} {'speed-up CPU':>13} {'x CE (wall)':>12} {'x CE (CPU)':>11}")
        for (obj, path), (wall, cpu) in med.items():
            ref_wall, ref_cpu = med[(obj, "reference")]
            ce_wall, ce_cpu = med[("CE", path)]
            print(f"{obj + ' ' + path:<24} {1000 * wall:>8.1f} {1000 * cpu:>8.1f} {ref_wall / wall:>13.2f}x "
                  f"{ref_cpu / cpu:>12.2f}x {wall / ce_wall:>12.2f} {cpu / ce_cpu:>11.2f}")
    if args.equality_steps:
        equality(args)


def equality(args) -> None:
    """Train both paths from the same seed with the trainer, CE and NSR on the CNN; report how far the
    loss curves and weights drift."""
    data, source = mitdb_beats(args.data, EQUALITY_RECORDS)
    if data is None:
        rng = np.random.default_rng(0)
        data = {"x": rng.random((args.equality_steps * 128, 187), dtype=np.float32),
                "y": rng.integers(0, 5, args.equality_steps * 128)}
        source = f"SYNTHETIC uniform beats ({source})"
    batches = Batches(data)
    config = TrainingConfig(model={"name": "kachuee_cnn"}, objective={"name": "nsr", "beta": 0.3}, epochs=1,
                            max_batches_per_epoch=args.equality_steps, progress=False, num_threads=args.threads,
                            checkpoint_every_s=0, device="cpu")
    for label, make_objective in (("CE", CrossEntropy), ("NSR (beta 0.3)", lambda: NSR(beta=0.3))):
        results = {}
        for path in ("reference", "current", "rounding"):
            torch.manual_seed(config.seed)
            model = build_model("kachuee_cnn")
            if path == "rounding":  # the yardstick: the reference with its initial weights moved by ~1 float32 ulp
                with torch.no_grad():
                    generator = torch.Generator().manual_seed(1)
                    for weight in model.parameters():
                        weight.mul_(1 + 2.0 ** -24 * torch.randn(weight.shape, generator=generator))
            losses: list[float] = []
            objective = make_objective()

            def recorded(m, x, y, mask, epoch, objective=objective, losses=losses):
                out = objective(m, x, y, mask, epoch)
                losses.append(out[0].item())
                return out

            wrapped = model if path == "current" else ReferencePath(model)
            args_opt = None if path == "current" else {"foreach": False}
            config_path = dataclasses.replace(config, optimizer_args=args_opt)
            t, cpu = time.perf_counter(), time.process_time()
            train(wrapped, batches, None, config_path, objective=recorded)
            results[path] = (np.array(losses), {k: v.clone() for k, v in model.state_dict().items()},
                             (time.perf_counter() - t, time.process_time() - cpu))
        (loss_ref, w_ref, s_ref), (loss_new, w_new, s_new) = results["reference"], results["current"]
        print(f"\nequality: {label} Kachuee CNN, {len(loss_ref)} trainer steps of batch 128, seed 0, on {source}")
        print(f"  loss first/last: reference {loss_ref[0]:.6f} / {loss_ref[-1]:.6f}, current {loss_new[0]:.6f} / {loss_new[-1]:.6f}")
        for other, what in (("current", "current"), ("rounding", "yardstick: reference, initial weights x (1 + 2^-24 N(0,1))")):
            loss_other, w_other, _ = results[other]
            weight_rel = max(((w_other[k] - w_ref[k]).norm() / w_ref[k].norm().clamp(min=1e-12)).item() for k in w_ref)
            drift = np.abs(loss_other - loss_ref)
            print(f"  {what} against reference: max |loss difference| over the first 10 steps {drift[:10].max():.2e}, "
                  f"over the curve {drift.max():.2e} (relative {np.max(drift / np.abs(loss_ref)):.2e}); mean loss of the "
                  f"last 50 steps {loss_other[-50:].mean():.4f} vs {loss_ref[-50:].mean():.4f}; final weights: largest "
                  f"relative L2 difference of a tensor {weight_rel:.2e}")
        print(f"  time of the {len(loss_ref)} steps, one run each (not interleaved): wall reference {s_ref[0]:.1f} s, "
              f"current {s_new[0]:.1f} s; CPU reference {s_ref[1]:.1f} s, current {s_new[1]:.1f} s ({s_ref[1] / s_new[1]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="kachuee_cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compare", action="store_true", help="today's step against the current one (issue 15)")
    parser.add_argument("--current-threads", default=None,
                        help="with --compare: torch threads of the current step, or a list (1,2: one side each); default --threads")
    parser.add_argument("--equality-steps", type=int, default=200, help="with --compare: trainer steps of the equality run (0: none)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    compare(args) if args.compare else objectives_table(args)


if __name__ == "__main__":
    sys.exit(main())
