"""Whole-parameter checks: every key of an env's files and of ``--params`` must address something, refused before any
node runs with the path and the closest valid one (a misspelt ``--params`` key used to be ignored silently)."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from dataclasses import fields as dataclasses_fields
from pathlib import Path
from typing import Any

from ecg_pipeline.attacks.registry import ATTACKS, attack_parameters
from ecg_pipeline.data import databases
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import OBJECTIVES
from ecg_pipeline.errors import EcgConfigError, did_you_mean
from ecg_pipeline.evaluation.spec import AttackSpec
from ecg_pipeline.models.registry import MODELS, config_keys

from .certification import DECLARATION_KEYS as CERTIFY_DECLARATION_KEYS
from .certification import SECTION as CERTIFY
from .certification import VERIFIABLE, CertifySpec
from .model import ATTACK_DEFAULT_KEYS, DATA_KEYS, ENSEMBLE_KEYS, RUN_KEYS

#: Sections of named blocks: a name that is not declared there is a misspelt name, never a new block.
NAMED_SECTIONS = {"runs": "run", "attacks": "attack", "families": "family", "data": "data", "sweeps": "sweep",
                  "ensembles": "ensemble"}
#: Sections a node passes whole to a function (``call_with_params``): a key that function takes may be set even
#: where conf/ leaves it to the default. ``<data>.<section>`` (a data variant's own copy) is the same function.
#: The databases' sections come from their declarations (``data/<name>/``, :func:`databases.function_sections`).
DIAGNOSTIC_SECTIONS = {"rpeak_detector": "ecg_pipeline.data.rpeaks:evaluate_detector"}


def function_sections() -> dict[str, str]:
    """Every section passed whole to a function -> ``"module:function"``."""
    return {**DIAGNOSTIC_SECTIONS, **databases.function_sections()}


def check_runtime_params(loader) -> None:
    """Refuse, before any node runs, a parameter key that addresses nothing, in an env's files (``conf/<env>``,
    checked against ``conf/base``; an env may declare new runs, attacks, ...) and in ``--params`` (checked against
    the env's configuration, read again without them). A key passes when it is a parameter of the configuration it
    overrides, a key that the block's reader accepts where conf/ leaves it to its default (a run's training keys,
    an attack's keys and its ``params``, a data's ``attack_defaults`` keys, a model's or objective's keys, a section a node passes to a function), a
    ``runtime_params:`` variable of conf/ (e.g. ``data_root``), or any key inside a block that conf/ leaves empty
    (``report.pin: {}``, free-form). Under ``--params`` a new name under ``runs``, ``attacks``, ``families``,
    ``data``, ``sweeps`` or ``ensembles`` is a misspelt name (declare new blocks in conf/). The error names the path
    and the closest valid one."""
    made = []

    def reader(**changes):
        made.append(changes)
        return type(loader)(**{**_loader_args(loader), "runtime_params": {}, **changes})["parameters"]

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
        if made:
            # OmegaConf's ``globals`` resolver is process-wide and each loader made above took it over when it was
            # constructed: hand it to a loader of the session's own configuration, made last, so that the session's
            # catalog, resolved later, reads its own env's globals (they cannot depend on runtime parameters).
            type(loader)(**_loader_args(loader))


def _loader_args(loader) -> dict[str, Any]:
    """The arguments that make another loader of ``loader``'s configuration (its public attributes)."""
    return dict(conf_source=str(loader.conf_source), env=loader.env,
                runtime_params=getattr(loader, "runtime_params", None) or {}, base_env=loader.base_env,
                default_run_env=loader.default_run_env, merge_strategy=loader.merge_strategy,
                config_patterns=loader.config_patterns)


def runtime_variables(conf_source) -> set[str]:
    """Top-level names conf/ reads through the ``runtime_params:`` resolver (``${runtime_params:data_root, ...}``)."""
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
    fields = lambda cls: {f.name for f in dataclasses_fields(cls)} - {"section"}  # noqa: E731
    if len(prefix) == 2 and prefix[0] == "runs":
        return fields(TrainingConfig) | set(RUN_KEYS)
    if len(prefix) == 3 and prefix[0] == "attacks" and prefix[2] == "escalation":
        return {"max_doublings", "tolerance"}   # evaluation.escalation.Escalation
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
    if prefix == (CERTIFY,):  # certify: CertifySpec's keys (MILP's nested under milp) and the declaration's
        return {k for k in fields(CertifySpec) if not k.startswith("milp_")} | {"milp", *CERTIFY_DECLARATION_KEYS}
    if prefix == (CERTIFY, "milp") or (len(prefix) == 4 and prefix[::2] == (CERTIFY, "milp")):
        return {k.removeprefix("milp_") for k in fields(CertifySpec) if k.startswith("milp_")}
    if prefix == (CERTIFY, "by_model"):
        return set(VERIFIABLE)
    if len(prefix) == 3 and prefix[:2] == (CERTIFY, "by_model"):   # one architecture's keys: the spec's
        return {k for k in fields(CertifySpec) if not k.startswith("milp_")} | {"milp"}
    if len(prefix) == 2 and prefix[0] == "ensembles":
        return set(ENSEMBLE_KEYS)
    if len(prefix) == 2 and prefix[0] == "data":
        return set(DATA_KEYS)
    if len(prefix) == 3 and prefix[0] == "data" and prefix[2] == "attack_defaults":
        return set(ATTACK_DEFAULT_KEYS)  # a data's attack defaults: the keys an attack block takes from its data
    sections = function_sections()
    section = ".".join(prefix)
    if section not in sections and prefix and prefix[0] in parameters.get("data", {}) and len(prefix) > 1:
        section = ".".join(prefix[1:])  # a data variant's own copy of a section (atk_gan.segmentation)
    if section in sections:
        module, name = sections[section].split(":")
        function = getattr(importlib.import_module(module), name)
        accepted = [k for k, p in inspect.signature(function).parameters.items()
                    if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return set(accepted[1:])  # the first is what the node passes: the records, the beats
    return set()
