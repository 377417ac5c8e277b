"""``fit``: the domain entry point of training: a model-input set and a configuration in, a trained model out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model
from ecg_pipeline.models.registry import check_mask_use, model_spec

import ecg_pipeline

from .config import TrainingConfig
from .identity import git_commit
from .checkpoints import fingerprint, run_identity
from .objective_base import as_objective
from .objectives import build_objective
from .trainer import train

log = logging.getLogger(__name__)


def data_fingerprint(train_set: dict) -> str:
    """What identifies a training split (labels and signals): a model's ``meta["data_fingerprint"]``, and the
    split that an ensemble member's cached features belong to."""
    return fingerprint(np.asarray(train_set["y"]), np.asarray(train_set.get("x", train_set.get("values"))))


def fit(config: TrainingConfig, train_set: dict, validation_set: dict | None, *, checkpoints: str | Path | None,
        run_name: str, resume_command: str | None = None) -> tuple[nn.Module, dict, list[dict]]:
    """:func:`fit_with_companions` without the companion models."""
    model, meta, history, _ = fit_with_companions(config, train_set, validation_set, checkpoints=checkpoints,
                                                  run_name=run_name, resume_command=resume_command)
    return model, meta, history


def fit_with_companions(config: TrainingConfig, train_set: dict, validation_set: dict | None, *,
                        checkpoints: str | Path | None, run_name: str,
                        resume_command: str | None = None) -> tuple[nn.Module, dict, list[dict], dict[str, nn.Module]]:
    """Build the model and objective of ``config``, train, and return (model on CPU, meta, history, companions):
    ``companions`` are the other models the objective trained, on CPU in eval mode (ECG-ATK-GAN's
    ``generator``; none for the other objectives).

    An objective's ``extras`` (per-sample arrays it reads from ``train_set`` besides the signals and labels) are
    part of the run's fingerprint; its ``check_training_set(model, train_data, batch_size)`` checks them against the
    model before anything trains (``defenses.objective_base.Objective``).

    Checkpoints go to ``checkpoints/<fingerprint>`` (the configuration without its epoch count, and the
    data): rerunning the same configuration resumes there as ``config.resume`` and the checkpoint's recorded
    identity allow (the table in ``defenses.checkpoints``; ``resume_command``, that rerun, is named when Ctrl-C
    stops training). ``meta`` records the run, its fingerprint, classes, final validation scores and the
    identity it was trained under (epochs asked, code version, CPU threads, device, package version, git
    commit), so that provenance travels with the model.
    """
    if not config.model.get("name"):
        raise EcgDataError(f"parameters '{config.section}.model': expected a mapping with a 'name', got {config.model!r}")
    check_mask_use(dict(config.model), "values" in train_set, f"{run_name} ('{config.section}.model.name')")
    torch.manual_seed(config.seed)
    model_args = dict(config.model)
    model = build_model(model_args.pop("name"), **model_args)
    objective_args = config.objective_params()
    objective = as_objective(build_objective(objective_args.pop("name"), **objective_args))
    try:
        train_data = Batches(train_set, max_shift=config.max_shift, balanced=config.sampler == "balanced",
                             extras=objective.extras,
                             extra_copies=dict(config.extra_copies) if config.extra_copies else None)
    except EcgDataError as err:
        raise EcgDataError(f"{run_name}: its training set: {err}") from None
    validation_data = Batches(validation_set) if validation_set is not None else None
    if not getattr(model, "uses_mask", False):
        n_out = model(train_data.take(np.arange(1))[0]).shape[-1]
        if n_out != train_data.n_classes:
            raise EcgDataError(f"{run_name}: model has {n_out} outputs but the training set has "
                               f"{train_data.n_classes} classes")
    objective.check_training_set(model, train_data, min(config.batch_size, len(train_data)))
    extras = [np.asarray(train_set[name]) for name in objective.extras]
    run_id = fingerprint(config.fingerprinted(epochs=False), train_set["y"], train_set.get("x", train_set.get("values")),
                         *extras)
    identity = {**run_identity(config, run_id), "data_fingerprint": data_fingerprint(train_set),
                "package_version": ecg_pipeline.__version__, "git_commit": git_commit()}
    model, history = train(model, train_data, validation_data, config, objective=objective,
                           checkpoint_dir=Path(checkpoints) / run_id if checkpoints is not None else None,
                           run_fingerprint=run_id, run_name=run_name, resume_command=resume_command, identity=identity)
    model.cpu()
    companions = {name: m.cpu().eval() for name, m in objective.companion_models().items()}
    last = history[-1] if history else {}
    meta = {"run": run_name, "fingerprint": run_id, "epochs": len(history), "objective": config.objective,
            "classes": train_data.classes, "data_fingerprint": identity["data_fingerprint"],
            "final": {k: v for k, v in last.items() if isinstance(v, (int, float))},
            "config_fingerprint": fingerprint(config.fingerprinted(), identity["data_fingerprint"]),
            **{key: identity[key] for key in ("code_version", "num_threads", "device", "cpu_capability", "package_version",
                                  "git_commit")}}
    selected = next((row for row in history if row.get("selected")), None)
    if selected is not None:
        meta["selected"] = {k: v for k, v in selected.items() if isinstance(v, (int, float))}
    log.info("%s: trained %s for %d epochs (%s)", run_name, model_spec(model)["name"], len(history),
             ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.startswith("val_")))
    return model, meta, history, companions
