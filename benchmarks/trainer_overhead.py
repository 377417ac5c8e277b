"""Benchmark (issue 27, item 2): the real trainer's time per step against the bare step it runs, in one run.

    python benchmarks/trainer_overhead.py [--mlp-batches 0] [--cnn-batches 300] [--repeats 3] [--threads 1]
                                          [--before 8a1b19d]

For the MLP and the Kachuee CNN, each with CE and NSR, three sides, interleaved (the order flips every repeat so
that machine noise hits every side alike), each timed in CPU time of this process (what one thread's work costs;
on a machine shared with other jobs it moves much less than wall time) and in wall time:

- ``bare``: the step as ``benchmarks/training_step.py`` times it (objective, then ``descend``; one fixed batch of
  128 real beats), as many steps as the trainer's run;
- ``trainer``: ``defenses.trainer.train`` as the main job's runs use it, on the main job's data (all of MIT-BIH,
  segmented, split and class-balanced as ``data_mitdb`` does it with seed 0: 289,990 training beats, 2,266 batches
  of 128 an epoch): one epoch of ``--mlp-batches`` / ``--cnn-batches`` batches (0: the whole epoch) drawn by its
  sampler, the progress bar on (written to stderr), a checkpoint folder (the epoch-end checkpoint) and the
  epoch-end validation on the validation split (17,518 beats for a whole epoch; for a shorter one the same share
  of it, so that validation weighs on the step as in the real run); everything from the call to its return,
  set-up included, divided by the steps;
- ``before``: the same with the trainer, checkpoints, optimisation and batches modules of git revision
  ``--before`` (loaded from ``git show`` into a temporary package; the rest of the package is today's).

It prints per-step milliseconds, the overhead (trainer / bare - 1, issue target at most 10%), and whether the
before and current trainers give bit-identical weights, optimizer state and history from the same seed.

``--jacobian``: instead, the bare step of the Jacobian objective (seed 001 eq. 12) exact and with k random
projections (Hoffman et al. 2019; ``projections: k``), against CE, on both models (CPU ms a step, x CE).

    python benchmarks/trainer_overhead.py --jacobian [--steps 20] [--repeats 3] [--projections 1,2]
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ecg_pipeline.data.balance import upsample
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import NSR, CrossEntropy, Jacobian
from ecg_pipeline.defenses.trainer import build_optimizer, descend, train
from ecg_pipeline.models import build_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
# (model, objective label, objective factory): NSR's beta as in benchmarks/training_step.py --compare
CASES = [
    ("mlp", "CE", CrossEntropy), ("mlp", "NSR", lambda: NSR(beta=0.4)),
    ("kachuee_cnn", "CE", CrossEntropy), ("kachuee_cnn", "NSR", lambda: NSR(beta=0.3)),
]
# The modules of the trainer loop that the "before" side takes from git, and the package each lives in.
BEFORE_MODULES = {"trainer": "defenses", "checkpoints": "defenses", "optimisation": "defenses", "batches": "data"}


def load_before(rev: str, into: Path):
    """The trainer of git revision ``rev`` as a module: its loop modules from ``git show`` in a temporary package
    (their relative imports of modules not copied pointed at today's package); returns (train, Batches)."""
    package = into / "trainer_before"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, home in BEFORE_MODULES.items():
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:src/ecg_pipeline/{home}/{name}.py"],
                                capture_output=True, text=True, check=True).stdout
        source = source.replace("from ecg_pipeline.data.batches import", "from .batches import")
        def absolute(match, home=home):  # a module not copied: today's, in its own package
            module = match.group(1)
            return match.group(0) if module in BEFORE_MODULES else f"from ecg_pipeline.{home}.{module} import"

        source = re.sub(r"^from \.(\w+) import", absolute, source, flags=re.M)
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(into))
    trainer = importlib.import_module("trainer_before.trainer")
    return trainer.train, importlib.import_module("trainer_before.batches").Batches


def real_beats(data: Path) -> tuple[dict, dict]:
    """The main job's class-balanced training beats and validation split (data_mitdb's defaults, seed 0)."""
    parts = split_beats(segment_beats(read_mitdb(data / "mitdb"), scheme="kachuee"), seed=0)
    return upsample(parts["train"], seed=0), parts["validation"]


def share_of(validation: dict, share: float) -> dict:
    """The first ``share`` of a validation set in a seeded random order (all of it for share 1)."""
    n = len(validation["y"])
    pick = np.sort(np.random.default_rng(0).permutation(n)[: int(round(share * n))])
    return {k: v[pick] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v for k, v in validation.items()}


def bare_seconds(model_name: str, make_objective, x, y, steps: int, seed: int) -> tuple[float, float]:
    """(CPU, wall) seconds of ``steps`` bare steps on one batch (as benchmarks/training_step.py)."""
    torch.manual_seed(seed)
    model = build_model(model_name)
    opt, objective, weights = build_optimizer("adamax", model.parameters(), lr=1e-3), make_objective(), list(model.parameters())
    for _ in range(2):  # warm-up, as training_step.py
        loss, _, _ = objective(model, x, y, None, 1)
        descend(loss, opt, weights)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        loss, _, _ = objective(model, x, y, None, 1)
        descend(loss, opt, weights)
        loss.item()
    return time.process_time() - cpu, time.perf_counter() - wall


def trainer_seconds(train_fn, data, validation, config: TrainingConfig, model_name: str, make_objective):
    """(CPU, wall) seconds of one real training run, and its final model, optimizer-free state and history."""
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(config.seed)  # as fit() does before building the model
        model = build_model(model_name)
        cpu, wall = time.process_time(), time.perf_counter()
        model, history = train_fn(model, data, validation, config, objective=make_objective(), checkpoint_dir=folder,
                                  run_fingerprint="trainer-overhead", run_name=f"{model_name}")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        saved = torch.load(Path(folder) / "checkpoint.pt", weights_only=True)
    return cpu, wall, model.state_dict(), saved["optimizer"], [{k: v for k, v in row.items() if k != "seconds"}
                                                                  for row in history]


def same(a, b) -> bool:
    """Bit-identical nested states (tensors compared with torch.equal, everything else with ==)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(p, q) for p, q in zip(a, b))
    return a == b


def jacobian_costs(args, x, y) -> None:
    """CPU ms of a bare step: CE, exact Jacobian (eq. 12) and k random projections, both models, interleaved."""
    lams = {"mlp": 0.9, "kachuee_cnn": 0.7}  # jacob_mlp / jacob_cnn in parameters_training.yml
    ks = [int(k) for k in args.projections.split(",")]
    print(f"Jacobian step (eq. 12) exact and with k random projections; batch 128 real beats, {args.steps} steps x "
          f"{args.repeats} interleaved repeats, {args.threads} thread(s); CPU ms a step (median)")
    for model_name, lam in lams.items():
        sides = {"CE": CrossEntropy, "Jacobian exact": lambda lam=lam: Jacobian(lam=lam)}
        sides.update({f"Jacobian k={k}": (lambda k=k, lam=lam: Jacobian(lam=lam, projections=k)) for k in ks})
        times = {name: [] for name in sides}
        for r in range(args.repeats):
            for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                times[name].append(bare_seconds(model_name, sides[name], x, y, args.steps, 0)[0] / args.steps)
        ce = statistics.median(times["CE"])
        print(f"  {model_name}: " + "; ".join(f"{name} {1e3 * statistics.median(v):.1f} ms ({statistics.median(v) / ce:.2f}x CE)"
                                           for name, v in times.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-batches", type=int, default=0, help="batches of the MLP's run (0: a whole epoch)")
    parser.add_argument("--cnn-batches", type=int, default=300, help="batches of the CNN's run (0: a whole epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--before", default="8a1b19d", help="git revision of the trainer before issue 27 ('' : none)")
    parser.add_argument("--cases", default="all", help="comma-separated model:objective, e.g. mlp:CE (default all)")
    parser.add_argument("--no-progress", action="store_true", help="the trainer's progress bar off")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--jacobian", action="store_true", help="the Jacobian objective's step costs instead")
    parser.add_argument("--steps", type=int, default=20, help="with --jacobian: steps a side and repeat")
    parser.add_argument("--projections", default="1,2", help="with --jacobian: the k values")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.jacobian:
        beats = segment_beats(read_mitdb(args.data / "mitdb", records=["100", "119", "208"]), scheme="kachuee")
        pick = np.random.default_rng(0).choice(len(beats["y"]), 128, replace=False)
        x, y, _ = Batches({"x": beats["x"][pick], "y": beats["y"][pick]}).take(np.arange(128))
        return jacobian_costs(args, x, y)
    train_set, validation_set = real_beats(args.data)
    trainers = {"trainer": (train, Batches)}
    tmp = tempfile.TemporaryDirectory()
    if args.before:
        trainers["before"] = load_before(args.before, Path(tmp.name))
    epoch_batches = -(-len(train_set["y"]) // 128)
    cases = [c for c in CASES if args.cases == "all" or f"{c[0]}:{c[1]}" in args.cases.split(",")]
    print(f"MIT-BIH as the main job: {len(train_set['y'])} balanced training beats ({epoch_batches} batches of 128 an "
          f"epoch), {len(validation_set['y'])} validation beats; a run: one epoch of the batches below, its validation "
          f"and checkpoint, progress bar {'off' if args.no_progress else 'on'}; {args.threads} thread(s); "
          f"{args.repeats} interleaved repeats, medians; before = git {args.before or '(not run)'}", flush=True)
    rows = []
    for model_name, label, make in cases:
        batches = (args.mlp_batches if model_name == "mlp" else args.cnn_batches) or epoch_batches
        validation = share_of(validation_set, min(1.0, batches / epoch_batches))
        data = {side: (cls(train_set), cls(validation)) for side, (_, cls) in trainers.items()}
        x, y, _ = data["trainer"][0].take(np.random.default_rng(0).choice(len(train_set["y"]), 128, replace=False))
        config = TrainingConfig(model={"name": model_name}, objective={"name": label.lower()}, epochs=1,
                                max_batches_per_epoch=batches, num_threads=args.threads, device="cpu",
                                progress=not args.no_progress)
        steps = min(batches, epoch_batches)
        times = {side: [] for side in ("bare", *trainers)}
        states = {}
        for side, (fn, _) in trainers.items():  # warm-up run (first-call imports), also the states compared
            states[side] = trainer_seconds(fn, *data[side], config, model_name, make)[2:]
        for r in range(args.repeats):
            for side in (list(times) if r % 2 == 0 else list(times)[::-1]):
                if side == "bare":
                    cpu, wall = bare_seconds(model_name, make, x, y, steps, config.seed)
                else:
                    cpu, wall, *_ = trainer_seconds(trainers[side][0], *data[side], config, model_name, make)
                times[side].append((cpu / steps, wall / steps))
        med = {side: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for side, v in times.items()}
        identical = same(states["before"], states["trainer"]) if "before" in states else None
        rows.append((model_name, label, med, identical))
        per_run = "; ".join(f"{side} CPU {', '.join(f'{1e3 * c:.2f}' for c, _ in v)} ms" for side, v in times.items())
        print(f"  {model_name} {label}, {steps} steps, {len(validation['y'])} validation beats: {per_run}", flush=True)
    print(f"\n{'case':<16} {'bare ms':>8} {'trainer ms':>11} {'overhead CPU':>13} {'overhead wall':>14} "
          f"{'before ms':>10} {'before overhead':>16} {'bit-identical':>14}   (ms: CPU per step)")
    for model_name, label, med, identical in rows:
        bare, new = med["bare"], med["trainer"]
        before = med.get("before")
        print(f"{model_name + ' ' + label:<16} {1e3 * bare[0]:>8.2f} {1e3 * new[0]:>11.2f} {new[0] / bare[0] - 1:>12.1%} "
              f"{new[1] / bare[1] - 1:>13.1%} "
              + (f"{1e3 * before[0]:>10.2f} {before[0] / bare[0] - 1:>15.1%} {'yes' if identical else 'NO':>14}"
                 if before else f"{'-':>10} {'-':>16} {'-':>14}"))
    tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
