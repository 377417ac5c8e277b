"""The attack objectives, defined once: cross-entropy and the Carlini-Wagner margin loss.

Both are to be *ascended* by an untargeted attack. ``reduction="none"`` gives one value per sample
(to compare restarts), ``"sum"`` one scalar for ``torch.autograd.grad`` (a sign step is invariant
to a positive scale, so no mean).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .base import AttackError, margin

LOSSES = ("ce", "cw")
REDUCTIONS = ("none", "sum")

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise AttackError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def ce_loss(logits: torch.Tensor, y: torch.Tensor, *, reduction: str = "none") -> torch.Tensor:
    """Cross-entropy of the logits against the true labels."""
    _check_reduction(reduction)
    return F.cross_entropy(logits, y, reduction=reduction)


def cw_loss(logits: torch.Tensor, y: torch.Tensor, *, kappa: float = 0.0, reduction: str = "none") -> torch.Tensor:
    """``-max(z_y - max_{j != y} z_j + kappa, 0)``: Carlini & Wagner's f_6 (their eq. for the
    untargeted case, confidence ``kappa``), flat once the sample is misclassified by ``kappa``."""
    _check_reduction(reduction)
    hinge = (margin(logits, y) + kappa).clamp_min(0)
    return -hinge.sum() if reduction == "sum" else -hinge


def attack_loss(kind: str, logits: torch.Tensor, y: torch.Tensor, *, kappa: float = 0.0,
                reduction: str = "none") -> torch.Tensor:
    """The loss named ``kind`` (one of :data:`LOSSES`); ``kappa`` is used by ``"cw"`` only."""
    if kind == "ce":
        return ce_loss(logits, y, reduction=reduction)
    if kind == "cw":
        return cw_loss(logits, y, kappa=kappa, reduction=reduction)
    raise AttackError(f"loss must be one of {LOSSES}, got {kind!r}")


def loss_sum(kind: str, kappa: float = 0.0) -> LossFn:
    """The attack objective to ascend, summed over the batch (one scalar for ``autograd.grad``)."""
    if kind not in LOSSES:
        raise AttackError(f"loss must be one of {LOSSES}, got {kind!r}")
    if kind == "ce":
        return lambda logits, y: ce_loss(logits, y, reduction="sum")
    return lambda logits, y: cw_loss(logits, y, kappa=kappa, reduction="sum")
