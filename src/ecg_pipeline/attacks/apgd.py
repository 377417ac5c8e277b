"""Auto-PGD (APGD), L-inf, untargeted (APGD-CE / APGD-DLR) and targeted (APGD-T).

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020, Algorithm 1 and section 3. With P the projection onto the
feasible set (eps-ball around x, zero width where ``mask`` is 0, domain ``bounds``)::

    x^1     = P(x^0 + eta^0 sign(grad f(x^0)))
    z^{k+1} = P(x^k + eta^k sign(grad f(x^k)))
    x^{k+1} = P(x^k + alpha (z^{k+1} - x^k) + (1 - alpha)(x^k - x^{k-1})),   alpha = 0.75

with eta^0 = 2 eps. At the checkpoints w_j (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1}
- 0.03, 0.06), w_j = p_j * steps, in integer steps as in the authors' code: first period
``int(0.22 steps)``, each next period shorter by ``int(0.03 steps)`` down to ``int(0.06 steps)``,
all at least 1) the step of a sample is halved, and the sample restarted from its best point
x_max (and that point's gradient), if

1. the loss increased in fewer than ``rho * (w_j - w_{j-1})`` of the steps since the last checkpoint
   (the paper's strict inequality; rho = 0.75), or
2. its step was not halved at the last checkpoint and its best loss has not changed since then.

Losses: ``"ce"`` (cross-entropy) and ``"dlr"`` (:func:`~.losses.dlr_loss`, eq. 4); targeted mode
(APGD-T) uses :func:`~.losses.dlr_targeted_loss` (eq. 5) with ``loss="dlr"`` (``loss="ce"``
targeted ascends ``-CE(z, t)``). APGD-T runs once per target class, the top ``n_target_classes``
classes by clean logit other than y (AutoAttack's order), each run only on the samples not yet
misclassified, and keeps a sample's first success.

What is returned, per sample: a sample misclassified clean is returned as ``x`` (projected into the
bounds); otherwise the FIRST misclassified iterate of any run (restart / target), else the point
with the highest value of the run's loss, compared across runs by the CW margin
``max_{i != y} z_i - z_y`` at that point (loss values of different targets are not comparable).

Speed: one forward/backward per step gives the gradient, the per-sample loss and the prediction
together; all bookkeeping (best point, checkpoint tests, step halving) is vectorised over samples;
a sample that becomes misclassified has its answer and leaves the working batch (exact: in eval
mode a sample's iterates do not depend on the other samples in its batch), and the batch is
compacted once a fraction of it has finished (as :mod:`.pgd` does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, Bounds, check_attack_call, feasible_box, frozen, margin, per_row, register_attack
from .losses import HEAD_LOSSES, HeadsLoss, dlr_loss, dlr_targeted_loss
from .pgd import _COMPACT_FRACTION, _int_param

APGD_LOSSES = ("ce", "dlr")
ALPHA = 0.75  # momentum (Croce & Hein 2020, section 3.2)


def checkpoint_periods(steps: int) -> list[int]:
    """Lengths w_j - w_{j-1} of the checkpoint periods covering ``steps`` (integer form of p_j)."""
    k, decr, k_min = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    periods, total = [], 0
    while total < steps:
        periods.append(k)
        total += k
        k = max(k - decr, k_min)
    return periods


def _loss_indiv(loss: str, targeted: bool):
    if loss in HEAD_LOSSES:  # on model.heads(x), untargeted (checked by apgd)
        return HeadsLoss(loss)
    if targeted:
        if loss == "dlr":
            return dlr_targeted_loss
        return lambda z, y, t: -F.cross_entropy(z, t, reduction="none")
    if loss == "dlr":
        return lambda z, y, t: dlr_loss(z, y)
    return lambda z, y, t: F.cross_entropy(z, y, reduction="none")


def _apgd_run(model, x0, y, target, low, high, mask, *, eps: float, steps: int, rho: float, loss_fn):
    """One APGD run from ``x0`` (feasible). Returns (point, fooled, score) per row: the first
    misclassified iterate where ``fooled``, else the highest-loss iterate with its CW margin score."""
    n = x0.shape[0]

    def evaluate(xa, y, target, mask):
        xa = xa.detach().requires_grad_(True)
        with torch.enable_grad():
            if getattr(loss_fn, "on_heads", False):   # a head loss: predict with the arrhythmia head
                heads = model.heads(xa)
                logits, lv = heads.arrhythmia, loss_fn(heads, y, target)
            else:
                logits = logits_of(model, xa, mask)
                lv = loss_fn(logits, y, target)
            (grad,) = torch.autograd.grad(lv.sum(), xa)
        return logits.detach(), lv.detach(), grad

    out = x0.clone()
    fooled_out = torch.zeros(n, dtype=torch.bool, device=x0.device)
    score_out = torch.full((n,), float("-inf"), dtype=x0.dtype, device=x0.device)

    xa = x0.clone()
    logits, lv, grad = evaluate(xa, y, target, mask)
    fooled = logits.argmax(dim=1) != y
    done = torch.zeros(n, dtype=torch.bool, device=x0.device)
    x_best, grad_best, loss_best = xa.clone(), grad.clone(), lv.clone()
    score_best = -margin(logits, y)
    x_prev = xa.clone()
    step = torch.full((n,), 2.0 * eps, dtype=x0.dtype, device=x0.device)
    n_incr = torch.zeros(n, dtype=x0.dtype, device=x0.device)
    loss_prev = lv.clone()
    loss_best_check = loss_best.clone()
    reduced_check = torch.ones(n, dtype=torch.bool, device=x0.device)
    rows = torch.arange(n, device=x0.device)
    periods = iter(checkpoint_periods(steps))
    period, counter = next(periods), 0

    for i in range(steps + 1):
        with torch.no_grad():
            new = fooled & ~done
            if bool(new.any()):  # first misclassified iterate: the answer for these rows
                hit = new.nonzero().squeeze(1)
                out[rows[hit]] = xa[hit]
                fooled_out[rows[hit]] = True
                done |= new
                keep_mask = ~done
                n_keep = int(keep_mask.sum())
                if n_keep == 0:
                    return out, fooled_out, score_out
                if done.numel() - n_keep >= max(1, int(done.numel() * _COMPACT_FRACTION)):
                    keep = keep_mask.nonzero().squeeze(1)
                    (xa, x_prev, grad, x_best, grad_best, loss_best, score_best, step, n_incr, loss_prev,
                     loss_best_check, reduced_check, rows, y, low, high) = (
                        t[keep] for t in (xa, x_prev, grad, x_best, grad_best, loss_best, score_best, step, n_incr,
                                          loss_prev, loss_best_check, reduced_check, rows, y, low, high)
                    )
                    target = None if target is None else target[keep]
                    mask = None if mask is None else mask[keep]
                    done = torch.zeros(keep.numel(), dtype=torch.bool, device=x0.device)
            if i == steps:
                break
            # the step (Algorithm 1, lines 3 and 8): momentum from the second step on
            s = per_row(step, xa)
            z = torch.addcmul(xa, s, grad.sign()).clamp_(low, high)
            if i == 0:
                x_new = z
            else:
                x_new = (xa + ALPHA * (z - xa) + (1 - ALPHA) * (xa - x_prev)).clamp_(low, high)
            x_prev, xa = xa, x_new
        logits, lv, grad = evaluate(xa, y, target, mask)
        with torch.no_grad():
            fooled = logits.argmax(dim=1) != y
            n_incr += (lv > loss_prev).to(n_incr.dtype)
            loss_prev = lv
            better = lv > loss_best
            if bool(better.any()):
                b = per_row(better, xa)
                x_best = torch.where(b, xa, x_best)
                grad_best = torch.where(b, grad, grad_best)
                loss_best = torch.where(better, lv, loss_best)
                score_best = torch.where(better, -margin(logits, y), score_best)
            counter += 1
            if counter == period:
                reduce = (n_incr < rho * period) | (~reduced_check & (loss_best_check >= loss_best))
                reduced_check = reduce
                loss_best_check = loss_best.clone()
                if bool(reduce.any()):
                    step = torch.where(reduce, step / 2, step)
                    r = per_row(reduce, xa)
                    xa = torch.where(r, x_best, xa)
                    grad = torch.where(r, grad_best, grad)
                n_incr.zero_()
                counter = 0
                period = next(periods, period)
    # never misclassified: the highest-loss point
    left = (~done).nonzero().squeeze(1)
    out[rows[left]] = x_best[left]
    score_out[rows[left]] = score_best[left]
    return out, fooled_out, score_out


@register_attack("apgd", effort_keys=("steps", "restarts"))
def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    loss: str = "ce",
    targeted: bool = False,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int | None = None,
    rho: float = 0.75,
) -> torch.Tensor:
    """L-inf APGD (Croce & Hein, 2020, Algorithm 1) on the whole batch; returns ``x_adv``.

    Args:
        loss: ``"ce"`` or ``"dlr"`` (eq. 4; eq. 5 when ``targeted``).
        targeted: APGD-T: one run per target class (top ``n_target_classes`` by clean logit, y
            excluded), each on the samples not yet misclassified; a sample keeps its first success.
        steps: iterations per run (AutoAttack: 100).
        restarts: random starts per run (per target when targeted); each starts at
            ``x + eps * u / max|u|``, u uniform in [-1, 1] (the authors' code), projected, and runs
            only on the samples not yet misclassified.
        n_target_classes: default ``n_classes - 1`` (every other class).
        rho: the checkpoint test's fraction of loss-increasing steps (paper: 0.75).

    Deterministic for a ``seed`` (a local ``torch.Generator``); the model's weights, flags and mode
    are left as found (``frozen``). All checks run before any attack compute.
    """
    n_classes = check_attack_call(model, x, y, eps, mask=mask, bounds=bounds, rho=rho)
    steps = _int_param("steps", steps, 1)
    restarts = _int_param("restarts", restarts, 1)
    if loss not in APGD_LOSSES + HEAD_LOSSES:
        raise AttackError(f"loss must be one of {APGD_LOSSES + HEAD_LOSSES}, got {loss!r}")
    if loss in HEAD_LOSSES and (targeted or not callable(getattr(model, "heads", None))):
        raise AttackError(f"loss {loss!r} is an untargeted loss on the heads of a three-head discriminator "
                          f"(model.heads(x)); got {type(model).__name__}, targeted={targeted}")
    if not float(rho) <= 1:
        raise AttackError(f"rho must be in (0, 1], got {rho}")
    if n_classes:
        needed = 4 if (targeted and loss == "dlr") else 3 if loss == "dlr" else 2
        if n_classes < needed:
            raise AttackError(f"{'targeted ' if targeted else ''}{loss} loss needs at least {needed} classes, the model has {n_classes}")
    if targeted:
        if n_target_classes is None:
            n_target_classes = max(n_classes - 1, 1)
        n_target_classes = _int_param("n_target_classes", n_target_classes, 1)
        if n_classes and n_target_classes > n_classes - 1:
            raise AttackError(f"n_target_classes must be <= {n_classes - 1} (classes other than y), got {n_target_classes}")
    eps = float(eps)
    x = x.detach()
    y = y.detach().long()
    mask = None if mask is None else mask.detach()
    low, high = feasible_box(x, eps, mask, bounds)
    result = x.clamp(low, high)
    if eps == 0 or x.shape[0] == 0:
        return result
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    loss_fn = _loss_indiv(loss, bool(targeted))

    with frozen(model):
        with torch.inference_mode():
            clean = logits_of(model, x, mask)
        clean = clean.clone()
        robust = clean.argmax(dim=1) == y
        order = None
        if targeted:
            others = clean.scatter(1, y[:, None], float("-inf"))
            order = others.argsort(dim=1, descending=True)
        best = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)
        for t_idx in range(n_target_classes if targeted else 1):
            for _ in range(restarts):
                rows = robust.nonzero().squeeze(1)
                if rows.numel() == 0:
                    return result
                lo, hi = low[rows], high[rows]
                # random start as in the authors' code: uniform, rescaled so its largest entry is eps
                t = torch.empty_like(lo).uniform_(-1.0, 1.0, generator=gen)
                t = t / t.flatten(1).abs().amax(dim=1).clamp_min(1e-12).view((-1,) + (1,) * (t.dim() - 1))
                x0 = t.mul_(eps).add_(x[rows]).clamp_(lo, hi)
                target = None if order is None else order[rows, t_idx]
                sub_mask = None if mask is None else mask[rows]
                point, fooled, score = _apgd_run(
                    model, x0, y[rows], target, lo, hi, sub_mask, eps=eps, steps=steps, rho=float(rho), loss_fn=loss_fn
                )
                take = fooled | (score > best[rows])
                result[rows[take]] = point[take]
                best[rows[take]] = score[take]
                robust[rows[fooled]] = False
        return result


@register_attack("apgd_ce", effort_keys=("steps", "restarts"))
def apgd_ce(model, x, y, eps, *, mask=None, bounds: Bounds = None, seed: int = 0, steps: int = 100, restarts: int = 1,
            rho: float = 0.75) -> torch.Tensor:
    """APGD-CE, AutoAttack's first attack: :func:`apgd` with ``loss="ce"``, untargeted."""
    return apgd(model, x, y, eps, mask=mask, bounds=bounds, seed=seed, loss="ce", steps=steps, restarts=restarts, rho=rho)


@register_attack("apgd_t", effort_keys=("steps", "restarts"))
def apgd_t(model, x, y, eps, *, mask=None, bounds: Bounds = None, seed: int = 0, steps: int = 100, restarts: int = 1,
           n_target_classes: int | None = None, rho: float = 0.75) -> torch.Tensor:
    """APGD-T, AutoAttack's second attack: :func:`apgd` with ``loss="dlr", targeted=True``."""
    return apgd(model, x, y, eps, mask=mask, bounds=bounds, seed=seed, loss="dlr", targeted=True, steps=steps,
                restarts=restarts, n_target_classes=n_target_classes, rho=rho)


from .base import declare_params, flag, integer, number, one_of  # noqa: E402

_APGD_CHECKS = dict(steps=integer(1), restarts=integer(1), n_target_classes=integer(1, none=True),
                    rho=number(above=0, at_most=1))
declare_params(apgd, loss=one_of(*APGD_LOSSES, *HEAD_LOSSES), targeted=flag(), **_APGD_CHECKS)
declare_params(apgd_ce, **{k: v for k, v in _APGD_CHECKS.items() if k != "n_target_classes"})
declare_params(apgd_t, **_APGD_CHECKS)
