"""GPU check of the CPSC 2018 study: step time and memory of the four declared runs on batches of 64 real
records (8 x 33,792, full-width masked ResNet), one 100-step PGD batch, and the projected time of the study.

    python benchmarks/cpsc_gpu_check.py                 # on a CUDA machine: device auto, under 10 minutes
    python benchmarks/cpsc_gpu_check.py --steps 1 --other-steps 1 --batch 4 --width 4   # a wiring check on CPU

Times ``--steps`` steps of nsr_cpsc (regulariser on), ``--other-steps`` of ce_cpsc, jacob_cpsc and adv_cpsc
(each after the warm-up, and of the warm-up phase, where NSR is MSE alone and the others are CE), and one
batch of pgd_cpsc (100 steps of eps / 10 at eps 0.01) on the NSR model. Memory: torch.cuda.max_memory_allocated
per run (on CPU: the process's peak RSS). The projection multiplies the measured step times by the full
study's counts (real REFERENCE.csv, conf/base): batches per balanced epoch x epochs for each run, and the
PGD batches of the test (450 records, 8 non-zero eps) and validation (45) evaluations, plus the three
sweeps; the rest of the attack suite is not projected. Every loop stops early once ``--budget-s`` is spent.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpsc_common import DEFAULT_DATA, RUNS, base_parameters, build, sample_batches, study_size, sync, time_steps  # noqa: E402

from ecg_pipeline.attacks.pgd import pgd  # noqa: E402
from ecg_pipeline.pipelines.declaration import read_declaration  # noqa: E402
from ecg_pipeline.runtime import resolve_device  # noqa: E402


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps of nsr_cpsc")
    parser.add_argument("--other-steps", type=int, default=20, help="timed steps of each other run and phase")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=None, help="ResNet width (default: the declared 64)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budget-s", type=float, default=480.0, help="stop timing loops once this is spent")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    start = time.perf_counter()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {device} ({name}); torch {torch.__version__}; batch {args.batch}; width {args.width or 64}")
    x, y, mask = (t.to(device) for t in sample_batches(args.data, args.batch))
    size = study_size(args.data)
    share = args.budget_s / 6  # per run and phase, so that the last measurements still get their turn

    rows = {}
    for run in RUNS:
        config, model, objective, opt = build(run, args.width, device)
        active = int(config.objective.get("start_epoch", 1))
        steps = args.steps if run == "nsr_cpsc" else args.other_steps
        reset_peak(device)
        phases = {}
        if active > 1:  # the warm-up phase: MSE alone (NSR) or CE (Jacobian, adversarial)
            phases["warm-up"] = time_steps(model, objective, opt, x, y, mask, epoch=1, steps=args.other_steps,
                                           device=device, deadline=time.perf_counter() + share / 2)[0]
        phases["on"] = time_steps(model, objective, opt, x, y, mask, epoch=max(active, 1) + 10, steps=steps,
                                  device=device, deadline=time.perf_counter() + share)[0]
        rows[run] = {"phases": {k: statistics.median(v) for k, v in phases.items()},
                     "steps": {k: len(v) for k, v in phases.items()}, "memory": peak_memory_gb(device),
                     "warm_up_epochs": active - 1}
        if run == "nsr_cpsc":
            attacked = model
        else:
            del model, opt
    params = base_parameters()
    spec = read_declaration(params).attacks["pgd_cpsc"]
    attacked.eval()
    reset_peak(device)
    sync(device)
    t = time.perf_counter()
    pgd(attacked, x, y, 0.01, mask=mask, bounds=spec.bounds, seed=0, **spec.params)
    sync(device)
    pgd_batch = time.perf_counter() - t
    pgd_memory = peak_memory_gb(device)

    batches, epochs = size["batches_per_epoch"], size["epochs"]
    print(f"full study: {size['records']} records, {size['single_label']} single-label, {size['train']} training "
          f"(largest class {size['largest_class']}), balanced epoch {size['balanced_epoch']} = {batches} batches "
          f"of {size['batch_size']}, {epochs} epochs")
    if args.batch != size["batch_size"] or args.width is not None:
        print(f"(measured at batch {args.batch}, width {args.width or 64}: the projection below is that of a "
              f"study at this scale's step times, not the declared one's)")
    print(f"{'run':<11} {'s/step warm-up':>15} {'s/step on':>10} {'steps':>9} {'peak GB':>8} {'one run':>9}")
    total = {}
    for run, r in rows.items():
        warm, on = r["phases"].get("warm-up", r["phases"]["on"]), r["phases"]["on"]
        seconds = batches * (r["warm_up_epochs"] * warm + (epochs - r["warm_up_epochs"]) * on)
        total[run] = seconds
        print(f"{run:<11} {warm:>15.3f} {on:>10.3f} {'/'.join(str(v) for v in r['steps'].values()):>9} "
              f"{r['memory']:>8.2f} {hours(seconds):>9}")
    eps = [e for e in spec.grid if e > 0]
    test_pgd = math.ceil(size["test"] / args.batch) * len(eps) * pgd_batch  # the attack's batches of --batch
    val_pgd = math.ceil(size["validation"] / args.batch) * len(eps) * pgd_batch
    print(f"pgd_cpsc: one batch of {args.batch} at eps 0.01, {spec.params['steps']} steps: {pgd_batch:.2f} s, "
          f"peak {pgd_memory:.2f} GB; test split ({size['test']} records x {len(eps)} eps) {hours(test_pgd)}, "
          f"validation {hours(val_pgd)} per model")
    runs = sum(total.values()) + len(total) * (test_pgd + val_pgd)
    sweeps = sum(len(s["values"]) * (total[s["run"]] + val_pgd) for s in params["sweeps"].values() if s["run"] in total)
    print(f"projected: the four runs with pgd_cpsc on test and validation {hours(runs)}; the three sweeps "
          f"({sum(len(s['values']) for s in params['sweeps'].values() if s['run'] in total)} members with "
          f"validation PGD) {hours(sweeps)}; the rest of the suite (SAP, white noise, APGD, Square) not included")
    print(f"this check took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
