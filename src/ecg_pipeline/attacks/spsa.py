"""SPSA: a gradient-free L-inf attack that reads only the model's logits.

Uesato, O'Donoghue, van den Oord & Kohli, "Adversarial Risk and the Dangers of Evaluating Against
Weak Attacks", ICML 2018: the gradient of a loss is estimated by simultaneous perturbation
stochastic approximation (Spall, 1992),

    g(x) = mean_k [ f(x + delta v_k) - f(x - delta v_k) ] / (2 delta) * v_k,   v_k ~ Rademacher^d,

and fed to a first-order optimiser, projecting onto the L-inf eps-ball after every step. As used in
the NSR workshop paper's code (Ma & Liang, "Improve robustness of DNN for ECG signal classification: a
noise-to-signal ratio perspective", ICLR 2020 workshop AI4AH, arXiv:2005.09134; seed 000): 100
iterations, 2048 perturbation samples per gradient estimate, delta 0.01, Adamax with learning rate 0.01, the margin
loss ``f = z_y - max_{j != y} z_j`` (:func:`~ecg_pipeline.attacks.base.margin`), minimised, and each
sample stops once it is misclassified. A sample already misclassified clean is left unchanged.

The whole attack runs under ``torch.no_grad``: no gradient is ever computed or read.
"""

from __future__ import annotations

import torch
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, Bounds, check_attack_call, frozen, margin, project, register_attack


def _margin_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return margin(logits_of(model, x, mask), y)


def _spsa_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    samples: int,
    delta: float,
    batch_size: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """SPSA estimate of d margin / dx for each row of ``x`` (``samples`` Rademacher pairs each)."""
    n = x.shape[0]
    grad = torch.zeros_like(x)
    block = max(1, min(n, batch_size // 2))
    for b0 in range(0, n, block):
        xb, yb = x[b0 : b0 + block], y[b0 : b0 + block]
        mb = None if mask is None else mask[b0 : b0 + block]
        nb = xb.shape[0]
        per_chunk = max(1, batch_size // (2 * nb))
        done = 0
        while done < samples:
            k = min(per_chunk, samples - done)
            v = torch.where(torch.rand((k, *xb.shape), generator=gen) < 0.5, -1.0, 1.0).to(device=x.device, dtype=x.dtype)
            if mb is not None:
                v = v * mb
            both = torch.cat([xb + delta * v, xb - delta * v]).reshape(2 * k * nb, *xb.shape[1:])
            yy = yb.repeat(2 * k)
            mm = None if mb is None else torch.broadcast_to(mb, xb.shape).repeat(2 * k, *([1] * (xb.dim() - 1)))
            f = _margin_of(model, both, yy, mm).view(2, k, nb)
            df = (f[0] - f[1]) / (2.0 * delta)  # [k, nb]
            grad[b0 : b0 + nb] += (df.view(k, nb, *([1] * (xb.dim() - 1))) * v).sum(dim=0)
            done += k
    return grad / samples


@register_attack("spsa", gradient_free=True, effort_keys=("iterations",))
def spsa(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    iterations: int = 100,
    samples: int = 2048,
    delta: float = 0.01,
    lr: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    batch_size: int = 8192,
    early_stop: bool = True,
) -> torch.Tensor:
    """SPSA (Uesato et al., 2018) with Adamax on the margin loss, projected onto the L-inf eps-ball.

    ``iterations`` optimiser steps; ``samples`` Rademacher perturbations per gradient estimate,
    evaluated ``batch_size`` model rows at a time (each perturbation costs two rows); ``delta`` the
    perturbation size; ``lr``/``betas`` the Adamax step (Kingma & Ba, 2015, as ``torch.optim.Adamax``,
    kept per sample so that a stopped sample's state does not move). ``early_stop`` freezes a sample
    at the first iterate that is misclassified. Deterministic for a ``seed`` (a local
    ``torch.Generator``); the model is queried under ``torch.no_grad`` inside ``frozen(model)``.
    """
    for name, value in (("iterations", iterations), ("samples", samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AttackError(f"{name} must be a positive integer, got {value!r}")
    if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
        raise AttackError(f"betas must lie in [0, 1), got {betas}")
    # input checks, then the label range against the model's output count (one forward on one input)
    check_attack_call(model, x, y, eps, mask=mask, bounds=bounds, delta=delta, lr=lr)
    eps = float(eps)
    x = x.detach()
    x_adv = x.clone()
    if eps == 0 or x.shape[0] == 0:
        return x_adv
    gen = torch.Generator().manual_seed(int(seed))
    b1, b2 = betas
    with torch.no_grad(), frozen(model):
        logits = logits_of(model, x, mask)
        active = margin(logits, y) > 0
        exp_avg = torch.zeros_like(x)
        exp_inf = torch.zeros_like(x)
        for t in range(1, iterations + 1):
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xa, ya = x_adv[idx], y[idx]
            ma = None if mask is None else mask[idx]
            g = _spsa_gradient(model, xa, ya, ma, samples=samples, delta=float(delta), batch_size=batch_size, gen=gen)
            m = exp_avg[idx].mul_(b1).add_(g, alpha=1 - b1)
            u = torch.maximum(exp_inf[idx].mul_(b2), g.abs().add_(1e-8))
            exp_avg[idx], exp_inf[idx] = m, u
            step = (float(lr) / (1 - b1**t)) * m / u
            x_adv[idx] = project(xa - step, x[idx], eps, ma, bounds)
            if early_stop:
                fooled = _margin_of(model, x_adv[idx], ya, ma) < 0
                active[idx[fooled]] = False
    return x_adv


from .base import declare_params, flag, integer, number  # noqa: E402

declare_params(spsa, iterations=integer(1), samples=integer(1), delta=number(above=0), lr=number(above=0),
               batch_size=integer(1), early_stop=flag())
