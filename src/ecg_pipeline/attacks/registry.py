"""Every attack by name, one call shape: ``attack(model, x, y, eps, *, mask, bounds, seed, **hyper)``."""

from __future__ import annotations

from collections.abc import Callable

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
