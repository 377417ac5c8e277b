"""Reading the declaration: the project's merged parameters in, one checked :class:`Declaration` out.

Each section has its reader here (data, families, attacks, runs, model selection, sweeps, ``main``); ensembles,
ECG-ATK-GAN's blocks and ``certify`` have theirs in :mod:`.ensembles`, :mod:`.atk_gan` and :mod:`.certification`.
The sections are read in dependency order (an attack names its data, a run its family and data, a sweep its
run, ``main`` runs and attacks), so each error names the first key that is wrong, before any node runs.

An attack is declared once: its block names its algorithm, its parameters and the data it applies to (``data:
mitdb`` or a list); each data's ``attack_defaults`` (``data.<name>.attack_defaults``: grid, bounds, eps_max,
per_class, ...) fill what the block leaves out, then :class:`AttackSpec`'s own defaults. The block is checked on
every data it names (``Declaration.attack_spec(attack, data)``), and judges each run of those data as
``<run>.<attack>`` (a run has one data, so the namespace stays unique).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ecg_pipeline.attacks.registry import ATTACKS, check_attack_params
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import OBJECTIVES
from ecg_pipeline.errors import EcgConfigError, EcgDataError, did_you_mean
from ecg_pipeline.evaluation.selection import CRITERIA, check_sweep
from ecg_pipeline.evaluation.spec import AttackSpec
from ecg_pipeline.models.registry import check_mask_use

from ..params import with_overrides
from .atk_gan import read_atk_gan_evaluation, read_attack_generation
from .certification import CERTIFY, read_certification
from .ensembles import read_ensembles
from .expansion import expand_block, expand_names, read_data_splits, with_split_siblings
from .model import (ATTACK_DEFAULT_KEYS, DATA_KEYS, ENSEMBLE_FAMILY, RUN_KEYS, VOTE_FAMILY, DataSplits, Declaration,
                    Family, MainStudy, Run, Sweep, attacks_judging, ensemble_run, with_data_defaults)
from .validation import block_name, check_training, declared_data, require_mapping


def read_declaration(parameters: Mapping[str, Any]) -> Declaration:
    """The declaration in a project's merged parameters (sections data, families, runs, attacks, sweeps)."""
    data = read_data_splits(read_data(parameters), parameters)
    families = read_families(parameters)
    attacks, attack_data, attack_specs = read_attacks(parameters, data, families)
    runs = read_runs(parameters, data, families)
    selection_attack = read_selection(parameters, data, attacks, attack_data)
    sweeps = read_sweeps(parameters, runs)
    ensembles = read_ensembles(parameters, runs, sweeps)
    if ensembles and ENSEMBLE_FAMILY not in families:
        families[ENSEMBLE_FAMILY] = Family(ENSEMBLE_FAMILY, "Ensembles (seed 004)")
    if any(e.family == VOTE_FAMILY for e in ensembles.values()) and VOTE_FAMILY not in families:
        raise EcgConfigError(f"parameters 'families': a majority-vote ensemble (combine: vote) is judged by family "
                             f"{VOTE_FAMILY!r}'s attacks; declare it with its attacks (e.g. autoattack_vote)")
    main = read_main(parameters.get("main"), runs,
                     lambda run: attacks_judging(run, families, attacks, attack_data, data),
                     {name: ensemble_run(e, runs) for name, e in ensembles.items()})
    generation = read_attack_generation(parameters.get("attack_generation"), parameters, runs)
    evaluation = read_atk_gan_evaluation(parameters.get("evaluate_atk_gan"), parameters, runs, data)
    certification = read_certification(parameters.get("certify"), data)
    if certification is not None and CERTIFY in attacks:
        raise EcgConfigError(f"parameters 'attacks.{CERTIFY}': the name of the certification instance "
                             f"(<run>.{CERTIFY}); name the attack otherwise")
    return Declaration(data, families, runs, attacks, attack_data, sweeps, attack_specs, selection_attack, main,
                       ensembles=ensembles, attack_generation=generation, atk_gan_evaluation=evaluation,
                       certification=certification)


def read_data(parameters: Mapping[str, Any]) -> dict[str, DataSplits]:
    """``data.<name>``: each database's (or variant's) model-input splits."""
    data = {}
    for name, spec in require_mapping(parameters.get("data"), "data").items():
        spec = require_mapping(spec, f"data.{name}")
        missing = [k for k in ("train", "validation", "test") if k not in spec]
        if missing:
            raise EcgConfigError(f"parameters 'data.{block_name(name, 'data')}': missing {missing} (catalog names of the splits)")
        unknown = sorted(set(spec) - set(DATA_KEYS))
        if unknown:
            raise EcgConfigError(f"parameters 'data.{name}': unknown key(s) {unknown}; expected some of {list(DATA_KEYS)}")
        if not isinstance(spec.get("masked", False), bool):
            raise EcgConfigError(f"parameters 'data.{name}.masked': expected true (padded records with a mask) or false, "
                                 f"got {spec['masked']!r}")
        data[name] = DataSplits(name, str(spec.get("title", name)), spec["train"], spec["validation"], spec["test"],
                                spec.get("variant_of"), spec.get("masked", False), spec.get("selection_attack"),
                                spec.get("judged_on"), read_attack_defaults(spec.get("attack_defaults"), name),
                                read_splits(spec.get("splits"), name))
    for split in data.values():
        if split.variant_of is not None:
            check_variant(split, data)
        if split.judged_on is not None and (split.judged_on not in data or split.judged_on == split.name
                                            or data[split.judged_on].judged_on is not None):
            raise EcgConfigError(f"parameters 'data.{split.name}.judged_on': expected another declared data that is "
                                 f"judged on itself (one of {sorted(n for n, d in data.items() if d.judged_on is None and n != split.name)}), "
                                 f"got {split.judged_on!r}")
    return data


def read_splits(spec: Any, data: str) -> tuple[tuple[str, str], ...]:
    """``data.<data>.splits``: split name -> the data that holds it (checked by ``expansion.read_data_splits``)."""
    if spec is None:
        return ()
    spec = require_mapping(spec, f"data.{data}.splits")
    if not spec or not all(isinstance(v, str) for v in spec.values()):
        raise EcgConfigError(f"parameters 'data.{data}.splits': expected a mapping split name -> data, e.g. "
                             f"{{random: {data}, inter_patient: {data}_ip}}, got {spec!r}")
    return tuple((str(split), member) for split, member in spec.items())


def read_families(parameters: Mapping[str, Any]) -> dict[str, Family]:
    """``families.<name>``: a title and, optionally, the attacks that judge its runs."""
    families = {}
    for name, spec in require_mapping(parameters.get("families"), "families").items():
        spec = require_mapping(spec, f"families.{name}")
        unknown = sorted(set(spec) - {"title", "attacks"})
        if unknown:
            raise EcgConfigError(f"parameters 'families.{name}': unknown key(s) {unknown}; expected title, attacks")
        attacks = spec.get("attacks")
        families[block_name(name, "family")] = Family(name, str(spec.get("title", name)),
                                                 tuple(attacks) if attacks is not None else None)
    return families


def read_attack_defaults(spec: Any, data: str) -> dict[str, Any] | None:
    """``data.<data>.attack_defaults``: what every attack on this data leaves out (checked with each attack)."""
    if spec is None:
        return None
    spec = require_mapping(spec, f"data.{data}.attack_defaults")
    unknown = sorted(set(spec) - set(ATTACK_DEFAULT_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters 'data.{data}.attack_defaults': unknown key(s) {unknown}"
                             f"{did_you_mean(unknown[0], ATTACK_DEFAULT_KEYS)} (a data's defaults set some of "
                             f"{list(ATTACK_DEFAULT_KEYS)}; the algorithm and its params are the attack block's)")
    return spec


def attack_data_of(spec: Mapping[str, Any], name: str, data: dict[str, DataSplits]) -> tuple[str, ...]:
    """An attack block's ``data``: one declared data or a non-empty list of them."""
    return declared_data(spec.get("data"), data, f"attacks.{name}.data", " (the data it judges)")


def read_attacks(parameters: Mapping[str, Any], data: dict[str, DataSplits], families: dict[str, Family]
                 ) -> tuple[dict[str, AttackSpec], dict[str, tuple[str, ...]], dict[tuple[str, str], AttackSpec]]:
    """``attacks.<name>``: (attack -> its spec on its first data, attack -> the data it applies to, (attack, data) ->
    its spec there), each checked against the attack library on every data, and every family's attack list."""
    attacks, attack_data, specs = {}, {}, {}
    for name, spec in require_mapping(parameters.get("attacks"), "attacks").items():
        spec = require_mapping(spec, f"attacks.{block_name(name, 'attack')}")
        attack_data[name] = with_split_siblings(attack_data_of(spec, name, data), data)
        for judged in attack_data[name]:
            try:
                specs[name, judged] = AttackSpec.from_params(with_data_defaults(spec, data[judged].attack_defaults), name)
            except EcgDataError as err:
                if data[judged].attack_defaults is None:
                    raise
                raise type(err)(f"{err} (attack {name!r} on data {judged!r}: the block over data.{judged}."
                                f"attack_defaults)") from None
        attacks[name] = specs[name, attack_data[name][0]]
    for name, spec in attacks.items():
        if spec.attack not in ATTACKS:
            raise EcgConfigError(f"parameters 'attacks.{name}.attack': unknown attack {spec.attack!r}"
                                 f"{did_you_mean(spec.attack, ATTACKS)} (expected one of {sorted(ATTACKS)})")
        check_attack_params(spec.attack, spec.params, f"attacks.{name}.params", grid_param=spec.grid_param)
    for name, spec in attacks.items():
        if spec.transfer_from is not None and spec.transfer_from not in families:
            raise EcgConfigError(f"parameters 'attacks.{name}.transfer_from': expected one of {sorted(families)}, "
                                 f"got {spec.transfer_from!r}")
    for family in families.values():
        unknown = [a for a in family.attacks or () if a not in attacks]
        if unknown:
            raise EcgConfigError(f"parameters 'families.{family.name}.attacks': {unknown} are not declared under 'attacks'"
                                 f"{did_you_mean(unknown[0], attacks)} (declared: {sorted(attacks)})")
        for_ensembles = [a for a in family.attacks or () if attacks[a].needs_ensemble]
        if for_ensembles and family.name not in (ENSEMBLE_FAMILY, VOTE_FAMILY):
            raise EcgConfigError(f"parameters 'families.{family.name}.attacks': {for_ensembles} craft on an ensemble's "
                                 f"surrogates (params.surrogates) and judge ensembles only (families {ENSEMBLE_FAMILY}, "
                                 f"{VOTE_FAMILY})")
    return attacks, attack_data, specs


def read_runs(parameters: Mapping[str, Any], data: dict[str, DataSplits], families: dict[str, Family]) -> dict[str, Run]:
    """``runs.<name>``: a family, a data and a training configuration checked as the training node will read it."""
    runs = {}
    for name, spec in require_mapping(parameters.get("runs"), "runs").items():
        section = f"runs.{block_name(name, 'run')}"
        spec = require_mapping(spec, section)
        if spec.get("family") not in families:
            raise EcgConfigError(f"parameters '{section}.family': expected one of {sorted(families)}, got "
                                 f"{spec.get('family')!r}{did_you_mean(spec.get('family'), families)}")
        if spec.get("data") not in data:
            raise EcgConfigError(f"parameters '{section}.data': expected one of {sorted(data)}, got {spec.get('data')!r}")
        config = TrainingConfig.from_params(spec, section, ignore=RUN_KEYS)
        check_training(config, section)
        check_mask_use(dict(config.model), data[spec["data"]].masked,
                       f"parameters '{section}.model.name' (data {spec['data']!r})")
        own = Run(name, spec["family"], str(spec.get("label", name)), data[spec["data"]],
                  str(config.model.get("name")), section,
                  companions=OBJECTIVES[config.objective["name"]].companions, seed=config.seed)
        for run in expand_block(name, spec, own, data):   # ``seeds:`` / ``splits:`` (expansion): own run first
            taken = run.name in runs or (run.block is not None and run.name in parameters["runs"])
            if taken:
                raise EcgConfigError(f"parameters '{section}': its run {run.name!r} (seeds/splits) has the name of "
                                     f"another declared run; rename one of them")
            runs[run.name] = run
    return runs


def read_selection(parameters: Mapping[str, Any], data: dict[str, DataSplits], attacks: dict[str, AttackSpec],
                   attack_data: dict[str, tuple[str, ...]]) -> str:
    """``model_selection.attack`` (the default model-selection attack) and each data's own ``selection_attack``."""
    selection = require_mapping(parameters.get("model_selection"), "model_selection")
    selection_attack = selection.get("attack", "pgd")
    if attacks and selection_attack not in attacks:
        raise EcgConfigError(f"parameters 'model_selection.attack': {selection_attack!r} is not declared under 'attacks'")
    for splits in data.values():
        chosen = splits.selection_attack
        if chosen is not None and (chosen not in attacks or splits.name not in attack_data[chosen]):
            raise EcgConfigError(f"parameters 'data.{splits.name}.selection_attack': expected an attack declared with "
                                 f"data {splits.name!r} ({sorted(a for a, d in attack_data.items() if splits.name in d)}), "
                                 f"got {chosen!r}")
    return selection_attack


def read_sweeps(parameters: Mapping[str, Any], runs: dict[str, Run]) -> dict[str, Sweep]:
    """``sweeps.<name>``: a base run, the key it varies and its values, each member's configuration checked."""
    sweeps = {}
    for name, spec in require_mapping(parameters.get("sweeps"), "sweeps").items():
        spec = require_mapping(spec, f"sweeps.{block_name(name, 'sweep')}")
        label = spec.pop("label", None)
        check_sweep(name, spec)
        if spec["run"] not in runs:
            raise EcgConfigError(f"sweep '{name}': base run {spec['run']!r} is not declared under 'runs'"
                                 f"{did_you_mean(spec['run'], runs)} (declared: {sorted(runs)})")
        if runs[spec["run"]].block is not None:
            raise EcgConfigError(f"sweep '{name}': base run {spec['run']!r} is one of block "
                                 f"{runs[spec['run']].block!r}'s seeds/splits; a sweep varies a block's own run")
        if name in runs:
            raise EcgConfigError(f"sweep '{name}': a run of that name exists; a sweep's selected model is a run of its own")
        sweep = Sweep(name, spec["run"], spec["vary"], tuple(spec["values"]), spec.get("criterion", CRITERIA[0]), label)
        base = parameters["runs"][spec["run"]]
        for member, value in sweep.members.items():
            config = TrainingConfig.from_params(with_overrides(base, {sweep.vary: value}, f"{name}.{member}"),
                                                f"{name}.{member}", ignore=RUN_KEYS)
            check_training(config, f"{name}.{member}")
        sweeps[name] = sweep
    return sweeps


def check_variant(variant: DataSplits, data: dict[str, DataSplits]) -> None:
    """A variant's splits are its base's, namespaced: the data template writes ``<variant>.<base split>``."""
    base = data.get(variant.variant_of)
    if base is None or base.variant_of is not None:
        raise EcgConfigError(f"parameters 'data.{variant.name}.variant_of': expected one of "
                             f"{sorted(n for n, d in data.items() if d.variant_of is None)} (a database's own data), "
                             f"got {variant.variant_of!r}")
    for key in ("train", "validation", "test"):
        expected = f"{variant.name}.{getattr(base, key)}"
        if getattr(variant, key) != expected:
            raise EcgConfigError(f"parameters 'data.{variant.name}.{key}': a variant of {base.name!r} writes its "
                                 f"{key} split as {expected!r} (namespace {variant.name!r}), got {getattr(variant, key)!r}")


def read_main(spec: Any, runs: dict[str, Run], attacks_for: Callable[[Run], tuple[str, ...]],
              ensembles: Mapping[str, Run] | None = None) -> MainStudy | None:
    """``main: {runs: [...], attacks: [...]}``: trained runs of the declaration, each judged by every attack listed,
    and assembled ensembles (``ensembles``: name -> its model run), each judged by those of the attacks listed that
    its family's list holds (an ensemble's family names its own: at least one of them must be listed)."""
    if spec is None:
        return None
    spec = require_mapping(spec, "main")
    unknown = sorted(set(spec) - {"runs", "attacks"})
    if unknown:
        raise EcgConfigError(f"parameters 'main': unknown key(s) {unknown}; expected runs, attacks")
    names = {}
    for key in ("runs", "attacks"):
        value = spec.get(key)
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
            raise EcgConfigError(f"parameters 'main.{key}': expected a non-empty list of names, got {value!r}")
        names[key] = tuple(value)
    ensembles = dict(ensembles or {})
    # a block's name: every run of its seeds and splits (an ensembles block's: every ensemble of its splits)
    names["runs"] = expand_names(names["runs"], {**runs, **ensembles})
    assembled = {}
    for run in names["runs"]:
        if run in ensembles:
            assembled[run] = tuple(a for a in names["attacks"] if a in attacks_for(ensembles[run]))
            if not assembled[run]:
                raise EcgConfigError(f"parameters 'main.attacks': none of them judges ensemble {run!r} (its family's "
                                     f"attacks: {list(attacks_for(ensembles[run]))})")
            continue
        if run not in runs:
            raise EcgConfigError(f"parameters 'main.runs': {run!r} is not a run declared under 'runs'"
                                 f"{did_you_mean(run, runs)} (declared: {sorted(runs)}; ensembles: "
                                 f"{sorted(ensembles)})")
        judged_by = attacks_for(runs[run])
        missing = [a for a in names["attacks"] if a not in judged_by]
        if missing:
            raise EcgConfigError(f"parameters 'main.attacks': {missing} do not judge run {run!r} "
                                 f"(its attacks: {list(judged_by)})")
    return MainStudy(names["runs"], names["attacks"], judged_by=assembled or None)
