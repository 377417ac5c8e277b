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
from pathlib import Path
from typing import Any

from ecg_pipeline.attacks.registry import ATTACKS
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import build_objective
from ecg_pipeline.defenses.trainer import OPTIMIZERS
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.selection import CRITERIA, check_sweep, member_name
from ecg_pipeline.evaluation.spec import AttackSpec
from ecg_pipeline.models.registry import MODELS, check_mask_use, config_keys

log = logging.getLogger(__name__)

RUN_KEYS = ("family", "label", "data")       # declaration keys of a run; the rest is its TrainingConfig
DATA_KEYS = ("title", "train", "validation", "test", "masked", "selection_attack")


@dataclass(frozen=True)
class DataSplits:
    """Model-input splits of one database (catalog dataset names)."""

    name: str
    title: str
    train: str
    validation: str
    test: str
    masked: bool = False                     # padded records with a 0/1 mask (CPSC 2018), not fixed-length beats
    selection_attack: str | None = None      # the model-selection attack on its validation split (None: model_selection.attack)


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
        return {**self.runs, **selected}

    def attacks_for(self, run: Run) -> tuple[str, ...]:
        """The attacks that judge ``run``: its family's list, else every attack declared for its data."""
        chosen = self.families[run.family].attacks
        return tuple(a for a in (self.attacks if chosen is None else chosen) if self.attack_data[a] == run.data.name)

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
        raise EcgDataError(f"parameters '{where}': expected a mapping, got {type(value).__name__}")
    return dict(value)


def _name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name or "." in name or "@" in name:
        raise EcgDataError(f"{what} name {name!r}: must be a non-empty name without '.' or '@' "
                           "(Kedro namespaces are dot-separated)")
    return name


def read_declaration(parameters: Mapping[str, Any]) -> Declaration:
    """The declaration in a project's merged parameters (sections data, families, runs, attacks, sweeps)."""
    data = {}
    for name, spec in _require_mapping(parameters.get("data"), "data").items():
        spec = _require_mapping(spec, f"data.{name}")
        missing = [k for k in ("train", "validation", "test") if k not in spec]
        if missing:
            raise EcgDataError(f"parameters 'data.{_name(name, 'data')}': missing {missing} (catalog names of the splits)")
        unknown = sorted(set(spec) - set(DATA_KEYS))
        if unknown:
            raise EcgDataError(f"parameters 'data.{name}': unknown key(s) {unknown}; expected some of {list(DATA_KEYS)}")
        if not isinstance(spec.get("masked", False), bool):
            raise EcgDataError(f"parameters 'data.{name}.masked': expected true (padded records with a mask) or false, "
                               f"got {spec['masked']!r}")
        data[name] = DataSplits(name, str(spec.get("title", name)), spec["train"], spec["validation"], spec["test"],
                                spec.get("masked", False), spec.get("selection_attack"))

    families = {}
    for name, spec in _require_mapping(parameters.get("families"), "families").items():
        spec = _require_mapping(spec, f"families.{name}")
        unknown = sorted(set(spec) - {"title", "attacks"})
        if unknown:
            raise EcgDataError(f"parameters 'families.{name}': unknown key(s) {unknown}; expected title, attacks")
        attacks = spec.get("attacks")
        families[_name(name, "family")] = Family(name, str(spec.get("title", name)),
                                                 tuple(attacks) if attacks is not None else None)

    attacks, attack_data = {}, {}
    for name, spec in _require_mapping(parameters.get("attacks"), "attacks").items():
        spec = _require_mapping(spec, f"attacks.{_name(name, 'attack')}")
        if spec.get("data") not in data:
            raise EcgDataError(f"parameters 'attacks.{name}.data': expected one of {sorted(data)} (the data it judges), "
                               f"got {spec.get('data')!r}")
        attacks[name] = AttackSpec.from_params(spec, name)
        attack_data[name] = spec["data"]
    for name, spec in attacks.items():
        if spec.attack not in ATTACKS:
            raise EcgDataError(f"parameters 'attacks.{name}.attack': unknown attack {spec.attack!r}; "
                               f"expected one of {sorted(ATTACKS)}")
    for name, spec in attacks.items():
        if spec.transfer_from is not None and spec.transfer_from not in families:
            raise EcgDataError(f"parameters 'attacks.{name}.transfer_from': expected one of {sorted(families)}, "
                               f"got {spec.transfer_from!r}")
    for family in families.values():
        unknown = [a for a in family.attacks or () if a not in attacks]
        if unknown:
            raise EcgDataError(f"parameters 'families.{family.name}.attacks': {unknown} are not declared under 'attacks' "
                               f"(declared: {sorted(attacks)})")

    runs = {}
    for name, spec in _require_mapping(parameters.get("runs"), "runs").items():
        section = f"runs.{_name(name, 'run')}"
        spec = _require_mapping(spec, section)
        if spec.get("family") not in families:
            raise EcgDataError(f"parameters '{section}.family': expected one of {sorted(families)}, got {spec.get('family')!r}")
        if spec.get("data") not in data:
            raise EcgDataError(f"parameters '{section}.data': expected one of {sorted(data)}, got {spec.get('data')!r}")
        config = TrainingConfig.from_params(spec, section, ignore=RUN_KEYS)
        _check_training(config, section)
        check_mask_use(config.model["name"], data[spec["data"]].masked,
                       f"parameters '{section}.model.name' (data {spec['data']!r})")
        runs[name] = Run(name, spec["family"], str(spec.get("label", name)), data[spec["data"]],
                         str(config.model.get("name")), section)

    selection = _require_mapping(parameters.get("model_selection"), "model_selection")
    selection_attack = selection.get("attack", "pgd")
    if attacks and selection_attack not in attacks:
        raise EcgDataError(f"parameters 'model_selection.attack': {selection_attack!r} is not declared under 'attacks'")
    for splits in data.values():
        chosen = splits.selection_attack
        if chosen is not None and (chosen not in attacks or attack_data[chosen] != splits.name):
            raise EcgDataError(f"parameters 'data.{splits.name}.selection_attack': expected an attack declared with "
                               f"data {splits.name!r} ({sorted(a for a, d in attack_data.items() if d == splits.name)}), "
                               f"got {chosen!r}")

    sweeps = {}
    for name, spec in _require_mapping(parameters.get("sweeps"), "sweeps").items():
        spec = _require_mapping(spec, f"sweeps.{_name(name, 'sweep')}")
        label = spec.pop("label", None)
        check_sweep(name, spec)
        if spec["run"] not in runs:
            raise EcgDataError(f"sweep '{name}': base run {spec['run']!r} is not declared under 'runs' "
                               f"(declared: {sorted(runs)})")
        if name in runs:
            raise EcgDataError(f"sweep '{name}': a run of that name exists; a sweep's selected model is a run of its own")
        sweep = Sweep(name, spec["run"], spec["vary"], tuple(spec["values"]), spec.get("criterion", CRITERIA[0]), label)
        base = parameters["runs"][spec["run"]]
        for member, value in sweep.members.items():
            config = TrainingConfig.from_params(with_overrides(base, {sweep.vary: value}, f"{name}.{member}"),
                                                f"{name}.{member}", ignore=RUN_KEYS)
            _check_training(config, f"{name}.{member}")
        sweeps[name] = sweep
    declaration = Declaration(data, families, runs, attacks, attack_data, sweeps, selection_attack)
    main = _read_main(parameters.get("main"), declaration)
    return Declaration(data, families, runs, attacks, attack_data, sweeps, selection_attack, main)


def _read_main(spec: Any, declaration: Declaration) -> MainStudy | None:
    """``main: {runs: [...], attacks: [...]}``: trained runs of the declaration, each judged by every attack listed."""
    if spec is None:
        return None
    spec = _require_mapping(spec, "main")
    unknown = sorted(set(spec) - {"runs", "attacks"})
    if unknown:
        raise EcgDataError(f"parameters 'main': unknown key(s) {unknown}; expected runs, attacks")
    names = {}
    for key in ("runs", "attacks"):
        value = spec.get(key)
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
            raise EcgDataError(f"parameters 'main.{key}': expected a non-empty list of names, got {value!r}")
        names[key] = tuple(value)
    for run in names["runs"]:
        if run not in declaration.runs:
            raise EcgDataError(f"parameters 'main.runs': {run!r} is not a run declared under 'runs' "
                               f"(declared: {sorted(declaration.runs)})")
        judged_by = declaration.attacks_for(declaration.runs[run])
        missing = [a for a in names["attacks"] if a not in judged_by]
        if missing:
            raise EcgDataError(f"parameters 'main.attacks': {missing} do not judge run {run!r} "
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
        raise EcgDataError(f"parameters '{where}': {err}") from None
    model = config.model
    if not isinstance(model, Mapping) or "name" not in model:
        raise EcgDataError(f"parameters '{section}.model': expected a mapping with a 'name' (one of {sorted(MODELS)}), "
                           f"got {model!r}")
    if not isinstance(model["name"], str) or model["name"] not in MODELS:
        raise EcgDataError(f"parameters '{section}.model.name': unknown model {model['name']!r}; "
                           f"expected one of {sorted(MODELS)}")
    accepted = config_keys(model["name"])
    unknown = sorted(set(model) - {"name"} - set(accepted))
    if unknown:
        raise EcgDataError(f"parameters '{section}.model': unknown key(s) {unknown} for model {model['name']!r}; "
                           f"expected some of {accepted}")
    if config.optimizer not in OPTIMIZERS:
        raise EcgDataError(f"parameters '{section}.optimizer': unknown optimizer {config.optimizer!r}; "
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
                raise EcgDataError(f"{run_name}: cannot set '{dotted}': the base parameters have no section '{key}'")
            section = section[key]
        if leaf not in section:
            raise EcgDataError(f"{run_name}: cannot set '{dotted}': the base parameters have no key '{leaf}' there "
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
        parameters = _session_config["loader"]["parameters"]
        _session_config["built_with"] = _session_config["key"]
    else:
        from ecg_pipeline import config_loader as settings  # the project's own loader, configured or not

        conf_dir = Path(conf_source) if conf_source is not None else Path.cwd() / "conf"
        if not (conf_dir / "base").is_dir():
            raise EcgDataError(f"no {conf_dir}/base folder: run kedro from the project root (where conf/ is)")
        loader = settings.CONFIG_LOADER_CLASS(conf_source=str(conf_dir), env=env or os.getenv("KEDRO_ENV"),
                                              **settings.CONFIG_LOADER_ARGS)
        parameters = loader["parameters"]
        _session_config["built_with"] = ("default", str(conf_dir), env or os.getenv("KEDRO_ENV"))
    return read_declaration(parameters)
