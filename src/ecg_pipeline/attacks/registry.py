"""Every attack by name, one call shape: ``attack(model, x, y, eps, *, mask, bounds, seed, **hyper)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .apgd import apgd, apgd_ce, apgd_t
from .base import AttackError
from .bim import bim
from .boundary import boundary, boundary_search
from .cw import cw_linf
from .fgsm import fgsm
from .hopskipjump import hopskipjump, hopskipjump_search
from .noise import real_noise, white_noise
from .pgd import pgd, pgd_nsr
from .sap import sap
from .spsa import spsa
from .square import square
from .autoattack import autoattack

ATTACKS: dict[str, Callable] = {
    "fgsm": fgsm,
    "bim": bim,
    "pgd": pgd,
    "pgd_nsr": pgd_nsr,  # the NSR paper's MIT-BIH "100-PGD" (Adamax sign updates, per-sample stop)
    "cw_linf": cw_linf,
    "sap": sap,
    "white_noise": white_noise,
    "real_noise": real_noise,
    "spsa": spsa,
    "boundary": boundary,
    "hopskipjump": hopskipjump,
    "apgd": apgd,  # Croce & Hein 2020: loss "ce" | "dlr", targeted, steps, restarts, n_target_classes, rho
    "apgd_ce": apgd_ce,  # AutoAttack's APGD-CE (apgd, loss="ce")
    "apgd_t": apgd_t,  # AutoAttack's APGD-T (apgd, loss="dlr", targeted=True)
    "autoattack": autoattack,  # Croce & Hein 2020 "standard": APGD-CE, APGD-T, Square on the still-unbroken beats;
    # returns (x_adv, {"broken_by": ...}) for the evaluation's masking check
    "square": square,  # Andriushchenko et al. 2020, L-inf, score-based: max_queries, p_init
}

#: Decision-based attacks (label queries only). Their search does not depend on eps: run it once
#: and keep, for each eps of a grid, the found point where it lies in the eps-ball (oracle.within_eps_ball).
SEARCHES: dict[str, Callable] = {"boundary": boundary_search, "hopskipjump": hopskipjump_search}
DECISION_BASED = frozenset(SEARCHES)
#: Attacks that never use the model's gradients: a white-box result they beat was masked.
GRADIENT_FREE = frozenset({"square", "spsa", *DECISION_BASED})


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
