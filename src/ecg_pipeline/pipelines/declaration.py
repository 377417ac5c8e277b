"""The one declaration of data, families, runs, attacks and sweeps, read once when pipelines are registered.

Kedro builds pipelines before a session reads parameters, so the structure that parameters declare
(which runs exist, which attacks judge them, which sweep members to train) is read here, from the
same configuration the session will use: the project hook records the session's config loader
(``--env``, ``--conf-source`` and ``--params`` included) before the first pipeline is built; without
a session (``kedro registry``, a notebook) ``./conf`` with ``$KEDRO_ENV`` is read.

Everything is validated here, before any node runs: a typo in one run's keys, an unknown family, an
attack whose ``eps_max`` is not on its grid, a sweep of a run that does not exist. The templates
receive this object; no pipeline module reads configuration itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclasses_fields
from pathlib import Path
from typing import Any

from ecg_pipeline.attacks.generation import check_attack_name
from ecg_pipeline.attacks.registry import ATTACKS, check_attack_params
from ecg_pipeline.data.labels import class_names
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import OBJECTIVES, build_objective
from ecg_pipeline.defenses.optimisation import OPTIMIZERS
from ecg_pipeline.errors import EcgConfigError, EcgDataError, did_you_mean
from ecg_pipeline.evaluation.selection import CRITERIA, check_sweep, member_name
from ecg_pipeline.evaluation.spec import AttackSpec
from ecg_pipeline.models.registry import MODELS, check_mask_use, config_keys

log = logging.getLogger(__name__)

RUN_KEYS = ("family", "label", "data")       # declaration keys of a run; the rest is its TrainingConfig
ENSEMBLE_FAMILY = "ens"                      # the family of an ensemble's members: pipeline train_ens
VOTE_FAMILY = "ens_vote"                     # the family of a majority-vote ensemble (its own attacks)
DATA_KEYS = ("title", "train", "validation", "test", "masked", "selection_attack", "variant_of", "judged_on")


@dataclass(frozen=True)
class DataSplits:
    """Model-input splits of one database (catalog dataset names)."""

    name: str
    title: str
    train: str
    validation: str
    test: str
    variant_of: str | None = None            # a variant: the base's data template again, under namespace ``name``
    masked: bool = False                     # padded records with a 0/1 mask (CPSC 2018), not fixed-length beats
    selection_attack: str | None = None      # the model-selection attack on its validation split (None: model_selection.attack)
    judged_on: str | None = None             # models trained on it are attacked on this data's test split, by the
                                             # attacks declared for that data (ECG-ATK-GAN's union -> its clean beats)


@dataclass(frozen=True)
class AttackGeneration:
    """ECG-ATK-GAN's attack-generation stage: the six attacks crafted on run ``source``'s model, on each split
    of its data (``parameters_atk_gan.yml``: ``attack_generation``)."""

    source: str
    data: DataSplits
    attacks: tuple[str, ...]
    splits: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class AtkGanEvaluation:
    """ECG-ATK-GAN judged on the paper's protocol (``parameters_atk_gan.yml``: ``evaluate_atk_gan``): the GAN run
    (its discriminator deployed, its generator judged for Table 3) and baseline runs, on the test union
    ``test_set`` (clean + six attacked copies); the detector-evasion attack on ``clean.test``."""

    gan: str
    baselines: tuple[str, ...]
    test_set: str                            # the union written by attack_generation (atk_gan_test_set)
    clean: DataSplits                        # the clean beats (data atk_gan)

    @property
    def runs(self) -> tuple[str, ...]:
        return (self.gan, *self.baselines)


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    attacks: tuple[str, ...] | None = None   # None: every attack declared for the run's data

    @property
    def pipeline(self) -> str:
        return f"train_{self.name}"


@dataclass(frozen=True)
class Run:
    """A model run: trained by its family's pipeline (or selected by a sweep), evaluated by the attack pipeline."""

    name: str
    family: str
    label: str
    data: DataSplits
    model: str                               # model registry name (report grouping)
    section: str                             # the parameters section its training node reads (runs.<run>)
    sweep: Sweep | None = None               # set for a sweep's selected model
    companions: tuple[str, ...] = ()         # other models its objective trains, stored as <run>.<companion>


@dataclass(frozen=True)
class Sweep:
    name: str
    run: str                                 # base run
    vary: str                                # dotted key of the base run's parameters
    values: tuple[float, ...]
    criterion: str = CRITERIA[0]
    label: str | None = None

    @property
    def members(self) -> dict[str, float]:
        """member name (``beta_0p4``) -> value."""
        return {member_name(self.vary, v): v for v in self.values}


@dataclass(frozen=True)
class EnsembleDecl:
    """An ensemble of seed 004: its base run is member 0; members 1 .. size-1 are trained after it, one after
    another, each a copy of the base run's configuration with its own seed, optionally decorrelated from the
    members before it (eq. 6) and behind Fourier part ``i - 1`` (section 5.4)."""

    name: str
    base: str                                # a declared run (member 0)
    label: str
    size: int = 3
    decorrelation: dict | None = None        # {lam, projection_dim}: the objective of members 1..
    fourier: dict | None = None              # {bands, length}: member i sees part i - 1
    combine: str = "mean_logits"
    members_of: str | None = None            # another ensemble whose trained members this one combines (no training)

    @property
    def members(self) -> tuple[str, ...]:
        """Run names, base first: ``(base, <name>_m1, <name>_m2, ...)`` (``<members_of>_m1``, ... when it
        combines another ensemble's members)."""
        owner = self.members_of or self.name
        return (self.base, *(f"{owner}_m{i}" for i in range(1, self.size)))

    @property
    def family(self) -> str:
        """The family whose attacks judge the assembled model: a vote has its own (its gradient is uninformative)."""
        return VOTE_FAMILY if self.combine == "vote" else ENSEMBLE_FAMILY


ENSEMBLE_KEYS = ("base", "label", "size", "decorrelation", "fourier", "combine", "members_of")
#: What an ensemble that combines another's members (``members_of``) may set: the rest is the other's.
SHARED_MEMBER_KEYS = ("label", "combine", "members_of")


@dataclass(frozen=True)
class MainStudy:
    """The study a bare ``kedro run`` runs end to end: these runs trained, each attacked by these attacks."""

    runs: tuple[str, ...]
    attacks: tuple[str, ...]

    @property
    def evaluations(self) -> tuple[str, ...]:
        """The ``<run>.<attack>`` instances it evaluates."""
        return tuple(f"{run}.{attack}" for run in self.runs for attack in self.attacks)


@dataclass(frozen=True)
class Declaration:
    data: dict[str, DataSplits]
    families: dict[str, Family]
    runs: dict[str, Run]                     # trained runs, declaration order
    attacks: dict[str, AttackSpec]
    attack_data: dict[str, str]              # attack -> the data it judges
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    selection_attack: str = "pgd"            # the default model-selection attack (a data may name its own)
    main: MainStudy | None = None            # what a bare `kedro run` trains, attacks and reports
    ensembles: dict[str, EnsembleDecl] = field(default_factory=dict)
    attack_generation: AttackGeneration | None = None
    atk_gan_evaluation: AtkGanEvaluation | None = None

    def judging_data(self, run: Run) -> DataSplits:
        """The data whose test split and attacks judge ``run``: its own, or the one its data names in ``judged_on``."""
        return self.data[run.data.judged_on] if run.data.judged_on is not None else run.data

    def selection_attack_for(self, data: DataSplits) -> str:
        """The attack that scores ``data``'s models on its validation split (sweeps select by it)."""
        return data.selection_attack or self.selection_attack

    @property
    def model_runs(self) -> dict[str, Run]:
        """Every run with a ``<run>.model``: the trained runs, then each sweep's selection."""
        selected = {}
        for sweep in self.sweeps.values():
            base = self.runs[sweep.run]
            label = sweep.label or f"{base.family}: best {sweep.vary.rsplit('.', 1)[-1]} on validation"
            selected[sweep.name] = Run(sweep.name, base.family, label, base.data, base.model, base.section, sweep)
        for ensemble in self.ensembles.values():  # judged as deployed: the whole ensemble is one model
            base = self.runs[ensemble.base]
            selected[ensemble.name] = Run(ensemble.name, ensemble.family, ensemble.label, base.data, "ensemble",
                                          f"ensembles.{ensemble.name}")
        return {**self.runs, **selected}

    def attacks_for(self, run: Run) -> tuple[str, ...]:
        """The attacks that judge ``run``: its family's list, else every attack declared for its data."""
        family = self.families.get(run.family)
        chosen = family.attacks if family is not None else None
        judged = self.judging_data(run).name
        return tuple(a for a in (self.attacks if chosen is None else chosen) if self.attack_data[a] == judged
                     and (run.model == "ensemble" or not self.attacks[a].needs_ensemble))

    def transfer_source(self, run: Run, attack: str) -> str | None:
        """The run whose model ``attack``'s transfer check crafts on: the first run of the family named by
        its ``transfer_from`` with the same data and architecture (None: no check, or ``run`` is that run)."""
        spec = self.attacks[attack]
        if not spec.diagnostics or spec.transfer_from is None:
            return None
        for other in self.runs.values():
            if other.family == spec.transfer_from and other.data == run.data and other.model == run.model:
                return None if other.name == run.name else other.name
        return None

    def runs_of(self, family: str) -> list[Run]:
        return [run for run in self.runs.values() if run.family == family]


def _require_mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EcgConfigError(f"parameters '{where}': expected a mapping, got {type(value).__name__}")
    return dict(value)


def _name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name or "." in name or "@" in name:
        raise EcgConfigError(f"{what} name {name!r}: must be a non-empty name without '.' or '@' "
                             "(Kedro namespaces are dot-separated)")
    return name


def read_declaration(parameters: Mapping[str, Any]) -> Declaration:
    """The declaration in a project's merged parameters (sections data, families, runs, attacks, sweeps)."""
    data = {}
    for name, spec in _require_mapping(parameters.get("data"), "data").items():
        spec = _require_mapping(spec, f"data.{name}")
        missing = [k for k in ("train", "validation", "test") if k not in spec]
        if missing:
            raise EcgConfigError(f"parameters 'data.{_name(name, 'data')}': missing {missing} (catalog names of the splits)")
        unknown = sorted(set(spec) - set(DATA_KEYS))
        if unknown:
            raise EcgConfigError(f"parameters 'data.{name}': unknown key(s) {unknown}; expected some of {list(DATA_KEYS)}")
        if not isinstance(spec.get("masked", False), bool):
            raise EcgConfigError(f"parameters 'data.{name}.masked': expected true (padded records with a mask) or false, "
                                 f"got {spec['masked']!r}")
        data[name] = DataSplits(name, str(spec.get("title", name)), spec["train"], spec["validation"], spec["test"],
                                spec.get("variant_of"), spec.get("masked", False), spec.get("selection_attack"),
                                spec.get("judged_on"))
    for split in data.values():
        if split.variant_of is not None:
            _check_variant(split, data)
        if split.judged_on is not None and (split.judged_on not in data or split.judged_on == split.name
                                            or data[split.judged_on].judged_on is not None):
            raise EcgConfigError(f"parameters 'data.{split.name}.judged_on': expected another declared data that is "
                                 f"judged on itself (one of {sorted(n for n, d in data.items() if d.judged_on is None and n != split.name)}), "
                                 f"got {split.judged_on!r}")

    families = {}
    for name, spec in _require_mapping(parameters.get("families"), "families").items():
        spec = _require_mapping(spec, f"families.{name}")
        unknown = sorted(set(spec) - {"title", "attacks"})
        if unknown:
            raise EcgConfigError(f"parameters 'families.{name}': unknown key(s) {unknown}; expected title, attacks")
        attacks = spec.get("attacks")
        families[_name(name, "family")] = Family(name, str(spec.get("title", name)),
                                                 tuple(attacks) if attacks is not None else None)

    attacks, attack_data = {}, {}
    for name, spec in _require_mapping(parameters.get("attacks"), "attacks").items():
        spec = _require_mapping(spec, f"attacks.{_name(name, 'attack')}")
        if spec.get("data") not in data:
            raise EcgConfigError(f"parameters 'attacks.{name}.data': expected one of {sorted(data)} (the data it judges), "
                                 f"got {spec.get('data')!r}")
        attacks[name] = AttackSpec.from_params(spec, name)
        attack_data[name] = spec["data"]
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

    runs = {}
    for name, spec in _require_mapping(parameters.get("runs"), "runs").items():
        section = f"runs.{_name(name, 'run')}"
        spec = _require_mapping(spec, section)
        if spec.get("family") not in families:
            raise EcgConfigError(f"parameters '{section}.family': expected one of {sorted(families)}, got "
                                 f"{spec.get('family')!r}{did_you_mean(spec.get('family'), families)}")
        if spec.get("data") not in data:
            raise EcgConfigError(f"parameters '{section}.data': expected one of {sorted(data)}, got {spec.get('data')!r}")
        config = TrainingConfig.from_params(spec, section, ignore=RUN_KEYS)
        _check_training(config, section)
        check_mask_use(dict(config.model), data[spec["data"]].masked,
                       f"parameters '{section}.model.name' (data {spec['data']!r})")
        runs[name] = Run(name, spec["family"], str(spec.get("label", name)), data[spec["data"]],
                         str(config.model.get("name")), section,
                         companions=OBJECTIVES[config.objective["name"]].companions)

    selection = _require_mapping(parameters.get("model_selection"), "model_selection")
    selection_attack = selection.get("attack", "pgd")
    if attacks and selection_attack not in attacks:
        raise EcgConfigError(f"parameters 'model_selection.attack': {selection_attack!r} is not declared under 'attacks'")
    for splits in data.values():
        chosen = splits.selection_attack
        if chosen is not None and (chosen not in attacks or attack_data[chosen] != splits.name):
            raise EcgConfigError(f"parameters 'data.{splits.name}.selection_attack': expected an attack declared with "
                                 f"data {splits.name!r} ({sorted(a for a, d in attack_data.items() if d == splits.name)}), "
                                 f"got {chosen!r}")

    sweeps = {}
    for name, spec in _require_mapping(parameters.get("sweeps"), "sweeps").items():
        spec = _require_mapping(spec, f"sweeps.{_name(name, 'sweep')}")
        label = spec.pop("label", None)
        check_sweep(name, spec)
        if spec["run"] not in runs:
            raise EcgConfigError(f"sweep '{name}': base run {spec['run']!r} is not declared under 'runs'"
                                 f"{did_you_mean(spec['run'], runs)} (declared: {sorted(runs)})")
        if name in runs:
            raise EcgConfigError(f"sweep '{name}': a run of that name exists; a sweep's selected model is a run of its own")
        sweep = Sweep(name, spec["run"], spec["vary"], tuple(spec["values"]), spec.get("criterion", CRITERIA[0]), label)
        base = parameters["runs"][spec["run"]]
        for member, value in sweep.members.items():
            config = TrainingConfig.from_params(with_overrides(base, {sweep.vary: value}, f"{name}.{member}"),
                                                f"{name}.{member}", ignore=RUN_KEYS)
            _check_training(config, f"{name}.{member}")
        sweeps[name] = sweep
    declared = _require_mapping(parameters.get("ensembles"), "ensembles")
    ensembles = {name: _read_ensemble(name, spec, parameters, runs, sweeps) for name, spec in declared.items()
                 if not (isinstance(spec, Mapping) and "members_of" in spec)}
    ensembles.update({name: _read_shared_ensemble(name, spec, ensembles) for name, spec in declared.items()
                      if isinstance(spec, Mapping) and "members_of" in spec})
    ensembles = {name: ensembles[name] for name in declared}
    if ensembles and ENSEMBLE_FAMILY not in families:
        families[ENSEMBLE_FAMILY] = Family(ENSEMBLE_FAMILY, "Ensembles (seed 004)")
    if any(e.family == VOTE_FAMILY for e in ensembles.values()) and VOTE_FAMILY not in families:
        raise EcgConfigError(f"parameters 'families': a majority-vote ensemble (combine: vote) is judged by family "
                             f"{VOTE_FAMILY!r}'s attacks; declare it with its attacks (e.g. autoattack_vote)")
    declaration = Declaration(data, families, runs, attacks, attack_data, sweeps, selection_attack)
    main = _read_main(parameters.get("main"), declaration)
    generation = _read_attack_generation(parameters.get("attack_generation"), parameters, declaration)
    evaluation = _read_atk_gan_evaluation(parameters.get("evaluate_atk_gan"), parameters, declaration)
    return Declaration(data, families, runs, attacks, attack_data, sweeps, selection_attack, main, ensembles=ensembles,
                       attack_generation=generation, atk_gan_evaluation=evaluation)


def _read_ensemble(name: str, spec: Any, parameters: Mapping[str, Any], runs: dict[str, Run],
                   sweeps: dict[str, Sweep]) -> EnsembleDecl:
    """``ensembles.<name>``: checked here, with every member's training configuration, before anything trains."""
    from ecg_pipeline.models.fourier import band_masks

    section = f"ensembles.{_name(name, 'ensemble')}"
    spec = _require_mapping(spec, section)
    unknown = sorted(set(spec) - set(ENSEMBLE_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters '{section}': unknown key(s) {unknown}; expected some of {list(ENSEMBLE_KEYS)}")
    if spec.get("base") not in runs:
        raise EcgConfigError(f"parameters '{section}.base': expected a run declared under 'runs' (member 0), "
                             f"got {spec.get('base')!r} (declared: {sorted(runs)})")
    size = spec.get("size", 3)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise EcgConfigError(f"parameters '{section}.size': expected an integer >= 2 (the base and at least one more "
                             f"member), got {size!r}")
    fourier = spec.get("fourier")
    if fourier is not None:
        fourier = _require_mapping(fourier, f"{section}.fourier")
        if size != 3:
            raise EcgConfigError(f"parameters '{section}.size': a Fourier-partitioned ensemble has 3 members (the base "
                                 f"and one per part), got {size}")
        try:
            band_masks(fourier.get("length"), fourier.get("bands", 10))
        except (EcgDataError, TypeError) as err:
            raise EcgConfigError(f"parameters '{section}.fourier': {err} (expected {{bands: >= 2, length: samples}})") from None
    ensemble = EnsembleDecl(name, spec["base"], str(spec.get("label", name)), size,
                            _require_mapping(spec.get("decorrelation"), f"{section}.decorrelation") or None,
                            fourier, spec.get("combine", "mean_logits"))
    taken = set(runs) | set(sweeps)
    for member_index, member in enumerate(ensemble.members[1:], start=1):
        if member in taken:
            raise EcgConfigError(f"parameters '{section}': its member {member!r} has the name of a declared run or sweep")
        config = TrainingConfig.from_params(member_params(parameters["runs"][ensemble.base], ensemble, member_index),
                                            f"{section} member {member}", ignore=RUN_KEYS)
        _check_training(config, f"{section} member {member}")
        if ensemble.decorrelation is not None:
            from ecg_pipeline.defenses.decorrelation import check_projection
            from ecg_pipeline.models import build_model

            model = dict(config.model)
            width = build_model(model.pop("name"), **model).head.in_features
            try:
                check_projection(config.objective.get("projection_dim", 32), width, config.batch_size)
            except EcgDataError as err:
                raise EcgConfigError(f"parameters '{section}.decorrelation': {err}") from None
    if ensemble.combine not in ("mean_logits", "vote"):
        raise EcgConfigError(f"parameters '{section}.combine': expected 'mean_logits' or 'vote', got {ensemble.combine!r}")
    return ensemble


def _read_shared_ensemble(name: str, spec: Mapping[str, Any], ensembles: dict[str, EnsembleDecl]) -> EnsembleDecl:
    """``ensembles.<name>: {members_of: <other>, combine, label}``: the other ensemble's trained members, combined
    another way (e.g. the majority vote of the mean-logit ensemble's members): nothing is trained again."""
    from dataclasses import replace

    section = f"ensembles.{_name(name, 'ensemble')}"
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


def _check_variant(variant: DataSplits, data: dict[str, DataSplits]) -> None:
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


def data_classes(parameters: Mapping[str, Any], data: DataSplits) -> tuple[str, ...] | None:
    """The class names of ``data``'s beats, from its segmentation's ``label_set`` (None: not a beat set)."""
    if data.variant_of is not None:
        segmentation = (parameters.get(data.name) or {}).get("segmentation")
    else:  # the segmentation template's own parameters are MIT-BIH's; other databases are not beat sets
        segmentation = parameters.get("segmentation") if data.name == "mitdb" else None
    if not isinstance(segmentation, Mapping):
        return None
    return class_names(segmentation.get("label_set", "aami5"))


def _model_outputs(model: Mapping[str, Any]) -> int | None:
    """The number of outputs a model declaration builds (its ``n_classes``, else the model's default)."""
    import inspect

    if "n_classes" in model:
        return int(model["n_classes"])
    default = inspect.signature(MODELS[model["name"]].__init__).parameters.get("n_classes")
    return None if default is None or default.default is inspect.Parameter.empty else int(default.default)


def _read_attack_generation(spec: Any, parameters: Mapping[str, Any], declaration: Declaration) -> AttackGeneration | None:
    """``attack_generation: {source, attacks: {<one of the six>: {eps, per_class, params}}, ...}``: checked
    before any node runs (the source run, its classes against its data's, each attack's name and keys)."""
    if spec is None:
        return None
    spec = _require_mapping(spec, "attack_generation")
    source = spec.get("source")
    if source not in declaration.runs:
        raise EcgConfigError(f"parameters 'attack_generation.source': expected a run declared under 'runs' "
                             f"(declared: {sorted(declaration.runs)}), got {source!r}")
    run = declaration.runs[source]
    classes = data_classes(parameters, run.data)
    model = dict(parameters["runs"][source].get("model") or {})
    outputs = _model_outputs(model)
    if classes is not None and outputs is not None and outputs != len(classes):
        raise EcgConfigError(f"parameters 'runs.{source}.model': the source classifier of attack_generation has "
                             f"{outputs} outputs (n_classes), its data {run.data.name!r} has {len(classes)} classes "
                             f"{list(classes)}")
    attacks = _require_mapping(spec.get("attacks"), "attack_generation.attacks")
    if not attacks:
        raise EcgConfigError("parameters 'attack_generation.attacks': expected at least one attack")
    for name, attack in attacks.items():
        where = f"attack_generation.attacks.{name}"
        check_attack_name(name, f"parameters '{where}'")
        attack = _require_mapping(attack, where)
        unknown = sorted(set(attack) - {"eps", "per_class", "params"})
        if unknown:
            raise EcgConfigError(f"parameters '{where}': unknown key(s) {unknown}; expected eps, per_class, params")
        eps = attack.get("eps")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise EcgConfigError(f"parameters '{where}.eps': expected a number > 0 (L-inf radius in beat units), got {eps!r}")
        check_attack_params(name, attack.get("params"), f"{where}.params")
        per_class = attack.get("per_class")
        if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
            raise EcgConfigError(f"parameters '{where}.per_class': expected a count >= 1 of beats per class, or null "
                                 f"(every beat), got {per_class!r}")
    return AttackGeneration(source, run.data, tuple(attacks))


ATK_GAN_EVALUATION_KEYS = ("gan", "baselines", "seed", "batch_size", "device", "num_threads", "progress", "evasion")
EVASION_KEYS = ("eps", "attacks", "losses", "steps", "step_size", "restarts", "per_class")


def _read_atk_gan_evaluation(spec: Any, parameters: Mapping[str, Any], declaration: Declaration) -> AtkGanEvaluation | None:
    """``evaluate_atk_gan: {gan, baselines, evasion: {...}, ...}``: the GAN run must train a three-head discriminator
    with the atk_gan objective on data judged on another (its clean beats); every baseline must be a declared run
    on that clean data or on the GAN's data; every evasion loss a PGD loss."""
    from ecg_pipeline.attacks.losses import HEAD_LOSSES, LOSSES

    if spec is None:
        return None
    spec = _require_mapping(spec, "evaluate_atk_gan")
    unknown = sorted(set(spec) - set(ATK_GAN_EVALUATION_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan': unknown key(s) {unknown}; expected some of "
                             f"{list(ATK_GAN_EVALUATION_KEYS)}")
    gan = spec.get("gan")
    run = declaration.runs.get(gan)
    objective = ((parameters.get("runs") or {}).get(gan) or {}).get("objective") or {}
    if run is None or "generator" not in run.companions or objective.get("name") != "atk_gan":
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.gan': expected a declared run trained with objective atk_gan "
                             f"(a discriminator and its generator), got {gan!r} (runs with that objective: "
                             f"{sorted(n for n, r in declaration.runs.items() if 'generator' in r.companions)})")
    if run.data.judged_on is None:
        raise EcgConfigError(f"parameters 'data.{run.data.name}.judged_on': the GAN run {gan!r} trains on the union of "
                             "clean and attacked beats; name the data of its clean beats (e.g. atk_gan), on whose test "
                             "split it is attacked")
    clean = declaration.data[run.data.judged_on]
    baselines = spec.get("baselines") or []
    if not isinstance(baselines, (list, tuple)) or not all(isinstance(b, str) for b in baselines):
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.baselines': expected a list of run names, got {baselines!r}")
    for name in baselines:
        other = declaration.runs.get(name)
        if other is None or other.data.name not in (clean.name, run.data.name) or name == gan:
            raise EcgConfigError(f"parameters 'evaluate_atk_gan.baselines': {name!r} is not a declared run on data "
                                 f"{clean.name!r} or {run.data.name!r} (runs there: "
                                 f"{sorted(n for n, r in declaration.runs.items() if r.data.name in (clean.name, run.data.name) and n != gan)})")
    evasion = _require_mapping(spec.get("evasion"), "evaluate_atk_gan.evasion")
    unknown = sorted(set(evasion) - set(EVASION_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion': unknown key(s) {unknown}; expected some of "
                             f"{list(EVASION_KEYS)}")
    eps = evasion.get("eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion.eps': expected a number > 0, got {eps!r}")
    losses = evasion.get("losses", ["ce", "evasion"])
    bad = [loss for loss in losses or [None] if loss not in LOSSES + HEAD_LOSSES]
    if bad:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion.losses': {bad} are not PGD losses "
                             f"{list(LOSSES + HEAD_LOSSES)}")
    attacks = evasion.get("attacks", ["pgd", "apgd"])
    if not attacks or any(a not in ("pgd", "apgd") for a in attacks):
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion.attacks': expected some of ['pgd', 'apgd'] (the "
                             f"attacks that take the evasion loss), got {attacks!r}")
    return AtkGanEvaluation(gan, tuple(baselines), run.data.test, clean)


def _read_main(spec: Any, declaration: Declaration) -> MainStudy | None:
    """``main: {runs: [...], attacks: [...]}``: trained runs of the declaration, each judged by every attack listed."""
    if spec is None:
        return None
    spec = _require_mapping(spec, "main")
    unknown = sorted(set(spec) - {"runs", "attacks"})
    if unknown:
        raise EcgConfigError(f"parameters 'main': unknown key(s) {unknown}; expected runs, attacks")
    names = {}
    for key in ("runs", "attacks"):
        value = spec.get(key)
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
            raise EcgConfigError(f"parameters 'main.{key}': expected a non-empty list of names, got {value!r}")
        names[key] = tuple(value)
    for run in names["runs"]:
        if run not in declaration.runs:
            raise EcgConfigError(f"parameters 'main.runs': {run!r} is not a run declared under 'runs'"
                                 f"{did_you_mean(run, declaration.runs)} (declared: {sorted(declaration.runs)})")
        judged_by = declaration.attacks_for(declaration.runs[run])
        missing = [a for a in names["attacks"] if a not in judged_by]
        if missing:
            raise EcgConfigError(f"parameters 'main.attacks': {missing} do not judge run {run!r} "
                                 f"(its attacks: {list(judged_by)})")
    return MainStudy(names["runs"], names["attacks"])


def _check_training(config: TrainingConfig, section: str) -> None:
    """What a training run would otherwise find wrong only when it starts (after earlier runs trained):
    the objective and its values, the model name and its keys, the optimizer."""
    objective = config.objective_params()
    try:
        build_objective(objective.pop("name"), **objective)
    except EcgDataError as err:
        where = f"{section}.objective.{err.key}" if err.key else f"{section}.objective"
        raise EcgConfigError(f"parameters '{where}': {err}") from None
    model = config.model
    if not isinstance(model, Mapping) or "name" not in model:
        raise EcgConfigError(f"parameters '{section}.model': expected a mapping with a 'name' (one of {sorted(MODELS)}), "
                             f"got {model!r}")
    if not isinstance(model["name"], str) or model["name"] not in MODELS:
        raise EcgConfigError(f"parameters '{section}.model.name': unknown model {model['name']!r}; "
                             f"expected one of {sorted(MODELS)}")
    accepted = config_keys(model["name"])
    unknown = sorted(set(model) - {"name"} - set(accepted))
    if unknown:
        raise EcgConfigError(f"parameters '{section}.model': unknown key(s) {unknown} for model {model['name']!r}; "
                             f"expected some of {accepted}")
    if config.optimizer not in OPTIMIZERS:
        raise EcgConfigError(f"parameters '{section}.optimizer': unknown optimizer {config.optimizer!r}; "
                             f"expected one of {sorted(OPTIMIZERS)}")


def with_overrides(params: Mapping, overrides: Mapping | None, run_name: str) -> dict:
    """``params`` with dotted keys of ``overrides`` replaced (``{"objective.beta": 0.2}``); a key that
    does not address an existing entry is an error naming the run."""
    import copy

    params = copy.deepcopy(dict(params))
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            if not isinstance(section.get(key), dict):
                raise EcgConfigError(f"{run_name}: cannot set '{dotted}': the base parameters have no section '{key}'")
            section = section[key]
        if leaf not in section:
            raise EcgConfigError(f"{run_name}: cannot set '{dotted}': the base parameters have no key '{leaf}' there "
                                 f"(it has {sorted(section)})")
        section[leaf] = value
    return params


# ---- where the parameters come from --------------------------------------------------------------

_session_config: dict[str, Any] = {}


def use_session_config(config_loader, key: tuple) -> bool:
    """Record the config loader of the session about to run (called by the project hook).

    Returns True when pipelines registered earlier in this process were built from other
    configuration (the caller then has Kedro rebuild them)."""
    stale = _session_config.get("built_with") not in (None, key)
    _session_config.update(loader=config_loader, key=key)
    return stale


def forget_session_config() -> None:
    """After a run: later registrations in this process read ``./conf`` again unless a new session says otherwise."""
    _session_config.pop("loader", None)
    _session_config.pop("key", None)


def load_declaration(conf_source: str | Path | None = None, env: str | None = None) -> Declaration:
    """The project's declaration: from the recorded session config, else from ``./conf`` (+ ``$KEDRO_ENV``)."""
    if conf_source is None and "loader" in _session_config:
        loader = _session_config["loader"]
        check_runtime_params(loader)
        parameters = loader["parameters"]
        _session_config["built_with"] = _session_config["key"]
    else:
        from ecg_pipeline import config_loader as settings  # the project's own loader, configured or not

        conf_dir = Path(conf_source) if conf_source is not None else Path.cwd() / "conf"
        if not (conf_dir / "base").is_dir():
            raise EcgConfigError(f"no {conf_dir}/base folder: run kedro from the project root (where conf/ is)")
        loader = settings.CONFIG_LOADER_CLASS(conf_source=str(conf_dir), env=env or os.getenv("KEDRO_ENV"),
                                              **settings.CONFIG_LOADER_ARGS)
        check_runtime_params(loader)
        parameters = loader["parameters"]
        _session_config["built_with"] = ("default", str(conf_dir), env or os.getenv("KEDRO_ENV"))
    return read_declaration(parameters)


# ---- runtime parameters (--params) checked against the configuration they override ---------------------------

#: Sections of named blocks: a name that is not declared there is a misspelt name, never a new block.
NAMED_SECTIONS = {"runs": "run", "attacks": "attack", "families": "family", "data": "data", "sweeps": "sweep",
                  "ensembles": "ensemble"}
#: Sections a node passes whole to a function (``call_with_params``): a key that function takes may be set even
#: where conf/ leaves it to the default. ``<data>.<section>`` (a data variant's own copy) is the same function.
FUNCTION_SECTIONS = {
    "segmentation": "ecg_pipeline.data.beats:segment_beats",
    "split": "ecg_pipeline.data.splits:split_beats",
    "rpeak_detector": "ecg_pipeline.data.rpeaks:evaluate_detector",
    "resampling": "ecg_pipeline.data.balance:balance_training_set",
    "ingestion.mitdb": "ecg_pipeline.data.mitdb:read_mitdb",
    "ingestion.nstdb": "ecg_pipeline.data.mitdb:read_nstdb_noise",
    "ingestion.cinc2017": "ecg_pipeline.data.cinc2017:read_cinc2017",
    "ingestion.cpsc2018": "ecg_pipeline.data.cpsc2018:read_cpsc2018",
    "padding_masking.cinc2017.split": "ecg_pipeline.data.cinc2017:split_cinc2017",
    "padding_masking.cinc2017.pad": "ecg_pipeline.data.cinc2017:pad_cinc2017",
    "padding_masking.cpsc2018.split": "ecg_pipeline.data.cpsc2018:split_cpsc2018",
    "padding_masking.cpsc2018.pad": "ecg_pipeline.data.cpsc2018:pad_cpsc2018",
}


def check_runtime_params(loader) -> None:
    """Refuse, before any node runs, a parameter key that addresses nothing, in an env's files (``conf/<env>``,
    checked against ``conf/base``; an env may declare new runs, attacks, ...) and in ``--params`` (checked against
    the env's configuration, read again without them). A key passes when it is a parameter of the configuration it
    overrides, a key that the block's reader accepts where conf/ leaves it to its default (a run's training keys,
    an attack's keys and its ``params``, a model's or objective's keys, a section a node passes to a function), a
    ``runtime_params:`` variable of conf/ (e.g. ``data_root``), or any key inside a block that conf/ leaves empty
    (``report.pin: {}``, free-form). Under ``--params`` a new name under ``runs``, ``attacks``, ``families``,
    ``data``, ``sweeps`` or ``ensembles`` is a misspelt name (declare new blocks in conf/). The error names the path
    and the closest valid one."""
    def reader(**changes):
        args = dict(conf_source=str(loader.conf_source), env=loader.env, runtime_params={},
                    base_env=loader.base_env, default_run_env=loader.default_run_env,
                    merge_strategy=loader.merge_strategy, config_patterns=loader.config_patterns)
        return type(loader)(**{**args, **changes})["parameters"]

    free = runtime_variables(loader.conf_source)
    run_env = loader.env or loader.default_run_env
    overrides = getattr(loader, "runtime_params", None) or {}
    try:
        if run_env and run_env != loader.base_env and (Path(str(loader.conf_source)) / run_env).is_dir():
            own = reader(env=run_env, base_env=run_env, default_run_env=run_env)
            if own:
                base = reader(env=loader.base_env, default_run_env=loader.base_env)
                check_override_paths(own, base, free, source=f"conf/{run_env}:", new_names=True)
        if overrides:
            check_override_paths(overrides, reader(), free)
    finally:
        # OmegaConf's ``globals`` resolver is process-wide and a new loader takes it over: give it back to the
        # session's loader, whose catalog is resolved later (Kedro has no public call for this).
        restore = getattr(loader, "_register_globals_resolver", None)
        if restore is not None:
            restore()


def runtime_variables(conf_source) -> set[str]:
    """Top-level names conf/ reads through the ``runtime_params:`` resolver (``${runtime_params:data_root, ...}``)."""
    import re

    found = set()
    root = Path(str(conf_source))
    for path in list(root.rglob("*.yml")) + list(root.rglob("*.yaml")) if root.is_dir() else []:
        try:
            text = path.read_text()
        except OSError:
            continue
        found.update(m.split(".")[0] for m in re.findall(r"\$\{\s*runtime_params:\s*([\w.]+)", text))
    return found


def check_override_paths(overrides: Mapping[str, Any], parameters: Mapping[str, Any], free: set[str] = frozenset(),
                         *, source: str = "--params", new_names: bool = False) -> None:
    """Each leaf key path of ``overrides`` (nested, as Kedro parses ``--params=a.b=1``) against ``parameters``;
    ``free``: top-level names not checked; ``new_names``: a new block under a named section is a declaration (an
    env's files may declare runs), not a misspelling. Top-level names starting with ``_`` are YAML anchors."""
    for path in _leaf_paths(overrides):
        if path[0] not in free and not path[0].startswith("_"):
            _check_override_path(path, parameters, source, new_names)


def _leaf_paths(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            paths += _leaf_paths(value, (*prefix, str(key)))
        else:
            paths.append((*prefix, str(key)))
    return paths


def _check_override_path(path: tuple[str, ...], parameters: Mapping[str, Any], source: str = "--params",
                         new_names: bool = False) -> None:
    dotted = ".".join(path)
    node: Any = parameters
    for depth, key in enumerate(path):
        where = ".".join(path[:depth])
        if not isinstance(node, Mapping):
            raise EcgConfigError(f"{source} {dotted}: '{where}' is a value ({node!r}), not a section with keys")
        if key in node:
            node = node[key]
            continue
        if not node and depth:
            return  # an empty block in conf/ is free-form (report.pin: {run: {attack: version}})
        if depth == 1 and path[0] in NAMED_SECTIONS:
            if new_names:
                return  # a block declared here: the declaration reads it whole
            what = NAMED_SECTIONS[path[0]]
            hint = did_you_mean(key, node) or f" (declared: {sorted(node)})"
            raise EcgConfigError(f"{source} {dotted}: unknown {what} {key!r} under '{path[0]}'{hint}")
        accepted = _accepted_keys(path[:depth], node, parameters)
        if accepted is None or key in accepted:
            return  # the block's reader checks the key and its value (the declaration, before any node runs)
        candidates = sorted(set(node) | set(accepted))
        match = did_you_mean(key, candidates)
        if match:
            suggestion = ".".join((*path[:depth], match.split("'")[1], *path[depth + 1:]))
            match = f"; did you mean '{suggestion}'?"
        elif depth:
            match = f" (it has {candidates})"
        raise EcgConfigError(f"{source} {dotted}: unknown parameter '{'.'.join(path[:depth + 1])}'{match}")


def _accepted_keys(prefix: tuple[str, ...], block: Mapping[str, Any], parameters: Mapping[str, Any]) -> set[str] | None:
    """Keys the reader of the block at ``prefix`` accepts beyond those conf/ sets (an empty set: none; None: the
    block's reader checks every key itself, so anything passes here)."""
    import inspect

    from ecg_pipeline.attacks.registry import attack_parameters
    from ecg_pipeline.defenses.config import TrainingConfig
    from ecg_pipeline.evaluation.spec import AttackSpec

    fields = lambda cls: {f.name for f in dataclasses_fields(cls)} - {"section"}  # noqa: E731
    if len(prefix) == 2 and prefix[0] == "runs":
        return fields(TrainingConfig) | set(RUN_KEYS)
    if len(prefix) == 3 and prefix[0] == "runs" and prefix[2] == "model" and block.get("name") in MODELS:
        return {"name", *config_keys(block["name"])}
    if len(prefix) > 3 and prefix[0] == "runs" and prefix[2] in ("model", "objective"):
        return None  # nested model / objective settings (a generator, a Fourier part's model): their reader checks
    if len(prefix) == 3 and prefix[0] == "runs" and prefix[2] == "objective":
        objective = OBJECTIVES.get(block.get("name"))
        return None if objective is None else {"name", *inspect.signature(objective).parameters}
    if len(prefix) == 2 and prefix[0] == "attacks":
        return fields(AttackSpec) | {"data"}
    if len(prefix) == 3 and prefix[0] == "attacks" and prefix[2] == "params":
        attack = (parameters["attacks"][prefix[1]] or {}).get("attack", prefix[1])
        return set(attack_parameters(attack)) if attack in ATTACKS else None
    if len(prefix) == 4 and prefix[:2] == ("attack_generation", "attacks") and prefix[3] == "params":
        return set(attack_parameters(prefix[2])) if prefix[2] in ATTACKS else None
    if len(prefix) == 2 and prefix[0] == "ensembles":
        return set(ENSEMBLE_KEYS)
    section = ".".join(prefix)
    if prefix and prefix[0] in parameters.get("data", {}) and len(prefix) > 1:
        section = ".".join(prefix[1:])  # a data variant's own copy of a section (atk_gan.segmentation)
    if section in FUNCTION_SECTIONS:
        import importlib

        module, name = FUNCTION_SECTIONS[section].split(":")
        function = getattr(importlib.import_module(module), name)
        accepted = [k for k, p in inspect.signature(function).parameters.items()
                    if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return set(accepted[1:])  # the first is what the node passes: the records, the beats
    return set()
