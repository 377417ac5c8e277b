"""The training template: one node, instantiated per run by namespace (``train_ce``, ``train_nsr``, ...).

An instance ``<run>`` reads ``params:<run>`` and the model-input sets, and writes:
``<run>.model`` (versioned state_dict + config), ``<run>.history`` (versioned per-epoch table),
and checkpoints in the folder ``<run>.checkpoints`` (resumed when the same run is started again).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.objectives import build_objective
from ecg_pipeline.defenses.trainer import fingerprint, train
from ecg_pipeline.models import build_model
from ecg_pipeline.models.registry import model_spec

from .params import bound_node_function

log = logging.getLogger(__name__)

TRAINING_KEYS = {
    "model", "objective", "optimizer", "lr", "optimizer_args", "batch_size", "epochs", "seed", "device",
    "max_batches_per_epoch", "max_shift", "progress", "num_threads",
}


def train_model(train_set: dict, validation_set: dict, checkpoints: Path, params: dict, run_name: str):
    """Build the model and objective from ``params``, train, return (model payload, history table)."""
    unknown = sorted(set(params) - TRAINING_KEYS)
    if unknown:
        raise EcgDataError(f"parameters '{run_name}': unknown key(s) {unknown}; expected some of {sorted(TRAINING_KEYS)}")
    import torch

    torch.manual_seed(params.get("seed", 0))
    model_cfg = dict(params["model"])
    model = build_model(model_cfg.pop("name"), **model_cfg)
    objective_cfg = dict(params.get("objective") or {"name": "ce"})
    objective = build_objective(objective_cfg.pop("name"), **objective_cfg)
    train_data = Batches(train_set, max_shift=params.get("max_shift"))
    validation_data = Batches(validation_set)
    n_out = model(train_data.take(np.arange(1))[0]).shape[-1] if not getattr(model, "uses_mask", False) else None
    if n_out is not None and n_out != train_data.n_classes:
        raise EcgDataError(f"{run_name}: model has {n_out} outputs but the training set has {train_data.n_classes} classes")
    run_id = fingerprint(
        {k: v for k, v in params.items() if k not in ("epochs", "progress", "device", "num_threads")},
        train_set["y"], train_set.get("x", train_set.get("values")),
    )
    model, history = train(
        model, train_data, validation_data,
        objective=objective,
        epochs=params["epochs"],
        batch_size=params.get("batch_size", 128),
        optimizer=params.get("optimizer", "adamax"),
        lr=params.get("lr", 1e-3),
        optimizer_args=params.get("optimizer_args"),
        seed=params.get("seed", 0),
        device=params.get("device", "auto"),
        checkpoint_dir=Path(checkpoints) / run_id,
        run_fingerprint=run_id,
        max_batches_per_epoch=params.get("max_batches_per_epoch"),
        progress=params.get("progress", True),
        run_name=run_name,
        num_threads=params.get("num_threads"),
    )
    model.cpu()
    last = history[-1] if history else {}
    meta = {"run": run_name, "fingerprint": run_id, "epochs": len(history), "objective": params.get("objective"),
            "classes": train_data.classes, "final": {k: v for k, v in last.items() if isinstance(v, (int, float))}}
    log.info("%s: trained %s for %d epochs (%s)", run_name, model_spec(model)["name"], len(history),
             ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.startswith("val_")))
    return {"model": model, "meta": meta}, pd.DataFrame(history)


def _train_node(train_set, validation_set, checkpoints, params, *, run_name: str, overrides: dict | None = None):
    return train_model(train_set, validation_set, checkpoints, with_overrides(params, overrides, run_name), run_name=run_name)


def with_overrides(params: dict, overrides: dict | None, run_name: str) -> dict:
    """``params`` with dotted keys of ``overrides`` replaced (``{"objective.beta": 0.2}``); a key that
    does not address an existing entry is an error naming the run."""
    if not overrides:
        return params
    params = copy.deepcopy(dict(params))
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            if not isinstance(section.get(key), dict):
                raise EcgDataError(f"{run_name}: cannot set '{dotted}': the base parameters have no section '{key}'")
            section = section[key]
        if leaf not in section:
            raise EcgDataError(f"{run_name}: cannot set '{dotted}': the base parameters have no key '{leaf}' there "
                               f"(it has {sorted(section)})")
        section[leaf] = value
    return params


def training_pipeline(run: str, *, train: str = "mitdb_train_balanced", validation: str = "mitdb_validation",
                      params_from: str | None = None, overrides: dict | None = None,
                      tags: tuple[str, ...] = ()) -> Pipeline:
    """Instance ``run`` of the training template.

    Parameters come from ``params:<params_from or run>``, with ``overrides`` (dotted keys) applied:
    that is how a sweep member shares its base run's settings and changes one value.
    The node function pickles (``ParallelRunner`` ships nodes to worker processes): see
    :func:`~ecg_pipeline.pipelines.params.bound_node_function`.
    """
    node_func = bound_node_function(_train_node, run_name=run, overrides=overrides)
    template = Pipeline([Node(node_func, ["train", "validation", "checkpoints", "params:training"], ["model", "history"],
                              name="train")])
    return Pipeline(
        template,
        namespace=run,
        inputs={"train": train, "validation": validation},
        parameters={"params:training": f"params:{params_from or run}"},
        tags=(run, *tags),
    )
