"""Benchmark: how long the whole of Table 4 (seed 001) takes on this machine's accelerator and on its CPU.

    python benchmarks/table4_time.py                       # device auto: CUDA when available, else CPU
    python benchmarks/table4_time.py --steps 20 --other-steps 3 --beats 32 --attack-steps 5 --max-queries 50   # a smoke run
    python benchmarks/table4_time.py --jacobian-projections 1 --cores 2   # the Jacobian runs projected, on 2 cores

It measures, with the project's own code (``descend``, the objectives, the attack library):
- training steps of batch 128 of every Table 4 objective (CE, NSR, Jacobian eq. 12, 10-PGD adversarial)
  on the Kachuee CNN and the MLP: ``--steps`` steps of CE and NSR on the CNN (default: a whole epoch of
  2,266 batches on CUDA, 50 on CPU), ``--other-steps`` of the rest; NSR with the code reduction costs what
  NSR costs (the same passes) and is projected from it;
- one worst-case evaluation per architecture: APGD-CE, APGD-T (DLR, every other class) and Square, each on
  all of ``--beats`` beats (default 1,161, the class-balanced test subset), at each eps of ``--eps``,
  plus the papers' 100-PGD (``pgd_nsr``), on the NSR model the step measurement trained;
and projects: 10 runs (ce, nsr, nsr_code, jacob, adv x MLP, CNN), 50 epochs of 2,266 steps each, and for
each run those four attacks over the 6 nonzero eps of the grid at 1,161 beats. Each attack runs on every
beat (the ensemble runs APGD-T and Square only on the beats still unbroken), so the attack projection is
an upper bound for the ensemble; attacks on a model trained only this long stop earlier than on a
50-epoch one (beats break sooner), so it may be low for the other attacks: both are said in the output.
On CUDA it then measures the CPU (1 thread, ``--cpu-steps`` steps, ``--cpu-beats`` beats, scaled
linearly to 1,161) and prints the same projection for it.
Data: real MIT-BIH beats (a few records, class-balanced) when ``--data`` holds MIT-BIH, else synthetic
beats of the right shape (uniform in [0, 1], random labels), which the output says.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ecg_pipeline.attacks.apgd import apgd
from ecg_pipeline.attacks.pgd import pgd_nsr
from ecg_pipeline.attacks.square import square
from ecg_pipeline.data.balance import upsample
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.defenses.objectives import NSR, Adversarial, CrossEntropy, Jacobian
from ecg_pipeline.defenses.trainer import build_optimizer, descend
from ecg_pipeline.models import build_model
from ecg_pipeline.runtime import resolve_device

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EPOCH_STEPS = 2_266        # 289,990 upsampled MIT-BIH training beats / batch 128
EPOCHS = 50                # seed 001's schedule
SUBSET_BEATS = 1_161       # the class-balanced test subset the attacks judge
GRID = (0.01, 0.03, 0.05, 0.1, 0.2, 0.3)   # the nonzero eps of the MIT-BIH grid (parameters_attack.yml)
BATCH = 128
RECORDS = ["100", "105", "106", "109", "118", "119", "200", "203", "207", "208", "213", "214", "232"]  # all 5 classes
# Table 4 (seed 001): per architecture, the run's objective and its parameters (parameters_training.yml).
OBJECTIVES = {
    "kachuee_cnn": {"ce": CrossEntropy(), "nsr": NSR(beta=0.3), "jacob": Jacobian(lam=0.7),
                    "adv": Adversarial(eps=0.1, steps=10, step_size=0.01)},
    "mlp": {"ce": CrossEntropy(), "nsr": NSR(beta=0.4), "jacob": Jacobian(lam=0.9),
            "adv": Adversarial(eps=0.1, steps=10, step_size=0.01)},
}
RUNS = ("ce", "nsr", "nsr_code", "jacob", "adv")   # nsr_code: same passes as nsr
ATTACKS = ("pgd_nsr", "apgd_ce", "apgd_t", "square")


def beats(data: Path, n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``n`` beats [n, 1, 187] and labels: real class-balanced MIT-BIH beats where present, else synthetic."""
    if (data / "mitdb").is_dir():
        balanced = upsample(segment_beats(read_mitdb(data / "mitdb", records=RECORDS), scheme="kachuee"), seed=0)
        order = np.random.default_rng(0).permutation(len(balanced["y"]))
        order = np.resize(order, n)
        x = torch.from_numpy(balanced["x"][order][:, None, :].astype(np.float32))
        return x, torch.from_numpy(balanced["y"][order].astype(np.int64)), f"real MIT-BIH beats ({len(RECORDS)} records, upsampled)"
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 187, generator=generator), torch.randint(0, 5, (n,), generator=generator),
            f"SYNTHETIC beats (uniform in [0, 1], random labels): no MIT-BIH at {data / 'mitdb'}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(model, objective, x, y, steps: int, device: torch.device) -> tuple[float, float]:
    """(wall, CPU) seconds per trainer step (objective, ``descend``) over ``steps`` batches of 128 cycling through ``x``,
    after 3 warm-up steps; the model keeps what it learned."""
    opt = build_optimizer("adamax", model.parameters(), lr=1e-3)
    weights = list(model.parameters())
    model.train()
    n_batches = max(1, len(y) // BATCH)

    def step(i):
        start = (i % n_batches) * BATCH
        xb, yb = x[start:start + BATCH].to(device, non_blocking=True), y[start:start + BATCH].to(device, non_blocking=True)
        loss, _, _ = objective(model, xb, yb, None, 1)
        descend(loss, opt, weights)
        return loss

    for i in range(3):
        step(i)
    sync(device)
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        loss = step(i)
    loss.item()
    sync(device)
    return (time.perf_counter() - t) / steps, (time.process_time() - cpu) / steps


def attack_seconds(model, x, y, eps_list, args, device) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per attack, summed over ``eps_list``, each attack on all of ``x``."""
    model.eval()
    x, y = x.to(device), y.to(device)
    calls = {
        "pgd_nsr": lambda eps: pgd_nsr(model, x, y, eps, steps=args.attack_steps, step_size=0.01, bounds=(0.0, 1.0)),
        "apgd_ce": lambda eps: apgd(model, x, y, eps, loss="ce", steps=args.attack_steps, bounds=(0.0, 1.0)),
        "apgd_t": lambda eps: apgd(model, x, y, eps, loss="dlr", targeted=True, steps=args.attack_steps, bounds=(0.0, 1.0)),
        "square": lambda eps: square(model, x, y, eps, max_queries=args.max_queries, bounds=(0.0, 1.0)),
    }
    seconds = {}
    for name, call in calls.items():
        sync(device)
        t, cpu = time.perf_counter(), time.process_time()
        for eps in eps_list:
            call(eps)
        sync(device)
        seconds[name] = time.perf_counter() - t, time.process_time() - cpu
    return seconds


def objectives_of(args) -> dict[str, dict]:
    """Table 4's objectives per architecture, the Jacobian projected where ``--jacobian-projections`` says."""
    if not args.jacobian_projections:
        return OBJECTIVES
    return {arch: {**objectives, "jacob": Jacobian(lam=objectives["jacob"].lam, projections=args.jacobian_projections)}
            for arch, objectives in OBJECTIVES.items()}


def measure(device: torch.device, x, y, x_attack, y_attack, *, main_steps: int, other_steps: int, args) -> dict:
    """Step seconds per (architecture, objective) and attack seconds per architecture, on ``device``."""
    steps, attacks = {}, {}
    for arch, objectives in objectives_of(args).items():
        trained = None
        for name, objective in objectives.items():
            torch.manual_seed(0)
            model = build_model(arch).to(device)
            n = main_steps if (arch == "kachuee_cnn" and name in ("ce", "nsr")) else other_steps
            steps[(arch, name)] = (*train_steps(model, objective, x, y, n, device), n)
            if name == "nsr":
                trained = model
        for p in trained.parameters():
            p.requires_grad_(False)
        attacks[arch] = attack_seconds(trained, x_attack, y_attack, args.eps, args, device)
    return {"steps": steps, "attacks": attacks}


def makespan(jobs: list[float], cores: int) -> float:
    """Wall time of independent ``jobs`` (seconds each) on ``cores`` workers, each next job to the least loaded
    worker, longest first (Graham's LPT rule: within 4/3 of the optimum); the runs of Table 4 share no stage."""
    loads = [0.0] * max(1, cores)
    for job in sorted(jobs, reverse=True):
        loads[loads.index(min(loads))] += job
    return max(loads)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


def report(label: str, measured: dict, beats_measured: int, args, *, cpu_clock: bool) -> dict[str, dict[str, float]]:
    """Step times and the projected time of Table 4 (training and attacks) for one device. With
    ``cpu_clock`` (a CPU device) the projection is also given from this process's CPU time, which is what
    the work costs one otherwise idle core (wall time on a machine shared with other jobs is longer).
    Returns the projected seconds per clock: ``{"wall": {"training": s, "attacks": s}, "CPU": {...}}``."""
    attack_scale = (SUBSET_BEATS / beats_measured) * (len(GRID) / len(args.eps)) * (100 / args.attack_steps)
    square_scale = (SUBSET_BEATS / beats_measured) * (len(GRID) / len(args.eps)) * (5000 / args.max_queries)
    clocks = ("wall", "CPU") if cpu_clock else ("wall",)
    print(f"\n== {label}")
    print(f"{'model':<12} {'objective':<18} {'steps timed':>11} {'ms/step':>9}{'  CPU ms' if cpu_clock else ''} "
          f"{'epoch (2,266 steps)':>20} {'50 epochs':>10}")
    total_train = dict.fromkeys(clocks, 0.0)
    per_run = {clock: {} for clock in clocks}   # (arch, run) -> its training and its attacks, one job of a core
    for arch in OBJECTIVES:
        for run in RUNS:
            wall, cpu, n = measured["steps"][(arch, "nsr" if run == "nsr_code" else run)]
            for clock, seconds in zip(clocks, (wall, cpu)):
                total_train[clock] += seconds * EPOCH_STEPS * EPOCHS
                per_run[clock][(arch, run)] = seconds * EPOCH_STEPS * EPOCHS
            note = " (as nsr)" if run == "nsr_code" else ""
            print(f"{arch:<12} {run + note:<18} {n:>11} {1000 * wall:>9.1f}{f'{1000 * cpu:>8.1f}' if cpu_clock else ''} "
                  f"{hours(wall * EPOCH_STEPS):>20} {hours(wall * EPOCH_STEPS * EPOCHS):>10}")
    total_attack = dict.fromkeys(clocks, 0.0)
    for arch, seconds in measured["attacks"].items():
        for i, clock in enumerate(clocks):
            scaled = {k: v[i] * (square_scale if k == "square" else attack_scale) for k, v in seconds.items()}
            total_attack[clock] += sum(scaled.values()) * len(RUNS)
            for run in RUNS:
                per_run[clock][(arch, run)] += sum(scaled.values())
            print(f"{arch:<12} attacks on {beats_measured} beats at eps {list(args.eps)} ({clock}): "
                  + ", ".join(f"{k} {v[i]:.1f} s" for k, v in seconds.items())
                  + f"; projected per model (1,161 beats, 6 eps, 100 steps, 5,000 queries): {hours(sum(scaled.values()))}")
    for clock in clocks:
        print(f"Table 4 projected ({clock} time): training {hours(total_train[clock])} (10 runs x 50 epochs), attacks "
              f"{hours(total_attack[clock])} (10 models x {', '.join(ATTACKS)}), "
              f"total {hours(total_train[clock] + total_attack[clock])}")
        longest = max(per_run[clock], key=per_run[clock].get)
        print(f"  on {args.cores} free core(s), one run (its training, then its attacks) per core, one thread each, "
              f"longest first: {hours(makespan(list(per_run[clock].values()), args.cores))} of the machine "
              f"(the longest run, {'/'.join(longest)}, alone: {hours(per_run[clock][longest])})")
    return {clock: {"training": total_train[clock], "attacks": total_attack[clock],
                    "machine": makespan(list(per_run[clock].values()), args.cores)} for clock in clocks}


def main(argv: list[str] | None = None) -> dict:
    """Measure, print, and return ``{"device": ..., "measured": ..., "projected": ...}`` (and ``"cpu_*"`` on CUDA)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto: CUDA when available, else CPU")
    parser.add_argument("--steps", type=int, default=None, help="CE and NSR CNN steps (default: 2,266 on CUDA, 50 on CPU)")
    parser.add_argument("--other-steps", type=int, default=None, help="steps of the other objectives (default: 200 on CUDA, 10 on CPU)")
    parser.add_argument("--beats", type=int, default=SUBSET_BEATS, help="beats attacked")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1], help="eps measured (projected to the 6 of the grid)")
    parser.add_argument("--attack-steps", type=int, default=100)
    parser.add_argument("--max-queries", type=int, default=5000)
    parser.add_argument("--cpu-steps", type=int, default=10, help="on CUDA: CPU steps per objective for the CPU projection")
    parser.add_argument("--cpu-beats", type=int, default=64, help="on CUDA: beats the CPU attacks (scaled to 1,161)")
    parser.add_argument("--threads", type=int, default=1, help="CPU intra-op threads")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="free cores the runs are spread over, one run each (default: this machine's)")
    parser.add_argument("--jacobian-projections", type=int, default=None,
                        help="the Jacobian runs with k random projections a sample (Hoffman et al. 2019; the "
                             "objective's `projections` option) instead of the exact eq. 12")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    main_steps = args.steps or (EPOCH_STEPS if on_gpu else 50)
    other_steps = args.other_steps or (200 if on_gpu else 10)
    t0 = time.perf_counter()
    x, y, source = beats(args.data, max(EPOCH_STEPS * BATCH if on_gpu else 50 * BATCH, BATCH))
    x_attack, y_attack = x[: args.beats], y[: args.beats]
    name = torch.cuda.get_device_name(device) if on_gpu else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device {device} ({name}); torch {torch.__version__}; data: {source}; data ready in {time.perf_counter() - t0:.1f} s")
    measured = measure(device, x, y, x_attack, y_attack, main_steps=main_steps, other_steps=other_steps, args=args)
    result = {"device": device.type, "measured": measured,
              "projected": report(f"{device.type.upper()}: {name}", measured, len(y_attack), args, cpu_clock=not on_gpu)}
    if on_gpu:
        cpu = measure(torch.device("cpu"), x, y, x[: args.cpu_beats], y[: args.cpu_beats],
                      main_steps=args.cpu_steps, other_steps=args.cpu_steps, args=args)
        result["cpu_measured"] = cpu
        result["cpu_projected"] = report(f"CPU of this machine, {torch.get_num_threads()} thread(s)", cpu,
                                         args.cpu_beats, args, cpu_clock=True)
    else:
        print("\nno GPU here: the projection above is this CPU's (measured); the GPU's is not measured")
    print(f"\nassumptions: epoch = {EPOCH_STEPS} steps of {BATCH}; attacks scaled linearly in beats, eps count, steps "
          "and queries; each attack on every beat (an upper bound for the ensemble); the attacked model trained "
          f"only {main_steps} (CNN) / {other_steps} (MLP) steps, so early-stopping attacks may stop sooner than "
          f"on a 50-epoch model; validation passes and checkpoints not counted. Whole script: "
          f"{time.perf_counter() - t0:.0f} s")
    return result


if __name__ == "__main__":
    main()
