"""Every attack by name, one call shape: ``attack(model, x, y, eps, *, mask, bounds, seed, **hyper)``.

Each algorithm declares itself in its own module, ``@register_attack(name, gradient_free=..., search=...,
effort_keys=...)`` (:func:`~.base.register_attack`), next to its checks (``declare_params``); this registry
imports every module of the package (:func:`import_algorithm_modules`) and computes from the declarations what
the rest of the code reads: ``ATTACKS``, ``SEARCHES``, ``DECISION_BASED``, ``GRADIENT_FREE``, ``EFFORT_KEYS``.
Adding an algorithm is its module plus an attack block in conf/ (the block's ``attack:`` names it).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .base import DECLARED, AttackError, AttackProperties, register_attack

__all__ = ["ATTACKS", "DECISION_BASED", "EFFORT_KEYS", "GRADIENT_FREE", "SEARCHES", "attack_parameters",
           "check_attack_params", "effort_keys", "get_attack", "register_attack"]

#: Modules of this package that are not imported to collect declarations: this one, and those that read it.
NOT_DISCOVERED = frozenset({"registry", "generation"})


def import_algorithm_modules(package: str = __package__, path: Iterable[str] = (str(Path(__file__).parent),),
                             skip: frozenset[str] = NOT_DISCOVERED) -> list[str]:
    """Import every module of ``package`` (at ``path``) but ``skip``: each registers its algorithms itself
    (:func:`~.base.register_attack`), so a new algorithm is its module and nothing else in the code. A module
    imported here must not import this registry (it would find it half-built; a test checks that)."""
    names = sorted(info.name for info in pkgutil.iter_modules(list(path)) if info.name not in skip)
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


def views(declared: Mapping[str, AttackProperties]) -> tuple[dict, dict, frozenset, frozenset, dict]:
    """``(ATTACKS, SEARCHES, DECISION_BASED, GRADIENT_FREE, EFFORT_KEYS)`` computed from the declarations."""
    props = [declared[name] for name in sorted(declared)]
    attacks = {p.name: p.function for p in props}
    searches = {p.name: p.search for p in props if p.search is not None}
    gradient_free = frozenset(p.name for p in props if p.gradient_free)
    return attacks, searches, frozenset(searches), gradient_free, {p.name: p.effort_keys for p in props}


import_algorithm_modules()
#: ``ATTACKS``: every attack by name. ``SEARCHES``: decision-based attacks (label queries only), whose search does
#: not depend on eps: run once, and for each eps of a grid the found point kept where it lies in the eps-ball
#: (oracle.within_eps_ball). ``GRADIENT_FREE``: attacks that never use the model's gradients (a white-box result
#: they beat was masked). ``EFFORT_KEYS``: per attack, the hyper-parameters the "more effort" check doubles.
ATTACKS, SEARCHES, DECISION_BASED, GRADIENT_FREE, EFFORT_KEYS = views(DECLARED)


def get_attack(name: str) -> Callable:
    """The attack called ``name``; a clear error for an unknown one."""
    try:
        return ATTACKS[name]
    except KeyError:
        raise AttackError(f"unknown attack {name!r}; expected one of {sorted(ATTACKS)}") from None


#: What the evaluation passes to every attack itself: never an attack's ``params``.
SET_BY_EVALUATION = {
    "model": "the run's model", "x": "the beats", "y": "the labels", "eps": "the grid (attacks.<name>.grid)",
    "mask": "the data's padding mask", "bounds": "attacks.<name>.bounds", "seed": "attacks.<name>.seed",
    "noise": "attacks.<name>.noise_record",
}


def effort_keys(name: str) -> tuple[str, ...]:
    """The hyper-parameters that set attack ``name``'s effort (declared by the algorithm), for the evaluation's
    "more effort" check."""
    get_attack(name)
    return EFFORT_KEYS[name]


def attack_parameters(name: str) -> dict[str, inspect.Parameter]:
    """The hyper-parameters attack ``name`` accepts in its ``params``: its keyword arguments (a decision-based
    attack's: its search's), less what the evaluation passes itself (:data:`SET_BY_EVALUATION`)."""
    function = SEARCHES.get(name) or get_attack(name)
    return {key: p for key, p in inspect.signature(function).parameters.items()
            if key not in SET_BY_EVALUATION and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def check_attack_params(name: str, params: Mapping[str, Any] | None, where: str, *, grid_param: str = "eps") -> None:
    """Refuse, naming ``where`` (``attacks.pgd.params``) and the key, what attack ``name`` would refuse only when it
    runs: a key it does not take (with the closest it does, or why it was removed: :func:`~.base.retire_params`),
    a value its declared checks (:func:`~.base.declare_params`) refuse, a value of another type than its default's;
    called by the declaration before any node runs."""
    from ecg_pipeline.errors import EcgConfigError, did_you_mean

    if params is None:
        return
    if not isinstance(params, Mapping):
        raise EcgConfigError(f"parameters '{where}': expected a mapping of {name}'s hyper-parameters, "
                             f"got {type(params).__name__}")
    accepted = attack_parameters(name)
    function = SEARCHES.get(name) or get_attack(name)
    for key, value in params.items():
        if key in SET_BY_EVALUATION or (key == grid_param and key in accepted):
            source = SET_BY_EVALUATION.get(key, f"the grid (attacks.<name>.grid over {grid_param})")
            raise EcgConfigError(f"parameters '{where}.{key}': set by the evaluation from {source}, not by {name}'s "
                                 "params")
        retired = getattr(function, "retired_params", {})
        if key not in accepted and key in retired:
            raise EcgConfigError(f"parameters '{where}.{key}': attack {name!r} has no parameter {key!r} any more: "
                                 f"{retired[key]}")
        if key not in accepted:
            raise EcgConfigError(f"parameters '{where}.{key}': attack {name!r} has no parameter {key!r}"
                                 f"{did_you_mean(key, accepted)} (it takes {sorted(accepted)})")
        check = getattr(function, "param_checks", {}).get(key) or _default_check(accepted[key].default)
        expected = check(value) if check is not None else None
        if expected is not None:
            raise EcgConfigError(f"parameters '{where}.{key}': expected {expected}, got {value!r}")
    for rule in getattr(function, "param_rules", ()):
        problem = rule(dict(params))
        if problem:
            raise EcgConfigError(f"parameters '{where}': {problem}")


def _default_check(default: Any):
    """A value of the default's type (bool, int, a number, str); None when the default says nothing."""
    if default is inspect.Parameter.empty or default is None:
        return None
    if isinstance(default, bool):
        return lambda v: None if isinstance(v, bool) else "true or false"
    if isinstance(default, int):
        return lambda v: None if isinstance(v, int) and not isinstance(v, bool) else "an integer"
    if isinstance(default, float):
        return lambda v: None if isinstance(v, (int, float)) and not isinstance(v, bool) else "a number"
    if isinstance(default, str):
        return lambda v: None if isinstance(v, str) else "a string"
    return None
