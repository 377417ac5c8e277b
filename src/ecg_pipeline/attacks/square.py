"""Square attack, L-inf: score-based random search (no gradients), one-dimensional signals.

Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient black-box adversarial
attack via random search", ECCV 2020, Algorithms 1 and 2 (L-inf). Per sample, minimise the margin
loss ``L(x) = z_y(x) - max_{k != y} z_k(x)`` (the model's output scores only) by random search over
vertices of the feasible set:

- initialisation: "vertical stripes": in an image each column of each channel gets one random sign
  over its whole height; a signal ``[channels, length]`` has height 1, so every (channel, time)
  element gets its own ``+-eps`` sign: ``x^0 = P(x + eps * s)``;
- each iteration proposes, for every sample still classified correctly, a new point that equals the
  current best outside one window and ``x + eps * s_c`` inside it (one random sign ``s_c`` per
  channel, as the paper draws one sign per colour channel for a square), and keeps it if the margin
  loss decreased. A proposal that would not change the current point is redrawn (Algorithm 2).

The 1-D analogue of the square (a choice, stated here): in an image of ``h x w`` pixels the square's
side is ``sqrt(p * h * w)``, so it covers a fraction ``p`` of the pixels. Here the window is
``round(p * length)`` consecutive time samples (at least 1), across all channels: the same fraction
``p`` of the signal, contiguous in time. (Reading the signal as a 1 x length image, as a reshape for
an image implementation does, gives windows of only ``sqrt(p * length)`` samples instead.)

``p`` follows the paper's piecewise-constant schedule for 10,000 queries, rescaled to the budget:
``p_init`` halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 (of 10,000) iterations.

Queries are counted per sample: the clean prediction, the initial point and one per iteration; a
sample stops being queried once misclassified (then its first misclassified point is returned) or
when ``max_queries`` is spent (then its lowest-margin point). P is the projection onto the eps-ball,
the mask (zero width where the mask is 0) and the domain ``bounds``.
"""

from __future__ import annotations

import torch
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, Bounds, check_attack_call, feasible_box, frozen, margin, register_attack
from .pgd import _int_param

#: (iteration out of 10,000, divisor of p_init after it), Andriushchenko et al. 2020, section 4 / code.
P_SCHEDULE = ((10, 2), (50, 4), (200, 8), (500, 16), (1000, 32), (2000, 64), (4000, 128), (6000, 256), (8000, 512))
_REDRAWS = 10


def p_schedule(it: int, max_queries: int, p_init: float) -> float:
    """The fraction ``p`` at iteration ``it`` of a ``max_queries`` budget (schedule rescaled to 10,000)."""
    scaled = int(it / max_queries * 10000)
    divisor = 1
    for start, d in P_SCHEDULE:
        if scaled > start:
            divisor = d
    return p_init / divisor


def square_with_queries(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    max_queries: int = 5000,
    p_init: float = 0.8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`square` that also returns the number of model queries spent on each sample ``[n]``."""
    check_attack_call(model, x, y, eps, mask=mask, bounds=bounds, p_init=p_init)
    max_queries = _int_param("max_queries", max_queries, 2)
    if not float(p_init) <= 1:
        raise AttackError(f"p_init must be in (0, 1], got {p_init}")
    if x.dim() != 3:
        raise AttackError(f"square needs x of shape [n, channels, length], got {tuple(x.shape)}")
    eps = float(eps)
    x = x.detach()
    y = y.detach().long()
    mask = None if mask is None else mask.detach()
    low, high = feasible_box(x, eps, mask, bounds)
    n, channels, length = x.shape
    queries = torch.zeros(n, dtype=torch.long, device=x.device)
    result = x.clamp(low, high)
    if eps == 0 or n == 0:
        return result, queries
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    time_idx = torch.arange(length, device=x.device)

    def scores(xa, rows):
        with torch.inference_mode():
            logits = logits_of(model, xa, None if mask is None else mask[rows])
        return logits.argmax(dim=1) != y[rows], margin(logits, y[rows])

    with frozen(model):
        rows = torch.arange(n, device=x.device)
        fooled, _ = scores(result, rows)
        queries += 1
        rows = (~fooled).nonzero().squeeze(1)  # misclassified clean: returned as x
        if rows.numel() == 0:
            return result, queries
        signs = torch.randint(0, 2, (rows.numel(), channels, length), generator=gen, device=x.device)
        x_best = (x[rows] + eps * (2 * signs - 1).to(x.dtype)).clamp_(low[rows], high[rows])
        fooled, m_best = scores(x_best, rows)
        queries[rows] += 1
        result[rows] = x_best
        live = ~fooled  # rows (of `rows`) still classified correctly
        it = 0
        while bool(live.any()) and int(queries[rows[live]].max()) < max_queries:
            act = live.nonzero().squeeze(1)
            g = rows[act]
            k = act.numel()
            width = max(int(round(p_schedule(it, max_queries, float(p_init)) * length)), 1)
            start = torch.randint(0, length - width + 1, (k,), generator=gen, device=x.device)
            window = ((time_idx >= start[:, None]) & (time_idx < start[:, None] + width))[:, None, :]  # [k, 1, L]
            current = x_best[act]
            sign = (2 * torch.randint(0, 2, (k, channels, 1), generator=gen, device=x.device) - 1).to(x.dtype)
            proposal = torch.where(window, (x[g] + eps * sign).clamp_(low[g], high[g]), current)
            for _ in range(_REDRAWS):  # Algorithm 2: a window that would not change the point is redrawn
                same = (proposal == current).flatten(1).all(dim=1)
                if not bool(same.any()):
                    break
                s = same.nonzero().squeeze(1)
                resign = (2 * torch.randint(0, 2, (s.numel(), channels, 1), generator=gen, device=x.device) - 1).to(x.dtype)
                proposal[s] = torch.where(window[s], (x[g[s]] + eps * resign).clamp_(low[g[s]], high[g[s]]), current[s])
            now_fooled, m_new = scores(proposal, g)
            queries[g] += 1
            better = (m_new < m_best[act]) | now_fooled
            keep = act[better]
            x_best[keep] = proposal[better]
            m_best[keep] = m_new[better]
            live[act[now_fooled]] = False
            it += 1
        result[rows] = x_best
        return result, queries


@register_attack("square", gradient_free=True, effort_keys=("max_queries",))
def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    max_queries: int = 5000,
    p_init: float = 0.8,
) -> torch.Tensor:
    """Square attack, L-inf (Andriushchenko et al., 2020) on the whole batch; returns ``x_adv``.

    Args:
        max_queries: model queries per sample, all included (clean check, start, one per
            iteration); AutoAttack uses 5,000.
        p_init: initial fraction of the signal changed per iteration (window ``round(p * length)``
            samples across all channels; see the module docstring); the paper's 0.8 by default.

    Score-based: uses only the model's outputs (never gradients), under ``torch.inference_mode``.
    Deterministic for a ``seed``; the model's weights, flags and mode are left as found (``frozen``).
    """
    return square_with_queries(
        model, x, y, eps, mask=mask, bounds=bounds, seed=seed, max_queries=max_queries, p_init=p_init
    )[0]


from .base import declare_params, integer, number  # noqa: E402

for _attack in (square, square_with_queries):
    declare_params(_attack, max_queries=integer(1), p_init=number(above=0, at_most=1))
