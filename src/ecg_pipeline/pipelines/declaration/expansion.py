"""Seeds and splits as declared dimensions: one ``runs`` block, several concrete runs (issue 28, item 1).

A block may say ``seeds: [0, 1, 2]`` and/or ``splits: [random, inter_patient]``; it then stands for one run per
(split, seed), each an instance of the training template of its own, attacked and reported like any run:

- **names**: ``<block>[_<split>][_s<seed>]``, where the block's own split (its ``data``'s) and its own seed (its
  ``seed``, default 0) add no suffix, so the block's own run keeps the block's name and, with it, its namespace,
  catalog entries, checkpoints and stored artifacts, bit for bit (``nsr_mlp``; then ``nsr_mlp_s1``,
  ``nsr_mlp_ip``, ``nsr_mlp_ip_s1``). Split suffixes: :data:`SPLIT_SUFFIX`. A name that another block already
  has is refused.
- **seeds**: the expansion sets the run's ``seed`` (model initialisation, batch order, any sampling of the
  trainer) and shifts an objective's own ``seed`` (PGD adversarial training's random starts, decorrelation's
  projections), where the objective takes one, by the same offset from the block's seed. The evaluation seed stays
  the attack's: every seed of a block is judged on the same beats, so that two runs can be compared beat by beat.
- **splits**: a data lists the splits its runs may declare, itself among them (``data.mitdb.splits: {random:
  mitdb, inter_patient: mitdb_ip}``, each a declared data: ``mitdb_ip`` a variant of ``mitdb`` whose
  ``mitdb_ip.split.method`` is ``inter_patient``). The listing is read once, on the data that declares it, and
  given to every data it names; a split's data that declares no ``attack_defaults`` takes the declaring data's,
  and every attack declared for one of them judges all of them (a split is judged as its data is).
- **fingerprints** follow: the seed is part of the training configuration and the split of the training data,
  and both are in a checkpoint's fingerprint (``defenses.fit``).

Sweeps and ensembles name a block's own run (their members derive from its section); ``main.runs`` naming a block
takes every run it expands to (:func:`expand_names`); to judge fewer, list fewer ``seeds`` (e.g.
``--params=runs.nsr_mlp.seeds=[0]``).

An ``ensembles`` block may say ``splits:`` too (:func:`expand_ensemble`): one ensemble per split, named as a run is
(``dec_mlp``, ``dec_mlp_ip``), each on its base block's run of that split (``ce_mlp_ip``, which that block must
declare), its members (``dec_mlp_ip_m1``, ...) the base run's parameters with that run's expansion (its data, so
they train on the split's training data and are judged on its test split). The block's own ensemble is today's, bit
for bit: the listing is not bound into any node.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any

from ecg_pipeline.data.splits import SPLIT_NAMES
from ecg_pipeline.errors import EcgConfigError

from .model import DataSplits, EnsembleDecl, Run

#: The suffix a run on another split than its block's gets (``nsr_mlp_ip``).
SPLIT_SUFFIX = {"random": "rs", "inter_patient": "ip"}
#: How a label says the split (``0.4NSR (inter-patient, seed 1)``).
SPLIT_WORDS = {"random": "random split", "inter_patient": "inter-patient"}


def run_name(block: str, split: str | None, own_split: str | None, seed: int, own_seed: int) -> str:
    """The name of the run of ``block`` on ``split`` with ``seed``: the block's name on its own split and seed."""
    name = block
    if split is not None and split != own_split:
        name += f"_{SPLIT_SUFFIX[split]}"
    if seed != own_seed:
        name += f"_s{seed}"
    return name


def read_data_splits(data: dict[str, DataSplits], parameters: Mapping[str, Any]) -> dict[str, DataSplits]:
    """``data.<name>.splits`` checked and given to every data it names (each then knows its own split name); a
    named data without ``attack_defaults`` reads the declaring data's."""
    from dataclasses import replace

    declared = {name: d for name, d in data.items() if d.splits}
    out = dict(data)
    for name, owner in declared.items():
        where = f"data.{name}.splits"
        listing = dict(owner.splits)
        unknown = [s for s in listing if s not in SPLIT_NAMES]
        if unknown:
            raise EcgConfigError(f"parameters '{where}': unknown split(s) {unknown}; expected some of {list(SPLIT_NAMES)}")
        missing = [d for d in listing.values() if d not in data]
        if missing:
            raise EcgConfigError(f"parameters '{where}': {missing} are not declared under 'data' (declared: {sorted(data)})")
        if list(listing.values()).count(name) != 1 or len(set(listing.values())) != len(listing):
            raise EcgConfigError(f"parameters '{where}': expected each split on a data of its own, {name!r} itself "
                                 f"among them (its own split), got {dict(listing)}")
        base = owner.variant_of or name
        for split, member in listing.items():
            other = data[member]
            if (other.variant_of or other.name) != base or other.masked != owner.masked or other.judged_on is not None:
                raise EcgConfigError(f"parameters '{where}.{split}': {member!r} is not a split of the same database "
                                     f"(expected {base!r} or a variant_of it, judged on itself)")
            if member != name and other.splits and dict(other.splits) != listing:
                raise EcgConfigError(f"parameters 'data.{member}.splits': declared on {name!r} already; declare the "
                                     f"splits once")
            check_split_method(other, split, parameters)
            defaults = {} if other.attack_defaults is not None else {
                "attack_defaults": owner.attack_defaults, "defaults_of": owner.defaults_of or name}
            out[member] = replace(out[member], splits=owner.splits, **defaults)
    return out


def check_split_method(data: DataSplits, split: str, parameters: Mapping[str, Any]) -> None:
    """The data's split step (``split`` of its database, ``<variant>.split`` of a variant) must make ``split``."""
    from ecg_pipeline.data import databases

    database = databases.declared().get(data.variant_of or data.name)
    if database is None or "split" not in database.step_sections():
        return
    section = parameters.get("split") if data.variant_of is None else (parameters.get(data.name) or {}).get("split")
    method = section.get("method", "random") if isinstance(section, Mapping) else "random"
    where = "split" if data.variant_of is None else f"{data.name}.split"
    if method not in SPLIT_NAMES:
        raise EcgConfigError(f"parameters '{where}.method': unknown split method {method!r}; expected one of "
                             f"{list(SPLIT_NAMES)}")
    if method != split:
        raise EcgConfigError(f"parameters '{where}.method': data {data.name!r} is declared as the {split!r} split "
                             f"(data.*.splits), but its split step makes {method!r}")


def with_split_siblings(attack_data: tuple[str, ...], data: Mapping[str, DataSplits]) -> tuple[str, ...]:
    """An attack's data with every split of each (a split is judged as its data is), in declaration order."""
    named = set(attack_data)
    for name in attack_data:
        named.update(member for _, member in data[name].splits)
    return tuple(name for name in data if name in named)


def objective_takes_seed(objective: Mapping[str, Any]) -> bool:
    """Whether the objective named in ``objective`` draws random numbers from a ``seed`` of its own."""
    from ecg_pipeline.defenses.objectives import OBJECTIVES

    factory = OBJECTIVES.get(objective.get("name"))
    return factory is not None and "seed" in inspect.signature(factory).parameters


def dimension(spec: Mapping[str, Any], key: str, section: str, check) -> list | None:
    """``spec[key]`` as a non-empty list without repeats whose items pass ``check`` (None: not declared)."""
    values = spec.get(key)
    if values is None:
        return None
    if (not isinstance(values, (list, tuple)) or not values or len(set(map(repr, values))) != len(values)
            or not all(check(v) for v in values)):
        raise EcgConfigError(f"parameters '{section}.{key}': expected a non-empty list without repeats of "
                             f"{'seeds (integers >= 0)' if key == 'seeds' else 'split names'}, got {values!r}")
    return list(values)


def expand_block(name: str, spec: Mapping[str, Any], own: Run, data: Mapping[str, DataSplits]) -> list[Run]:
    """The runs block ``name`` stands for: ``own`` (its own split and seed) first, then one run per other (split,
    seed), splits outer, each named by :func:`run_name`, with the ``expansion`` that
    :func:`expanded_params` applies to the block's parameters."""
    from dataclasses import replace

    section = own.section
    own_seed = int(spec.get("seed", 0))
    seeds = dimension(spec, "seeds", section, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    splits = dimension(spec, "splits", section, lambda v: isinstance(v, str))
    if seeds is None and splits is None:
        return [own]
    seeds = seeds or [own_seed]
    if own_seed not in seeds:
        raise EcgConfigError(f"parameters '{section}.seeds': expected the run's own seed ({own_seed}, its 'seed') "
                             f"among them (its run keeps the name {name!r}), got {seeds}")
    available = dict(own.data.splits)
    own_split = own.data.split
    if splits is not None:
        if not available:
            raise EcgConfigError(f"parameters '{section}.splits': data {own.data.name!r} declares no splits; declare "
                                 f"them on it (data.{own.data.name}.splits: {{random: {own.data.name}, "
                                 f"inter_patient: <a variant of it>}})")
        unknown = [s for s in splits if s not in available]
        if unknown or own_split not in splits:
            raise EcgConfigError(f"parameters '{section}.splits': expected splits of data {own.data.name!r} "
                                 f"({sorted(available)}), its own ({own_split!r}) among them, got {splits}")
    splits = splits or [own_split]
    seeds = [own_seed, *(s for s in seeds if s != own_seed)]
    splits = [own_split, *(s for s in splits if s != own_split)]
    takes_seed = objective_takes_seed(spec.get("objective") or {"name": "ce"})
    objective_seed = int((spec.get("objective") or {}).get("seed", 0))
    runs = []
    for split in splits:
        for seed in seeds:
            if split == own_split and seed == own_seed:
                runs.append(own)
                continue
            split_data = data[available[split]] if split is not None else own.data
            words = [SPLIT_WORDS[split]] if split != own_split else []
            words += [f"seed {seed}"] if seed != own_seed else []
            expansion = {"seed": seed, "data": split_data.name}
            if takes_seed:
                expansion["objective.seed"] = objective_seed + seed - own_seed
            runs.append(replace(own, name=run_name(name, split, own_split, seed, own_seed), data=split_data,
                                label=f"{own.label} ({', '.join(words)})", block=name, seed=seed, expansion=expansion))
    return runs


def expand_ensemble(name: str, spec: Mapping[str, Any], own: EnsembleDecl,
                    runs: Mapping[str, Run]) -> list[EnsembleDecl]:
    """The ensembles block ``name`` stands for: ``own`` (on its base run's split) first, then one per other split of
    its ``splits``, on the base block's run of that split at the base block's own seed (named by :func:`run_name`).
    Nothing else differs: the members' parameters are the base run's (:func:`expanded_params` of its expansion)."""
    from dataclasses import replace

    section = f"ensembles.{name}"
    splits = dimension(spec, "splits", section, lambda v: isinstance(v, str))
    if splits is None:
        return [own]
    base = runs[own.base]
    available, own_split = dict(base.data.splits), base.data.split
    if not available:
        raise EcgConfigError(f"parameters '{section}.splits': its base run {own.base!r} is on data {base.data.name!r}, "
                             f"which declares no splits")
    unknown = [s for s in splits if s not in available]
    if unknown or own_split not in splits:
        raise EcgConfigError(f"parameters '{section}.splits': expected splits of data {base.data.name!r} "
                             f"({sorted(available)}), its base run's own ({own_split!r}) among them, got {splits}")
    ensembles = [own]
    for split in (s for s in splits if s != own_split):
        base_run = run_name(own.base, split, own_split, base.seed, base.seed)
        if base_run not in runs or runs[base_run].declared_as != own.base:
            raise EcgConfigError(f"parameters '{section}.splits': its {split!r} ensemble needs run {base_run!r} "
                                 f"(its base {own.base!r} on that split); declare runs.{own.base}.splits with "
                                 f"{split!r} among them")
        ensembles.append(replace(own, name=run_name(name, split, own_split, 0, 0), base=base_run,
                                 label=f"{own.label} ({SPLIT_WORDS[split]})", block=name))
    return ensembles


def expanded_params(params: Mapping[str, Any], expansion: Mapping[str, Any] | None) -> dict:
    """A run's training parameters: its block's ``params`` with the ``expansion``'s values set (``seed``, ``data``,
    ``objective.seed``; a key the block leaves out is added). ``None`` (a block's own run): ``params`` unchanged."""
    params = copy.deepcopy(dict(params))
    for dotted, value in (expansion or {}).items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            section = section.setdefault(key, {})
        section[leaf] = value
    return params


def expand_names(names: tuple[str, ...], runs: Mapping[str, Run]) -> tuple[str, ...]:
    """Run names as ``main.runs`` lists them: a block's name stands for every run it expands to, any other run
    name for itself (in the order given, each once)."""
    out = []
    for name in names:
        run = runs.get(name)
        if run is not None and run.block is None:
            out.extend(r.name for r in runs.values() if r.declared_as == name)
        else:
            out.append(name)
    return tuple(dict.fromkeys(out))
