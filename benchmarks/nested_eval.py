"""Benchmark: the nested ``autoattack`` evaluation (issue 27) beside the old one, eps by eps independently, on the
zoo's ``nsr_mlp`` and its real MIT-BIH test beats, in one run: wall and CPU time of each, the ratios, and the per-beat
comparison (beats broken by the new evaluation only, by the old only: the second must be 0).

    python benchmarks/nested_eval.py [--data ../shared/data] [--per-class 250] [--workers 1] [--threads 1]
                                     [--no-escalation] [--model PATH] [--attacks apgd_ce,apgd_t,square]
                                     [--only old|new] [--per-member]

Model: ``zoo/nsr_mlp/model.pt``, or ``--model`` (any stored model file of the MIT-BIH test split's beats, e.g. a
50-epoch ``nsr_cnn``; ``--attacks`` overrides the suite's members, e.g. issue 27's old suite without FAB-T).
``--only``: one of the two evaluations (the old one on an NSR CNN takes most of an hour). ``--per-member``: the CPU
time of each AutoAttack member at each effort (normal run, escalation rounds), to see where the time goes. Beats: the MIT-BIH test split rebuilt from raw as ``zoo check`` rebuilds it
(``ecg_pipeline.zoo.recheck.rebuild_split`` with the data parameters of the zoo evaluation's stamp), the seeded
class-balanced subset of ``--per-class`` beats per class (250: all 1,161 beats, F has 161). Attack: the
``autoattack`` block of ``conf/base/parameters_attack.yml`` (APGD-CE, APGD-T, FAB-T, Square, escalation) over the
MIT-BIH ``attack_defaults`` (the 7-eps grid, bounds [0, 1]); the masking diagnostics are left out (the same work in
both). Old: ``nested: false``; new: ``nested: true`` (the per-eps calls replayed bit for bit, Square once over
every standing (eps, beat) pair, breaks carried upward), ``--workers`` threads. Same model, beats and seed.
The machine's load average is printed before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.datasets.torch_model import TorchModelDataset
from ecg_pipeline.evaluation import AttackSpec
from ecg_pipeline.evaluation.robustness import evaluate_attack
from ecg_pipeline.attacks.registry import effort_keys, get_attack
from ecg_pipeline.runtime import torch_threads
from ecg_pipeline.zoo.recheck import rebuild_split
from ecg_pipeline.zoo.stamps import attack_spec_params, read_stamp

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def spec_from_conf(per_class: int, escalation: bool) -> tuple[AttackSpec, dict]:
    """The conf's autoattack block over the MIT-BIH attack defaults the zoo evaluation was stamped with."""
    stamp = read_stamp(ROOT / "zoo" / "nsr_mlp" / "evaluations" / "autoattack.provenance.json")["params"]
    _, stamped = attack_spec_params(stamp, "nsr_mlp", "autoattack")
    block = yaml.safe_load((ROOT / "conf" / "base" / "parameters_attack.yml").read_text())["attacks"]["autoattack"]
    merged = {**{k: v for k, v in stamped.items() if k not in ("params", "escalation", "diagnostics")}, **block,
              "per_class": per_class, "diagnostics": False, "progress": False}
    if not escalation:
        merged["escalation"] = None
    return AttackSpec.from_params(merged, "autoattack"), stamp


def time_members() -> tuple[dict, dict]:
    """Wrap each AutoAttack member so that its CPU time and the beats it was called on add up per (member, effort)."""
    from ecg_pipeline.attacks import autoattack as suite

    spent, beats = defaultdict(float), defaultdict(int)

    def timed(name, attack):
        def call(model, x, *args, **kwargs):
            key = (name, kwargs.get("steps", kwargs.get("max_queries")), kwargs.get("restarts"))
            start = time.process_time()
            out = attack(model, x, *args, **kwargs)
            spent[key] += time.process_time() - start
            beats[key] += x.shape[0]
            return out
        return call

    for name in list(suite._ATTACKS):
        suite._ATTACKS[name] = timed(name, suite._ATTACKS[name])
    return spent, beats


def run(model, batches: Batches, spec: AttackSpec, params: dict) -> tuple[float, float, dict, dict]:
    """(wall s, CPU s of this process, metrics, examples): on a shared machine the CPU time is the steadier figure."""
    attack = get_attack(spec.attack)
    start, cpu = time.perf_counter(), time.process_time()
    with torch_threads(spec.num_threads):
        metrics, examples = evaluate_attack(
            model, batches, attack, grid=spec.grid, attack_params=params, bounds=spec.bounds, eps_max=spec.eps_max,
            per_class=spec.per_class, batch_size=spec.batch_size, seed=spec.seed, progress=False, name="model",
            escalation=spec.escalation, effort_keys=effort_keys(spec.attack))
    return time.perf_counter() - start, time.process_time() - cpu, metrics, examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-class", type=int, default=250)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-escalation", action="store_true")
    parser.add_argument("--model", type=Path, default=ROOT / "zoo" / "nsr_mlp" / "model.pt")
    parser.add_argument("--attacks", help="comma-separated AutoAttack members (default: the conf's)")
    parser.add_argument("--only", choices=("old", "new"))
    parser.add_argument("--per-member", action="store_true")
    args = parser.parse_args()

    spec, stamp = spec_from_conf(args.per_class, not args.no_escalation)
    spec = dataclasses.replace(spec, num_threads=args.threads)
    if args.attacks:
        spec = dataclasses.replace(spec, params={**spec.params, "attacks": args.attacks.split(",")})
    if not args.model.is_file():
        raise SystemExit(f"--model {args.model}: no such model file (expected a stored model, e.g. "
                         "data/06_models/nsr_cnn.pt/<version>/nsr_cnn.pt)")
    model = TorchModelDataset(filepath=str(args.model)).load()
    batches = Batches(rebuild_split("mitdb", stamp, args.data))
    spent, beats = time_members() if args.per_member else ({}, {})
    print(f"{args.model}, autoattack {dict(spec.params)}, escalation {spec.escalation}, grid {list(spec.grid)}, "
          f"{args.per_class} beats per class, {args.threads} torch thread(s), new with {args.workers} worker(s)")
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    results = {}
    for label, params in (("old", {"nested": False}), ("new", {"nested": True, "workers": args.workers})):
        if args.only in (None, label):
            results[label] = run(model, batches, spec, {**spec.params, **params})
            print(f"load average after {label}: {os.getloadavg()[0]:.2f}")
            report_members(label, spent, beats)
    if len(results) == 1:
        (label, (t, c, m, _)), = results.items()
        print(f"{label}: wall {t:.1f} s, CPU {c:.1f} s, ACC_robust (balanced) {m['acc_robust_balanced']:.4f}")
        report_escalation(label, m)
        return
    (t_old, c_old, m_old, e_old), (t_new, c_new, m_new, e_new) = results["old"], results["new"]

    assert np.array_equal(e_old["subset"], e_new["subset"])
    y = e_old["subset_y"][None, :]
    broken_old, broken_new = e_old["pred"] != y, e_new["pred"] != y
    nested = bool((broken_new[:-1] <= broken_new[1:]).all())
    closure = np.logical_or.accumulate(broken_old, axis=0)  # the old outcome, each break carried to larger eps
    print(f"\n{e_old['subset'].size} beats; wall: old {t_old:.1f} s, new {t_new:.1f} s: new is {t_old / t_new:.2f}x faster; "
          f"CPU: old {c_old:.1f} s, new {c_new:.1f} s: {c_old / c_new:.2f}x")
    print(f"{'eps':>6} {'acc old':>8} {'acc new':>8} {'new only':>9} {'old only':>9}")
    for g, eps in enumerate(spec.grid):
        print(f"{eps:>6g} {m_old['curve'][g]['accuracy']:>8.4f} {m_new['curve'][g]['accuracy']:>8.4f} "
              f"{int((broken_new[g] & ~broken_old[g]).sum()):>9d} {int((broken_old[g] & ~broken_new[g]).sum()):>9d}")
    print(f"ACC_robust (balanced) old {m_old['acc_robust_balanced']:.4f}, new {m_new['acc_robust_balanced']:.4f}; "
          f"beats broken by new only {int((broken_new & ~broken_old).sum())}, by old only "
          f"{int((broken_old & ~broken_new).sum())} (eps x beat pairs); new outcome nested: {nested}; new == the old "
          f"outcome carried upward: {bool(np.array_equal(broken_new, closure))}")
    for label, m in (("old", m_old), ("new", m_new)):
        report_escalation(label, m)


def report_escalation(label: str, metrics: dict) -> None:
    if "escalation" in metrics:
        r = metrics["escalation"]
        print(f"escalation {label}: {r['doublings']} doubling(s), {r['stopped']}, {r['added']} added, "
              f"{r['seconds']:.1f} s; attacked per round {[sum(x['attacked']) for x in r['rounds'][1:]]}")


def report_members(label: str, spent: dict, beats: dict) -> None:
    """Per (member, steps or queries, restarts), the CPU time since the last report, and the beats attacked."""
    for key in sorted(spent, key=lambda k: -spent[k]):
        print(f"  {label} {key[0]} at {key[1]} steps/queries x {key[2] or 1}: CPU {spent[key]:.1f} s, {beats[key]} beats")
    spent.clear()
    beats.clear()


if __name__ == "__main__":
    main()
