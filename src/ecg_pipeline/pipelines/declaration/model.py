"""The declaration's model: what a project declares (data, families, runs, attacks, sweeps, ensembles, the main
study, ECG-ATK-GAN's stages) as frozen dataclasses, and the questions the templates ask of it (which attacks judge a
run, on which data, which run a transfer check crafts on). Nothing here reads configuration: ``reading`` builds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from ecg_pipeline.evaluation.selection import CRITERIA, member_name
from ecg_pipeline.evaluation.spec import AttackSpec

RUN_KEYS = ("family", "label", "data", "seeds", "splits")   # declaration keys of a run; the rest is its TrainingConfig
ENSEMBLE_FAMILY = "ens"                      # the family of an ensemble's members: pipeline train_ens
VOTE_FAMILY = "ens_vote"                     # the family of a majority-vote ensemble (its own attacks)
DATA_KEYS = ("title", "train", "validation", "test", "masked", "selection_attack", "variant_of", "judged_on",
             "attack_defaults", "splits")
#: What an attack block alone decides (its algorithm and what it is): never a data's default.
ATTACK_BLOCK_KEYS = ("attack", "params", "grid_param", "eps", "noise_record", "noise_channel", "diagnostics",
                     "transfer_from", "escalation")
#: What a data's ``attack_defaults`` may set: every other key of an attack block (its grid, bounds, eps_max, subset
#: size, batch, threads, diagnostics subset, ...), taken by each attack on that data that leaves it out.
ATTACK_DEFAULT_KEYS = tuple(f.name for f in dataclass_fields(AttackSpec)
                            if f.name not in (*ATTACK_BLOCK_KEYS, "section"))


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
    attack_defaults: dict[str, Any] | None = field(default=None, compare=False, hash=False)
                                             # what every attack on it leaves out (None: none declared)
    splits: tuple[tuple[str, str], ...] = () # (split name, data) of the splits its runs may declare (``splits:``),
                                             # itself among them; () on a data that declares none
    defaults_of: str | None = None           # the data whose ``attack_defaults`` parameter it reads (a split that
                                             # declares none takes its split sibling's: see reading.read_data)

    @property
    def attack_defaults_param(self) -> str | None:
        """The parameter an attack evaluation on this data reads its defaults from (None: it declares none)."""
        return None if self.attack_defaults is None else f"data.{self.defaults_of or self.name}.attack_defaults"

    @property
    def split(self) -> str | None:
        """The name of its own split among ``splits`` (None: it declares no splits)."""
        return next((split for split, data in self.splits if data == self.name), None)


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
class Certification:
    """``certify:`` (``parameters_attack.yml``, read by :mod:`.certification`): ``<run>.certify`` for every run judged
    on one of ``data`` whose model (registry name) is one of ``models``, with ``specs[data]`` (a
    :class:`~ecg_pipeline.verification.grid.CertifySpec`: the block over that data's attack defaults)."""

    data: tuple[str, ...]
    models: tuple[str, ...]
    specs: dict[str, Any]

    def applies_to(self, run: Run, data: Mapping[str, DataSplits]) -> bool:
        """Whether ``<run>.certify`` exists: the run is judged on a certified data and its model is listed."""
        return judging_data(run, dict(data)).name in self.data and run.model in self.models


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
    block: str | None = None                 # the ``runs`` block it expands (``seeds:``/``splits:``); None: it is
                                             # that block's own run (or not a trained run), named as the block is
    seed: int = 0                            # its training seed (TrainingConfig.seed)
    expansion: dict[str, Any] | None = field(default=None, compare=False, hash=False)
                                             # what it sets over its block's parameters (:mod:`.expansion`)

    @property
    def declared_as(self) -> str:
        """The ``runs`` block it was declared by (its own name for a block's own run)."""
        return self.block or self.name

    @property
    def split(self) -> str | None:
        """The split it trains on (its data's own split name; None where the data declares no splits)."""
        return self.data.split


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
    block: str | None = None                 # the ``ensembles`` block it expands (``splits:``); None: it is that
                                             # block's own ensemble, named as the block is (:mod:`.expansion`)

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

    @property
    def declared_as(self) -> str:
        """The ``ensembles`` block it was declared by (its own name for a block's own ensemble)."""
        return self.block or self.name


ENSEMBLE_KEYS = ("base", "label", "size", "decorrelation", "fourier", "combine", "members_of", "splits")
#: What an ensemble that combines another's members (``members_of``) may set: the rest is the other's.
SHARED_MEMBER_KEYS = ("label", "combine", "members_of")


@dataclass(frozen=True)
class MainStudy:
    """The study a bare ``kedro run`` runs end to end: these runs trained (an ensemble: its members trained and
    assembled), each attacked by these attacks (an ensemble by those of them its family's list holds)."""

    runs: tuple[str, ...]
    attacks: tuple[str, ...]
    judged_by: Mapping[str, tuple[str, ...]] | None = field(default=None, compare=False, hash=False)
                                             # run -> the attacks of ``attacks`` that judge it (None, or a run
                                             # absent: all of them)

    @property
    def evaluations(self) -> tuple[str, ...]:
        """The ``<run>.<attack>`` instances it evaluates."""
        judged_by = self.judged_by or {}
        return tuple(f"{run}.{attack}" for run in self.runs for attack in self.attacks
                     if attack in judged_by.get(run, self.attacks))


@dataclass(frozen=True)
class Declaration:
    data: dict[str, DataSplits]
    families: dict[str, Family]
    runs: dict[str, Run]                     # trained runs, declaration order
    attacks: dict[str, AttackSpec]           # attack -> its spec on the first data it applies to: what the block
                                             # alone decides (needs_noise, needs_ensemble, grid_param, diagnostics,
                                             # transfer_from); per-data values through attack_spec(attack, data)
    attack_data: dict[str, tuple[str, ...]]  # attack -> the data it applies to (its block's `data`)
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    attack_specs: dict[tuple[str, str], AttackSpec] = field(default_factory=dict)   # (attack, data) -> its spec
    selection_attack: str = "pgd"            # the default model-selection attack (a data may name its own)
    main: MainStudy | None = None            # what a bare `kedro run` trains, attacks and reports
    ensembles: dict[str, EnsembleDecl] = field(default_factory=dict)
    attack_generation: AttackGeneration | None = None
    atk_gan_evaluation: AtkGanEvaluation | None = None
    certification: Certification | None = None   # ``certify:`` (None: not declared)

    def certified(self, run: Run) -> bool:
        """Whether ``<run>.certify`` exists (``certify:`` applies to its judging data and its model)."""
        return self.certification is not None and self.certification.applies_to(run, self.data)

    def records_stressed(self, run: Run) -> bool:
        """Whether ``<run>.record_noise`` exists: the stress re-cuts MIT-BIH's raw records, so only runs judged on
        MIT-BIH or a variant of it, unmasked, have one."""
        judging = self.judging_data(run)
        return "mitdb" in (judging.name, judging.variant_of) and not judging.masked

    def judging_data(self, run: Run) -> DataSplits:
        """The data whose test split and attacks judge ``run``: its own, or the one its data names in ``judged_on``."""
        return judging_data(run, self.data)

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
            selected[ensemble.name] = ensemble_run(ensemble, self.runs)
        return {**self.runs, **selected}

    def architecture(self, run: Run) -> str:
        """The model registry name of the networks ``run`` deploys: an ensemble's members' (its base run's model),
        so that the benchmark table and the ranking put it beside the single models of that architecture."""
        ensemble = self.ensembles.get(run.name)
        return self.runs[ensemble.base].model if ensemble is not None else run.model

    def defense_label(self, run: Run) -> str:
        """What the benchmark table and the ranking call ``run``'s defense: the label of the block it expands, an
        ensemble's with the word "ensemble" (``dec ensemble``: a row beside the single models' defenses)."""
        ensemble = self.ensembles.get(run.declared_as)
        if ensemble is not None:
            return ensemble.label if "ensemble" in ensemble.label.lower() else f"{ensemble.label} ensemble"
        block = self.model_runs.get(run.declared_as)
        return block.label if block is not None else run.label

    def attack_spec(self, attack: str, data: str) -> AttackSpec:
        """``attack`` as it runs on ``data`` (the data's ``attack_defaults`` under the block): what the evaluation
        node of ``<run>.<attack>`` builds from its two parameter inputs, for a run judged on ``data``."""
        return self.attack_specs[attack, data]

    def attacks_for(self, run: Run) -> tuple[str, ...]:
        """The attacks that judge ``run``: its family's list, else every attack declared for its data."""
        return attacks_judging(run, self.families, self.attacks, self.attack_data, self.data)

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


def ensemble_run(ensemble: EnsembleDecl, runs: Mapping[str, Run]) -> Run:
    """The assembled ``ensemble`` as a model run: judged on its base run's data (its members' split), by its family's
    attacks; an expanded ensemble (``splits:``) names its block, as an expanded run does, and takes its base's seed."""
    base = runs[ensemble.base]
    return Run(ensemble.name, ensemble.family, ensemble.label, base.data, "ensemble",
               f"ensembles.{ensemble.declared_as}", block=ensemble.block, seed=base.seed)


def judging_data(run: Run, data: dict[str, DataSplits]) -> DataSplits:
    """The data of ``data`` whose test split and attacks judge ``run``: its own, or the one its data names in
    ``judged_on``."""
    return data[run.data.judged_on] if run.data.judged_on is not None else run.data


def with_data_defaults(block: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> dict[str, Any]:
    """An attack block on one data: the data's ``attack_defaults`` with the block's own keys over them (an explicit
    ``null`` in the block wins); :class:`AttackSpec` supplies what both leave out. The one definition of the merge,
    for the declaration and for the evaluation node (which reads both as Kedro parameters)."""
    return {**dict(defaults or {}), **dict(block)}


def attacks_judging(run: Run, families: dict[str, Family], attacks: dict[str, AttackSpec],
                    attack_data: dict[str, tuple[str, ...]], data: dict[str, DataSplits]) -> tuple[str, ...]:
    """The attacks that judge ``run``: its family's list, else every attack declared for its judging data; an attack
    crafted on an ensemble's surrogates judges ensembles only. (The reader asks this before the :class:`Declaration`
    exists, to check ``main``; :meth:`Declaration.attacks_for` asks it afterwards.)"""
    family = families.get(run.family)
    chosen = family.attacks if family is not None else None
    judged = judging_data(run, data).name
    return tuple(a for a in (attacks if chosen is None else chosen) if judged in attack_data[a]
                 and (run.model == "ensemble" or not attacks[a].needs_ensemble))
