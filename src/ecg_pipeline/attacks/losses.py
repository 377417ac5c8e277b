"""The attack objectives, defined once: cross-entropy, the Carlini-Wagner margin loss, DLR, and the
detector-evasion loss on a three-head discriminator (ECG-ATK-GAN's adaptive attack).

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
#: Losses on the heads of a three-head discriminator (``model.heads(x)``, ecg_pipeline.models.atk_gan), not on
#: the logits alone: PGD and APGD (untargeted) accept them by name (``loss="evasion"``).
HEAD_LOSSES = ("evasion",)
CLEAN_CLASS = 0  # the attack head's classes: 0 clean, 1 attacked (seed 002 eq. 1; defenses.atk_gan.attack_loss)
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


def detector_evasion_loss(arrhythmia_logits: torch.Tensor, attack_logits: torch.Tensor, y: torch.Tensor, *,
                          reduction: str = "none") -> torch.Tensor:
    """The adaptive attacker's objective against ECG-ATK-GAN's deployed discriminator (issue 10 item 6; seed 002
    eqs. 1-2 give the two heads' losses), to be ascended::

        CE(arrhythmia logits, y) - CE(attack-head logits, clean)

    the sum of the untargeted arrhythmia loss (ascended: away from the true class) and the detector's loss
    towards "clean" entering as a targeted term (descended: the detector is pushed to call the beat clean).
    Ascending it looks for a beat that is misclassified and that the attack head does not flag."""
    _check_reduction(reduction)
    clean = torch.full_like(y, CLEAN_CLASS)
    out = (F.cross_entropy(arrhythmia_logits, y, reduction="none")
           - F.cross_entropy(attack_logits, clean, reduction="none"))
    return out.sum() if reduction == "sum" else out


class HeadsLoss:
    """A per-sample loss on a three-head discriminator's heads (``loss(heads, y)``), for the attacks that take one
    (PGD, APGD): they compute ``model.heads(x)``, predict with its arrhythmia head and ascend this loss."""

    on_heads = True

    def __init__(self, kind: str):
        if kind not in HEAD_LOSSES:
            raise AttackError(f"head loss must be one of {HEAD_LOSSES}, got {kind!r}")
        self.kind = kind

    def __call__(self, heads, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """One value per sample; ``target`` (APGD's call shape) is unused: the evasion loss is untargeted."""
        return detector_evasion_loss(heads.arrhythmia, heads.attack, y)


def loss_per_sample(kind: str, kappa: float = 0.0) -> LossFn:
    """The attack objective to ascend, one value per sample (summed by the caller for the gradient); a loss of
    :data:`HEAD_LOSSES` is a :class:`HeadsLoss` (called on the model's heads, not on logits)."""
    if kind in HEAD_LOSSES:
        return HeadsLoss(kind)
    if kind not in LOSSES:
        raise AttackError(f"loss must be one of {LOSSES}, got {kind!r}")
    return lambda logits, y: attack_loss(kind, logits, y, kappa=kappa)


def _check_classes(logits: torch.Tensor, needed: int, name: str) -> None:
    if logits.shape[-1] < needed:
        raise AttackError(f"the {name} loss needs at least {needed} classes, the model has {logits.shape[-1]}")


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, *, reduction: str = "none") -> torch.Tensor:
    """Difference of logits ratio, untargeted: Croce & Hein, "Reliable evaluation of adversarial
    robustness with an ensemble of diverse parameter-free attacks", ICML 2020, eq. (4)::

        DLR(z, y) = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)

    with ``z_pi1 >= z_pi2 >= ...`` the sorted logits. Shift- and scale-invariant in the logits; to be
    ascended (positive once misclassified). Needs at least 3 classes.
    """
    _check_reduction(reduction)
    _check_classes(logits, 3, "DLR")
    top = logits.topk(3, dim=1).values  # descending: z_pi1, z_pi2, z_pi3
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = torch.where(logits.argmax(dim=1) == y, top[:, 1], top[:, 0])  # max_{i != y} z_i
    out = -(true - other) / (top[:, 0] - top[:, 2] + 1e-12)
    return out.sum() if reduction == "sum" else out


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor, *, reduction: str = "none") -> torch.Tensor:
    """Targeted difference of logits ratio: Croce & Hein, ICML 2020, eq. (5)::

        DLR_t(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

    to be ascended (it pushes the logit of ``target`` above the true one). Needs at least 4 classes.
    """
    _check_reduction(reduction)
    _check_classes(logits, 4, "targeted DLR")
    top = logits.topk(4, dim=1).values
    true = logits.gather(1, y[:, None]).squeeze(1)
    tgt = logits.gather(1, target[:, None]).squeeze(1)
    out = -(true - tgt) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)
    return out.sum() if reduction == "sum" else out
