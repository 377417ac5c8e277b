"""``evaluate``: the domain entry point of attack evaluation: a model, a split and an AttackSpec in, metrics out.

It owns what the attack needs beyond the spec: the attack function, the NSTDB noise, the device and
the thread count, so a strength travels from conf/ down to the attack without climbing back; and,
when the spec asks for them, the gradient-masking diagnostics of :mod:`.diagnostics`.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecg_pipeline import run_provenance
from ecg_pipeline.attacks.noise import nstdb_noise
from ecg_pipeline.attacks.registry import SEARCHES, effort_keys, get_attack
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of
from ecg_pipeline.runtime import resolve_device, torch_threads

from . import diagnostics
from .gradients import logit_gradient_norms
from .robustness import evaluate_attack
from .spec import AttackSpec

log = logging.getLogger(__name__)


def evaluate(model: nn.Module, data: dict, spec: AttackSpec, *, name: str, noise_table: pd.DataFrame | None = None,
             reference: nn.Module | None = None, reference_name: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Attack ``model`` on ``data`` (a model-input split) over ``spec``'s grid; returns (metrics, examples).

    ``metrics``: the curve over the grid, per-class sensitivity/specificity, ACC_robust / F1_robust,
    the run, the attack and its parameters, the model's meta, and with ``spec.diagnostics`` the masking
    flags (``reference``: the model the transfer check crafts its examples on). ``examples``: the
    per-beat outcome and clean/adversarial versions of a few beats per class.
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
    device = resolve_device(spec.device)
    with torch_threads(spec.num_threads):
        metrics, examples = evaluate_attack(
            model, batches, attack, grid=spec.grid, grid_param=spec.grid_param, attack_params=attack_params,
            eps=spec.eps, bounds=spec.bounds, eps_max=spec.eps_max, per_class=spec.per_class,
            batch_size=spec.batch_size, seed=spec.seed, keep_per_class=spec.keep_per_class,
            device=device, progress=spec.progress, name=name, search=SEARCHES.get(spec.attack),
            escalation=spec.escalation, effort_keys=effort_keys(spec.attack),
        )
        if spec.diagnostics:
            metrics["flags"] = masking_flags(model, batches, spec, attack, attack_params, metrics, examples,
                                             device=device, reference=reference, reference_name=reference_name)
            log.info("%s: gradient-masking flags raised: %s", name, ", ".join(diagnostics.raised(metrics["flags"]))
                     or f"none of {len(metrics['flags'])}")
        record = provenance(model, data)  # within the evaluation's thread count
    metrics = {"run": name, "attack": spec.attack, "params": {k: v for k, v in attack_params.items() if k != "noise"},
               "model": getattr(model, "meta", {}), **metrics, "provenance": record}
    examples["classes"] = np.asarray(batches.classes or [], dtype=str)
    return metrics, examples


def provenance(model: nn.Module, data: dict) -> dict:
    """What an evaluation of ``model`` on ``data`` was made with and on: :func:`ecg_pipeline.run_provenance.collect`,
    the model (``fingerprint`` of its training run, stored ``version``, ``data_fingerprint`` of its training split)
    and the evaluated split (stored ``version`` and ``fingerprint``: equal to the model's ``data_fingerprint`` only
    when a model is judged on its own training beats). Versions are None outside a Kedro run."""
    meta = getattr(model, "meta", None) or {}
    model_source, data_source = run_provenance.loaded_as(model), run_provenance.loaded_as(data)
    return {
        **run_provenance.collect(),
        "model": {"fingerprint": meta.get("fingerprint"), "version": model_source.get("version"),
                  "data_fingerprint": meta.get("data_fingerprint"), "dataset": model_source.get("dataset")},
        "test_data": {"dataset": data_source.get("dataset"), "version": data_source.get("version"),
                      "fingerprint": run_provenance.data_fingerprint(data) if "y" in data else None},
    }


def masking_flags(model: nn.Module, batches: Batches, spec: AttackSpec, attack, attack_params: dict, metrics: dict,
                  examples: dict, *, device, reference: nn.Module | None = None,
                  reference_name: str | None = None) -> list[dict]:
    """The Carlini et al. checks for one evaluation (see :mod:`.diagnostics`); the costly ones on a seeded
    class-balanced subsample of ``spec.diagnostics_per_class`` beats per class."""
    if spec.grid_param != "eps":
        return []
    grid = list(spec.grid)
    flags = diagnostics.curve_flags(grid, [row["balanced_accuracy"] for row in metrics["curve"]])
    if "broken_by" in examples and "square" in attack_params.get("attacks", ("apgd_ce", "apgd_t", "square")):
        index = list(attack_params.get("attacks", ("apgd_ce", "apgd_t", "square"))).index("square")
        flags.append(diagnostics.gradient_free_flag(examples["subset"].size, (examples["broken_by"] == index).sum(1),
                                                    grid))
    picked = balanced_subset(examples["subset_y"], spec.diagnostics_per_class, spec.seed)
    x, y, mask = batches.take(examples["subset"][picked])
    x, y = x.to(device), y.to(device)
    mask = mask.to(device) if mask is not None else None
    flags.append(diagnostics.zero_gradient_flag(logit_gradient_norms(model, x, y, mask=mask)["ce_grad_zero_fraction"]))

    def accuracy(x_adv) -> float:  # clean-wrong beats stay wrong
        with torch.inference_mode():
            pred = logits_of(model, x_adv, mask).argmax(1).cpu().numpy()
        clean = examples["pred"][_index_of(grid, 0.0)][picked] if 0.0 in grid else pred
        return float(np.mean((pred == y.cpu().numpy()) & (clean == y.cpu().numpy())))

    # The eps where the configured attack leaves about half the clean accuracy: where more effort can show.
    accuracy_by_eps = [row["accuracy"] for row in metrics["curve"]]
    eps = float(min((e for e in grid if e > 0), default=max(grid),
                    key=lambda e: abs(accuracy_by_eps[grid.index(e)] - accuracy_by_eps[_index_of(grid, 0.0)] / 2)))
    if "escalation" in metrics:  # the escalation already ran more effort on every unbroken beat: its verdict
        flags.append(diagnostics.escalation_flag(metrics["escalation"]))
    else:
        configured = float(np.mean(examples["pred"][_index_of(grid, eps)][picked] == examples["subset_y"][picked]))
        more = _doubled_effort(attack, attack_params, effort_keys(spec.attack))
        found = attack(model, x, y, eps, mask=mask, bounds=spec.bounds, seed=spec.seed + 7919, **more)
        flags.append(diagnostics.effort_flag(configured, accuracy(found[0] if isinstance(found, tuple) else found),
                                             eps))
    if reference is not None:
        from ecg_pipeline.attacks.apgd import apgd_ce

        reference = reference.to(device)
        white_box, transfer = [], []
        for g, e in enumerate(grid):
            white_box.append(float(np.mean(examples["pred"][g][picked] == examples["subset_y"][picked])))
            crafted = apgd_ce(reference, x, y, e, mask=mask, bounds=spec.bounds, seed=spec.seed,
                              steps=int(attack_params.get("steps", 100))) if e > 0 else x
            transfer.append(accuracy(crafted))
        flags.append(diagnostics.transfer_flag(grid, white_box, transfer, reference_name or "the reference model"))
    return flags


def _index_of(grid: list[float], value: float) -> int:
    return int(np.argmin(np.abs(np.asarray(grid) - value)))


def _doubled_effort(attack, params: dict, keys: tuple[str, ...]) -> dict:
    """``params`` with each of the attack's effort hyper-parameters ``keys`` (declared by the algorithm:
    registry.effort_keys) doubled, its default where not set."""
    accepted = inspect.signature(attack).parameters
    more = dict(params)
    for key in keys:
        if key in accepted:
            value = params.get(key, accepted[key].default)
            if isinstance(value, int) and not isinstance(value, bool):
                more[key] = 2 * value
    return more
