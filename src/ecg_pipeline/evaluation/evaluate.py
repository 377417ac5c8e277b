"""``evaluate``: the domain entry point of attack evaluation: a model, a split and an AttackSpec in, metrics out.

It owns what the attack needs beyond the spec: the attack function, the NSTDB noise, the device and
the thread count, so a strength travels from conf/ down to the attack without climbing back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from ecg_pipeline.attacks.noise import nstdb_noise
from ecg_pipeline.attacks.registry import SEARCHES, get_attack
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.runtime import resolve_device, torch_threads

from .robustness import evaluate_attack
from .spec import AttackSpec


def evaluate(model: nn.Module, data: dict, spec: AttackSpec, *, name: str,
             noise_table: pd.DataFrame | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Attack ``model`` on ``data`` (a model-input split) over ``spec``'s grid; returns (metrics, examples).

    ``metrics``: the curve over the grid, per-class sensitivity/specificity, ACC_robust / F1_robust,
    the run, the attack and its parameters, the model's meta. ``examples``: clean and adversarial
    versions of a few beats per class.
    """
    attack = get_attack(spec.attack)
    batches = Batches(data)
    classes = list(getattr(model, "meta", {}).get("classes") or [])
    if classes and batches.classes and classes != list(batches.classes):
        raise EcgDataError(f"{name}: the model was trained on classes {classes}, the evaluation set has {batches.classes}")
    attack_params = dict(spec.params)
    if spec.needs_noise:
        if noise_table is None:
            raise EcgDataError(f"{name}: attack {spec.attack!r} adds NSTDB noise {spec.noise_record}, but no noise table "
                               "was given (the nstdb_noise dataset)")
        fs = float(data["fs"]) if "fs" in data else None
        attack_params["noise"] = nstdb_noise(noise_table, spec.noise_record, spec.noise_channel, fs)
        if fs is not None:
            attack_params.setdefault("fs", fs)
    with torch_threads(spec.num_threads):
        metrics, examples = evaluate_attack(
            model, batches, attack, grid=spec.grid, grid_param=spec.grid_param, attack_params=attack_params,
            eps=spec.eps, bounds=spec.bounds, eps_max=spec.eps_max, per_class=spec.per_class,
            batch_size=spec.batch_size, seed=spec.seed, keep_per_class=spec.keep_per_class,
            device=resolve_device(spec.device), progress=spec.progress, name=name, search=SEARCHES.get(spec.attack),
        )
    metrics = {"run": name, "attack": spec.attack, "params": {k: v for k, v in attack_params.items() if k != "noise"},
               "model": getattr(model, "meta", {}), **metrics}
    examples["classes"] = np.asarray(batches.classes or [], dtype=str)
    return metrics, examples
