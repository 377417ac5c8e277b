"""Basic iterative method (iterative FGSM).

Kurakin, Goodfellow & Bengio, "Adversarial Examples in the Physical World", ICLR workshop 2017,
eq. (1)::

    X_0 = X,   X_{N+1} = Clip_{X, eps}( X_N + alpha * sign(grad_X J(X_N, y_true)) )

``Clip_{X, eps}`` (their eq. in section 2.2) clips to the eps-ball around X and to the image range, i.e.
the PGD projection, and BIM starts at X. So BIM is exactly :func:`~.pgd.pgd` with
``random_start=False`` - one implementation, checked against ``torchattacks.BIM`` in the tests.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Bounds, register_attack
from .pgd import pgd


@register_attack("bim", effort_keys=("steps",))
def bim(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    steps: int = 10,
    step_size: float | None = None,
    loss: str = "ce",
    cycle_check: int = 8,
    confidence: float = 0.0,
) -> torch.Tensor:
    """BIM (Kurakin et al., 2017, eq. 1) on the whole batch; returns ``x_adv``.

    Defaults: ``steps=10`` and ``step_size = 1.25 * eps / steps``. Kurakin et al. used alpha = 1
    intensity level and N = min(eps + 4, 1.25 eps) iterations (eps in levels), i.e. a total travel of
    about 1.25 eps; the default keeps that ratio without assuming an intensity scale.
    ``seed`` is accepted for the common call shape (BIM draws no random numbers). ``confidence``: the
    margin at which a beat is finished, as :func:`~.pgd.pgd` (``inf``: every step, for transfer studies).
    """
    steps_ok = isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1
    if step_size is None and steps_ok:
        try:
            step_size = 1.25 * float(eps) / steps if float(eps) > 0 else None
        except (TypeError, ValueError):
            step_size = None
    return pgd(
        model, x, y, eps, mask=mask, bounds=bounds, seed=seed, steps=steps, step_size=step_size,
        random_start=False, loss=loss, cycle_check=cycle_check, confidence=confidence,
    )


from .base import declare_params, integer, number, one_of  # noqa: E402
from .losses import HEAD_LOSSES, LOSSES  # noqa: E402
from .pgd import _confidence_check  # noqa: E402

declare_params(bim, steps=integer(1), step_size=number(above=0, none=True), loss=one_of(*LOSSES, *HEAD_LOSSES),
               cycle_check=integer(0), confidence=_confidence_check)
