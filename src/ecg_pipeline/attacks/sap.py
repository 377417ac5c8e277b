"""Smooth adversarial perturbations (SAP) for ECGs.

Han, Hu, Foschini, Chinitz, Jankelson & Ranganath, "Deep learning models for electrocardiograms are
susceptible to adversarial attack", Nature Medicine 26, 2020 (Methods, "Smooth adversarial
perturbations"; eq. 3 of Wiedeman & Wang's summary, seed 004)::

    x'(theta) = x + (1/M) sum_{m=1}^{M} theta (*) K(s_m, sigma_m)
    theta_{i} = Clip_eps( theta_{i-1} + alpha * sign(grad_theta L(f(x'(theta_{i-1})), y)) )

with M = 25 normalised Gaussian kernels K(s, sigma)[k] ~ exp(-k^2 / (2 sigma^2)),
k = -(s//2) .. s//2, for s in {5, 7, 11, 15, 19} and sigma in {1, 3, 5, 7, 10}; zero-padded 'same'
length convolutions. As SAP is run by the published code of Ma & Liang (seed 001, "A Regularization
Method to Improve Adversarial Robustness of Neural Networks for ECG Signal Classification", code at
github.com/SarielMa) and of Wiedeman & Wang (seed 004, "Decorrelative network architecture for robust
electrocardiogram classification", 2022: 20 PGD steps, then 40 on theta): ``pgd_steps`` plain PGD
steps from ``x`` (no random start) give the starting theta (the unsmoothed PGD perturbation), then
``steps`` sign steps on theta, clipped to +-eps. The applied perturbation is the smoothed theta.
Returned, per sample, is the strongest smoothed iterate ``x'(theta_0) .. x'(theta_steps)``: the first
misclassified one, else the one with the highest loss (not the last; the warm start likewise keeps its
strongest iterate, see :mod:`.pgd`). ``confidence`` moves the finishing line in both phases as in :mod:`.pgd`
(misclassified by that margin; ``inf``: every step, the full-confidence examples of transfer studies).

Because convolution is linear, the mean of the 25 convolutions equals ONE convolution with the mean
kernel (each kernel zero-padded, centred, to the longest size): that is what is computed
(:func:`smoothing_kernel`, :func:`smooth`; the tests check the equality with the 25-fold sum).

The smoothed perturbation is bounded by eps (each kernel is non-negative and sums to 1; zero padding
only shrinks it), so x'(theta) is in the eps-ball. ``mask`` zeroes it on padded positions (the code
resets padding to 0 after smoothing, so theta on padding still leaks into real samples near the edge,
as in the code), and ``bounds`` clips x' into the domain - both by clamping to the feasible box, in
every step, so the model always sees the point that is returned.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, Bounds, check_attack_call, feasible_box, frozen, per_row, register_attack
from .losses import loss_per_sample
from .pgd import _confidence_check, _int_param, _sign_ascent, confidence_param, stronger_iterate

SIZES = (5, 7, 11, 15, 19)
SIGMAS = (1.0, 3.0, 5.0, 7.0, 10.0)


def gaussian_kernels(sizes: Sequence[int] = SIZES, sigmas: Sequence[float] = SIGMAS) -> list[torch.Tensor]:
    """The M = len(sizes) * len(sigmas) normalised Gaussian kernels (float64), size-major as coded."""
    kernels = []
    for size in sizes:
        k = torch.arange(size, dtype=torch.float64) - size // 2
        for sigma in sigmas:
            w = torch.exp(-(k**2) / (2.0 * float(sigma) ** 2))
            kernels.append(w / w.sum())
    return kernels


def smoothing_kernel(sizes: Sequence[int] = SIZES, sigmas: Sequence[float] = SIGMAS) -> torch.Tensor:
    """The mean of the kernels, each zero-padded (centred) to the largest size: one odd-length kernel."""
    kernels = gaussian_kernels(sizes, sigmas)
    width = max(k.numel() for k in kernels)
    total = torch.zeros(width, dtype=torch.float64)
    for k in kernels:
        off = (width - k.numel()) // 2
        total[off : off + k.numel()] += k
    return total / len(kernels)


def smooth(theta: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """'Same'-length, zero-padded convolution of every channel of ``theta`` [n, C, L] with ``kernel``."""
    n, c, length = theta.shape
    weight = kernel.to(theta.dtype).view(1, 1, -1)
    out = F.conv1d(theta.reshape(n * c, 1, length), weight, padding=kernel.numel() // 2)
    return out.view(n, c, length)


@register_attack("sap", effort_keys=("steps", "pgd_steps"))
def sap(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    pgd_steps: int = 20,
    steps: int = 40,
    step_size: float | None = None,
    sizes: Sequence[int] = SIZES,
    sigmas: Sequence[float] = SIGMAS,
    confidence: float = 0.0,
) -> torch.Tensor:
    """SAP (Han et al., 2020) on the whole batch; returns ``x + smooth(theta)`` clipped to mask/bounds.

    Args:
        pgd_steps: PGD warm-start steps from ``x`` (Han et al.: 20); 0 starts at theta = 0.
        steps: sign steps on theta (Han et al.: 40, twice the warm start).
        step_size: alpha for both phases; default ``eps / 10`` (Han et al.: eps 10, alpha 1 on raw
            amplitudes; Wiedeman & Wang: alpha = eps / 10).
        sizes, sigmas: the kernel grid (odd sizes).
        confidence: a beat is finished once misclassified by this logit margin (0: at all; ``inf``: never).

    ``seed`` is accepted for the common call shape (SAP draws no random numbers). The model is used
    inside ``frozen``; all checks run before any attack compute.
    """
    confidence = confidence_param(confidence)
    check_attack_call(model, x, y, eps, mask=mask, bounds=bounds, step_size=step_size)
    pgd_steps = _int_param("pgd_steps", pgd_steps, 0)
    steps = _int_param("steps", steps, 0)
    if not sizes or not sigmas or any(int(s) != s or s < 1 or s % 2 == 0 for s in sizes) or any(not float(g) > 0 for g in sigmas):
        raise AttackError(f"sizes must be odd positive integers and sigmas positive, got {sizes}, {sigmas}")
    if x.dim() != 3:
        raise AttackError(f"sap needs x of shape [n, channels, length], got {tuple(x.shape)}")
    eps = float(eps)
    x = x.detach()
    y = y.detach().long()
    mask = None if mask is None else mask.detach()
    low, high = feasible_box(x, eps, mask, bounds)
    if eps == 0 or x.shape[0] == 0:
        return x.clamp(low, high)
    step = eps / 10 if step_size is None else float(step_size)
    kernel = smoothing_kernel(sizes, sigmas).to(x.device)
    loss_fn = loss_per_sample("ce")

    with frozen(model):
        if pgd_steps:
            x_pgd = _sign_ascent(model, x.clamp(low, high), y, low, high, mask, steps=pgd_steps, step=step,
                                 loss_fn=loss_fn, cycle_check=0, confidence=confidence)
            theta = x_pgd - x
        else:
            theta = torch.zeros_like(x)
        theta.clamp_(-eps, eps).requires_grad_(True)
        # the strongest smoothed iterate per sample: the first misclassified (by confidence) one, else the strongest
        out = torch.clamp(x, low, high)
        best = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)
        best_fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for i in range(steps + 1):
            with torch.enable_grad():
                x_adv = torch.clamp(x + smooth(theta, kernel), low, high)
                logits = logits_of(model, x_adv, mask)
                values = loss_fn(logits, y)
                grad = torch.autograd.grad(values.sum(), theta)[0] if i < steps else None
            with torch.no_grad():
                finished, better, fooled = stronger_iterate(logits, values, y, ~done, best, best_fooled, confidence)
                out = torch.where(per_row(better, x), x_adv.detach(), out)
                best = torch.where(better, values.detach(), best)
                best_fooled = torch.where(better, fooled, best_fooled)
                done |= finished
                if grad is None or bool(done.all()):
                    break
                theta.add_(grad.sign_(), alpha=step).clamp_(-eps, eps)
        return out


from .base import declare_params, integer, number  # noqa: E402

declare_params(sap, pgd_steps=integer(0), steps=integer(0), step_size=number(above=0, none=True),
               confidence=_confidence_check)
