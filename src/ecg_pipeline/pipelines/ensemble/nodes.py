"""Ensemble nodes: train a member, cache a member's training-set features, assemble, run the transfer study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecg_pipeline.defenses import TrainingConfig, fit
from ecg_pipeline.defenses.decorrelation import training_features
from ecg_pipeline.defenses.fit import data_fingerprint
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.ensemble import feature_r2_matrix, transfer_study
from ecg_pipeline.evaluation.evaluate import provenance
from ecg_pipeline.models.ensemble import Ensemble
from ecg_pipeline.run_context import kedro_command

from ..declaration.ensembles import member_params
from ..declaration.expansion import expanded_params
from ..declaration.model import RUN_KEYS, EnsembleDecl
from ..training.nodes import resume_command


def train_member(train_set: dict, validation_set: dict, checkpoints: Path, base_params: dict, *previous: dict,
                 ensemble: EnsembleDecl, member_index: int,
                 expansion: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """Member ``member_index`` of ``ensemble``: the base run's configuration (see ``member_params``; ``base_params``
    is its block's, ``expansion`` what the base run sets over them: its seed and data on another split), decorrelated
    from ``previous`` (the earlier members' cached features) when the ensemble says so."""
    name = ensemble.members[member_index]
    section = f"ensembles.{ensemble.declared_as}"
    config = TrainingConfig.from_params(member_params(expanded_params(base_params, expansion), ensemble, member_index),
                                        section, ignore=RUN_KEYS)
    if previous:
        expected = data_fingerprint(train_set)
        for member, cached in zip(ensemble.members, previous):
            if str(cached["data_fingerprint"]) != expected:
                raise EcgDataError(f"{name}: the cached features of {member} belong to another training split than "
                                   f"this member's (labels or signals differ): rerun "
                                   f"`{kedro_command('--pipelines=train_ens', f'--namespaces={member}')}` on this data")
        # per sample, every earlier member's features: the decorrelation objective's per-sample array
        train_set = {**train_set, "previous_features": np.stack([np.asarray(c["features"], np.float32) for c in previous], 1)}
    model, meta, history = fit(config, train_set, validation_set, checkpoints=checkpoints, run_name=name,
                               resume_command=resume_command("train_ens", name))
    meta["ensemble"] = ensemble.name
    return {"model": model, "meta": meta}, pd.DataFrame(history)


def member_features(model, train_set: dict) -> dict:
    """The member's features on every training sample, with the split's fingerprint."""
    return {"features": training_features(model, train_set), "data_fingerprint": np.asarray(data_fingerprint(train_set)),
            "classes": np.asarray(train_set.get("classes", []))}


def assemble(*members, ensemble: EnsembleDecl) -> dict:
    """The deployed ensemble (one registry model): every member must have been trained on the same label set."""
    metas = [getattr(m, "meta", None) or {} for m in members]
    class_lists = [list(meta.get("classes") or []) for meta in metas]
    if any(c and c != class_lists[0] for c in class_lists):
        raise EcgDataError(f"ensemble {ensemble.name}: its members were trained on different label sets: "
                           + "; ".join(f"{n}: {c}" for n, c in zip(ensemble.members, class_lists)))
    splits = {n: str(meta["data_fingerprint"]) for n, meta in zip(ensemble.members, metas) if meta.get("data_fingerprint")}
    if len(set(splits.values())) > 1:
        raise EcgDataError(f"ensemble {ensemble.name}: its members were trained on different training splits "
                           f"(data fingerprints {splits}); retrain them on one split: "
                           f"`{kedro_command('--pipelines=train_ens', f'--tags={ensemble.name}')}` after the base run")
    model = Ensemble.of(list(members), combine=ensemble.combine)
    return {"model": model, "meta": {"run": ensemble.name, "members": list(ensemble.members), "classes": class_lists[0],
                                     "combine": ensemble.combine}}


def ensemble_transfer(model, test_set: dict, params: dict, *features: dict, ensemble: EnsembleDecl) -> dict:
    """The transfer study of seed 004 on the test split, and the members' pairwise feature R^2 on the training set."""
    params = dict(params)
    known = {"grid", "attacks", "bounds", "per_class", "seed"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise EcgDataError(f"parameters 'ensemble_transfer': unknown key(s) {unknown}; expected {sorted(known)}")
    study = transfer_study(model, test_set, grid=params["grid"], attacks=params["attacks"], bounds=params.get("bounds"),
                           per_class=params.get("per_class"), seed=params.get("seed", 0))
    study["members"] = list(ensemble.members)
    study["feature_r2"] = feature_r2_matrix([f["features"] for f in features]).tolist()
    study["settings"] = params
    study["provenance"] = provenance(model, test_set)
    return study
