"""Ensembles (seed 004): ``ensembles.<name>`` read and checked with every member's training configuration before
anything trains, and each member's run parameters derived from the base run's. A block with ``splits:`` stands for
one ensemble per split (:func:`.expansion.expand_ensemble`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.errors import EcgConfigError, EcgDataError

from .expansion import expand_ensemble, expanded_params
from .model import ENSEMBLE_KEYS, RUN_KEYS, SHARED_MEMBER_KEYS, EnsembleDecl, Run, Sweep
from .validation import block_name, check_training, require_mapping


def read_ensembles(parameters: Mapping[str, Any], runs: dict[str, Run], sweeps: dict[str, Sweep]) -> dict[str, EnsembleDecl]:
    """Every ``ensembles.<name>``, in declaration order (a block with ``splits:``: its own ensemble, then one per
    other split): those with members of their own first (an ensemble declared ``members_of`` another combines that
    one's members)."""
    declared = require_mapping(parameters.get("ensembles"), "ensembles")
    blocks = {name: [read_ensemble(name, spec, parameters, runs, sweeps)] for name, spec in declared.items()
              if not (isinstance(spec, Mapping) and "members_of" in spec)}
    taken = set(runs) | set(sweeps) | set(declared)
    for name, (own,) in list(blocks.items()):
        blocks[name] = expand_ensemble(name, declared[name], own, runs)
        for ensemble in blocks[name][1:]:
            if ensemble.name in taken:
                raise EcgConfigError(f"parameters 'ensembles.{name}.splits': its ensemble {ensemble.name!r} has the "
                                     f"name of a declared run, sweep or ensemble; rename one of them")
            taken.add(ensemble.name)
            check_members(ensemble, parameters, runs, sweeps)
    ensembles = {e.name: e for expanded in blocks.values() for e in expanded}
    ensembles.update({name: read_shared_ensemble(name, spec, ensembles) for name, spec in declared.items()
                      if isinstance(spec, Mapping) and "members_of" in spec})
    return {e.name: ensembles[e.name] for name in declared for e in blocks.get(name) or [ensembles[name]]}


def read_ensemble(name: str, spec: Any, parameters: Mapping[str, Any], runs: dict[str, Run],
                   sweeps: dict[str, Sweep]) -> EnsembleDecl:
    """``ensembles.<name>``: checked here, with every member's training configuration, before anything trains."""
    from ecg_pipeline.models.fourier import band_masks

    section = f"ensembles.{block_name(name, 'ensemble')}"
    spec = require_mapping(spec, section)
    unknown = sorted(set(spec) - set(ENSEMBLE_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters '{section}': unknown key(s) {unknown}; expected some of {list(ENSEMBLE_KEYS)}")
    if spec.get("base") not in runs:
        raise EcgConfigError(f"parameters '{section}.base': expected a run declared under 'runs' (member 0), "
                             f"got {spec.get('base')!r} (declared: {sorted(runs)})")
    if runs[spec["base"]].block is not None:
        raise EcgConfigError(f"parameters '{section}.base': {spec['base']!r} is one of block "
                             f"{runs[spec['base']].block!r}'s seeds/splits; an ensemble's members derive from a "
                             f"block's own run")
    size = spec.get("size", 3)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise EcgConfigError(f"parameters '{section}.size': expected an integer >= 2 (the base and at least one more "
                             f"member), got {size!r}")
    fourier = spec.get("fourier")
    if fourier is not None:
        fourier = require_mapping(fourier, f"{section}.fourier")
        if size != 3:
            raise EcgConfigError(f"parameters '{section}.size': a Fourier-partitioned ensemble has 3 members (the base "
                                 f"and one per part), got {size}")
        try:
            band_masks(fourier.get("length"), fourier.get("bands", 10))
        except (EcgDataError, TypeError) as err:
            raise EcgConfigError(f"parameters '{section}.fourier': {err} (expected {{bands: >= 2, length: samples}})") from None
    ensemble = EnsembleDecl(name, spec["base"], str(spec.get("label", name)), size,
                            require_mapping(spec.get("decorrelation"), f"{section}.decorrelation") or None,
                            fourier, spec.get("combine", "mean_logits"))
    if ensemble.combine not in ("mean_logits", "vote"):
        raise EcgConfigError(f"parameters '{section}.combine': expected 'mean_logits' or 'vote', got {ensemble.combine!r}")
    check_members(ensemble, parameters, runs, sweeps)
    return ensemble


def base_params(parameters: Mapping[str, Any], base: Run) -> dict:
    """The run parameters of an ensemble's base run ``base``: its block's, with its seeds/splits expansion set (the
    data of its split)."""
    return expanded_params(parameters["runs"][base.declared_as], base.expansion)


def check_members(ensemble: EnsembleDecl, parameters: Mapping[str, Any], runs: dict[str, Run],
                  sweeps: dict[str, Sweep]) -> None:
    """Each member's name free and its training configuration valid (and decorrelatable), before anything trains."""
    section = f"ensembles.{ensemble.declared_as}"
    taken = set(runs) | set(sweeps)
    for member_index, member in enumerate(ensemble.members[1:], start=1):
        if member in taken:
            raise EcgConfigError(f"parameters '{section}': its member {member!r} has the name of a declared run or sweep")
        config = TrainingConfig.from_params(member_params(base_params(parameters, runs[ensemble.base]), ensemble,
                                                          member_index),
                                            f"{section} member {member}", ignore=RUN_KEYS)
        check_training(config, f"{section} member {member}")
        if ensemble.decorrelation is not None:
            from ecg_pipeline.defenses.decorrelation import check_projection
            from ecg_pipeline.models import build_model

            model = dict(config.model)
            width = build_model(model.pop("name"), **model).head.in_features
            try:
                check_projection(config.objective.get("projection_dim", 32), width, config.batch_size)
            except EcgDataError as err:
                raise EcgConfigError(f"parameters '{section}.decorrelation': {err}") from None


def read_shared_ensemble(name: str, spec: Mapping[str, Any], ensembles: dict[str, EnsembleDecl]) -> EnsembleDecl:
    """``ensembles.<name>: {members_of: <other>, combine, label}``: the other ensemble's trained members, combined
    another way (e.g. the majority vote of the mean-logit ensemble's members): nothing is trained again."""
    from dataclasses import replace

    section = f"ensembles.{block_name(name, 'ensemble')}"
    other = spec["members_of"]
    extra = sorted(set(spec) - set(SHARED_MEMBER_KEYS))
    if extra:
        raise EcgConfigError(f"parameters '{section}': with members_of, only {list(SHARED_MEMBER_KEYS)} may be set "
                             f"(the members are {other!r}'s), got {extra}")
    if other not in ensembles:
        raise EcgConfigError(f"parameters '{section}.members_of': expected an ensemble declared with its own members "
                             f"({sorted(ensembles)}), got {other!r}")
    combine = spec.get("combine", "mean_logits")
    if combine not in ("mean_logits", "vote"):
        raise EcgConfigError(f"parameters '{section}.combine': expected 'mean_logits' or 'vote', got {combine!r}")
    source = ensembles[other]
    return replace(source, name=name, label=str(spec.get("label", name)), combine=combine, members_of=other)


def member_params(base: Mapping[str, Any], ensemble: EnsembleDecl, member_index: int) -> dict:
    """Member ``member_index`` (1..)'s run parameters: the base run's, with seed ``base seed + index``, the
    decorrelation objective (seed 004 eq. 6) if the ensemble has one, and the model behind Fourier part
    ``index - 1`` if it is Fourier-partitioned."""
    import copy

    params = copy.deepcopy(dict(base))
    params["seed"] = int(params.get("seed", 0)) + member_index
    if ensemble.decorrelation is not None:
        params["objective"] = {"name": "decorrelation", "seed": params["seed"], **ensemble.decorrelation}
    if ensemble.fourier is not None:
        params["model"] = {"name": "fourier", "model": dict(params["model"]), "part": member_index - 1,
                           **ensemble.fourier}
    return params
