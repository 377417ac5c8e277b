"""Carlini-Wagner L-inf, in the form used for bounded-eps evaluation: PGD on the CW margin loss.

Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017, use the
objective f_6 (section V-A; untargeted form)::

    f(x') = max( Z(x')_y - max_{j != y} Z(x')_j , -kappa )

on the logits Z, with confidence kappa. Their own L-inf attack (section VI-C) searches for the smallest
tau; for a robustness curve at a fixed radius eps the standard substitute (Madry et al. 2018's "PGD
on the CW loss"; Croce & Hein, ICML 2020, "CW-Linf") minimises f over the eps-ball by projected sign
steps. That is :func:`~.pgd.pgd` with ``loss="cw"``: the ascended loss is
``-max(Z_y - max_{j != y} Z_j + kappa, 0)``, flat (gradient 0, so the sample stops moving) once the
sample is misclassified by a margin of kappa.

ART 1.20's ``CarliniLInfMethod`` is the original minimal-tau search (no eps argument); the tests
compare this attack with ART's PGD driven by the same CW loss (same settings, should agree to the
sample) and with ``CarliniLInfMethod`` (its tau search, thresholded at eps, cannot be stronger).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Bounds, register_attack
from .pgd import pgd


@register_attack("cw_linf", effort_keys=("steps", "restarts"))
def cw_linf(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    steps: int = 100,
    step_size: float | None = None,
    kappa: float = 0.0,
    random_start: bool = False,
    restarts: int = 1,
    cycle_check: int = 8,
    confidence: float = 0.0,
) -> torch.Tensor:
    """CW L-inf as PGD on the margin loss f_6 (Carlini & Wagner, 2017) with confidence ``kappa``.

    Defaults: 100 steps, ``step_size = 2.5 * eps / steps`` (as :func:`~.pgd.pgd`), no random start
    (deterministic), one restart. Returns ``x_adv`` for the whole batch. ``confidence``: the margin at which a
    beat is finished (:func:`~.pgd.pgd`); above ``kappa`` it raises the hinge to it, and ``inf`` ascends the
    margin without a hinge for every step (the high-confidence examples of C&W's transfer section).
    """
    return pgd(
        model, x, y, eps, mask=mask, bounds=bounds, seed=seed, steps=steps, step_size=step_size,
        random_start=random_start, restarts=restarts, loss="cw", kappa=kappa, cycle_check=cycle_check,
        confidence=confidence,
    )


from .base import declare_params, flag, integer, number  # noqa: E402
from .pgd import _confidence_check  # noqa: E402

declare_params(cw_linf, lambda p: ("restarts > 1 needs random_start: true" if p.get("restarts", 1) > 1
                                   and not p.get("random_start", False) else None),
               steps=integer(1), step_size=number(above=0, none=True), kappa=number(at_least=0),
               random_start=flag(), restarts=integer(1), cycle_check=integer(0),
               confidence=_confidence_check)
