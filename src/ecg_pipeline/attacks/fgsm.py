"""Fast gradient sign method.

Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015, eq. (3)::

    x_adv = x + eps * sign(grad_x J(theta, x, y))

then clipped into the domain ``bounds`` (and zero where ``mask`` is 0). It is one projected sign step
of size eps from ``x``, so it is :func:`~.pgd.pgd` with ``steps=1, step_size=eps, random_start=False``
(the projection onto the eps-ball is the identity after a step of exactly eps).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Bounds, register_attack
from .pgd import pgd


@register_attack("fgsm")
def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    loss: str = "ce",
    confidence: float = 0.0,
) -> torch.Tensor:
    """FGSM (Goodfellow et al., 2015, eq. 3) on the whole batch; ``loss`` ``"ce"`` (the paper's) or
    ``"cw"``. ``seed`` is accepted for the common call shape (FGSM draws no random numbers).

    ``confidence`` (as :func:`~.pgd.pgd`): 0 returns a beat misclassified clean unchanged (its first
    misclassified iterate is ``x``); ``inf`` takes the step on every beat unless it lowers the beat's rank
    (misclassified, loss): the textbook FGSM of the transfer studies."""
    try:
        step_size = float(eps) if float(eps) > 0 else None  # eps <= 0 is refused (or short-cut) by pgd
    except (TypeError, ValueError):
        step_size = None
    return pgd(
        model, x, y, eps, mask=mask, bounds=bounds, seed=seed, steps=1, step_size=step_size,
        random_start=False, loss=loss, cycle_check=0, confidence=confidence,
    )


from .base import declare_params, one_of  # noqa: E402
from .losses import HEAD_LOSSES, LOSSES  # noqa: E402
from .pgd import _confidence_check  # noqa: E402

declare_params(fgsm, loss=one_of(*LOSSES, *HEAD_LOSSES), confidence=_confidence_check)
