"""The attack-evaluation template: one node, instantiated per (trained model, attack) by namespace.

Instance ``<run>.<attack>`` reads ``<run>.model``, an evaluation split and ``params:attacks.<attack>``
and writes ``<run>.<attack>.metrics`` (versioned JSON: the curve over the grid, per-class
sensitivity/specificity, ACC_robust / F1_robust) and ``<run>.<attack>.examples`` (versioned npz:
clean and adversarial versions of a few beats per class, for the report's figures).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline

from ecg_pipeline.attacks.noise import resample_noise
from ecg_pipeline.attacks.registry import SEARCHES, get_attack
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.runtime import resolve_device, torch_threads
from ecg_pipeline.evaluation.robustness import evaluate_attack

from .params import bound_node_function

EVALUATION_KEYS = {"attack", "grid", "grid_param", "params", "eps", "bounds", "eps_max", "per_class", "batch_size",
                   "seed", "keep_per_class", "device", "progress", "noise_record", "noise_channel",
                   "num_threads"}


def _check_params(params: dict, where: str) -> None:
    unknown = sorted(set(params) - EVALUATION_KEYS)
    if unknown:
        raise EcgDataError(f"parameters '{where}': unknown key(s) {unknown}; expected some of {sorted(EVALUATION_KEYS)}")
    if "attack" not in params or "grid" not in params:
        raise EcgDataError(f"parameters '{where}': 'attack' (a name) and 'grid' (a list of values) are required")


def evaluate(model, data: dict, params: dict, name: str, noise: pd.DataFrame | None = None):
    """Attack ``model`` over the grid in ``params``; returns (metrics, examples)."""
    _check_params(params, f"attacks of {name}")
    attack = get_attack(params["attack"])
    batches = Batches(data)
    expected = model.meta.get("classes") if hasattr(model, "meta") else None
    if expected and batches.classes and list(expected) != list(batches.classes):
        raise EcgDataError(f"{name}: the model was trained on classes {expected}, the evaluation set has {batches.classes}")
    attack_params = dict(params.get("params") or {})
    if noise is not None:
        record, channel = params.get("noise_record", "em"), params.get("noise_channel", "noise1")
        rows = noise[(noise["record_id"] == record) & (noise["lead"] == channel)]
        if rows.empty:
            raise EcgDataError(f"{name}: NSTDB noise {record}/{channel} is not in nstdb_noise (records {sorted(set(noise['record_id']))})")
        fs_to = float(data["fs"]) if "fs" in data else float(rows["fs"].iloc[0])
        attack_params["noise"] = resample_noise(np.asarray(rows["signal"].iloc[0]), float(rows["fs"].iloc[0]), fs_to)
        attack_params.setdefault("fs", fs_to)
    bounds = tuple(params["bounds"]) if params.get("bounds") is not None else None
    with torch_threads(params.get("num_threads")):
        metrics, examples = evaluate_attack(
            model, batches, attack,
            grid=params["grid"], grid_param=params.get("grid_param", "eps"), attack_params=attack_params,
            eps=params.get("eps"), bounds=bounds, eps_max=params.get("eps_max"), per_class=params.get("per_class"),
            batch_size=params.get("batch_size", 512), seed=params.get("seed", 0),
            keep_per_class=params.get("keep_per_class", 2), device=resolve_device(params.get("device", "auto")),
            progress=params.get("progress", True), name=name, search=SEARCHES.get(params["attack"]),
        )
    metrics = {"run": name, "attack": params["attack"], "params": {k: v for k, v in attack_params.items() if k != "noise"},
               "model": getattr(model, "meta", {}), **metrics}
    examples["classes"] = np.asarray(batches.classes or [], dtype=str)
    return metrics, examples


def _evaluate_node(model, data, params, noise=None, *, name: str):
    return evaluate(model, data, params, name=name, noise=noise)


def attack_pipeline(run: str, attack: str, *, split: str = "mitdb_test", suffix: str = "", tags: tuple[str, ...] = ()) -> Pipeline:
    """Instance ``<run>.<attack><suffix>`` of the template (parameters: ``params:attacks.<attack>``)."""
    name = f"{run}.{attack}{suffix}"
    needs_noise = attack.startswith("real_noise")
    inputs = ["model", "data", "params:attack"] + (["nstdb_noise"] if needs_noise else [])

    template = Pipeline([Node(bound_node_function(_evaluate_node, name=name), inputs, ["metrics", "examples"], name="evaluate")])
    return Pipeline(
        template,
        namespace=name,
        inputs={"model": f"{run}.model", "data": split, **({"nstdb_noise": "nstdb_noise"} if needs_noise else {})},
        parameters={"params:attack": f"params:attacks.{attack}"},
        tags=(run, attack, *tags),
    )
