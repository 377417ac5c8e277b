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

**A radius per beat** (``eps`` a tensor ``[n]``): one call attacks every beat in its own ball, e.g. every
(eps, beat) pair of a grid that still stands (``attacks.autoattack``'s nested pass), so the query loop runs once
instead of once per eps. In the paper the radius enters only the vertices ``x +- eps`` (Algorithm 1's
initialisation and Algorithm 2's update); the window fraction ``p`` follows the iteration, the same schedule for
every beat since all start together. So a beat's proposals are those of the scalar attack at its own eps, with its
own ``+-eps`` values; a beat of eps 0 is returned as given and never queried. The random draws come in streams:
the beats that share (eps, seed) (``seed`` may also be one per beat) draw, in order, from their own generator
seeded by that seed: one call makes each (eps, seed) stream's draws of its own call on its beats alone, a tensor
of equal entries is the scalar call, and a scalar ``eps`` runs exactly as before. The model's forward passes are
batched over all streams by default; a matrix product's blocking depends on the batch size, so a beat's margin
may then differ in the last bits from its own call's, and the random search (which compares margins) take another
path. ``forward_per_stream=True`` queries each stream's live beats in a forward pass of their own, as their own
call does: then the result is the separate calls' bit for bit, and the saving is the one loop (the draws, windows
and updates of all streams in one set of tensor operations per iteration).
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
    eps: float | torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int | torch.Tensor = 0,
    max_queries: int = 5000,
    p_init: float = 0.8,
    forward_per_stream: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`square` that also returns the number of model queries spent on each sample ``[n]``; ``eps`` a float
    or a radius per sample ``[n]``, ``seed`` an int or one per sample ``[n]``; ``forward_per_stream``: each (eps,
    seed) stream's forward pass on its own (module doc)."""
    per_beat = torch.is_tensor(eps) and eps.dim() > 0
    if per_beat:
        eps = _radii(eps, x)
    n_classes = check_attack_call(model, x, y, float(eps.max()) if per_beat and eps.numel() else
                                  (0.0 if per_beat else eps), mask=mask, bounds=bounds, p_init=p_init)
    max_queries = _int_param("max_queries", max_queries, 2)
    if not float(p_init) <= 1:
        raise AttackError(f"p_init must be in (0, 1], got {p_init}")
    if x.dim() != 3:
        raise AttackError(f"square needs x of shape [n, channels, length], got {tuple(x.shape)}")
    x = x.detach()
    y = y.detach().long()
    mask = None if mask is None else mask.detach()
    if per_beat:
        low, high = _box_per_beat(x, eps, mask, bounds)
        radius = eps.view(-1, 1, 1)  # [n, 1, 1]: broadcast against a beat's rows
        attacked = eps > 0
    else:
        eps = float(eps)
        low, high = feasible_box(x, eps, mask, bounds)
        radius = eps
    n, channels, length = x.shape
    queries = torch.zeros(n, dtype=torch.long, device=x.device)
    result = x.clamp(low, high)
    if (not per_beat and eps == 0) or n == 0 or (per_beat and not bool(attacked.any())):
        return result, queries
    # a scalar radius is one number for every row; a per-beat one is indexed by the rows' beats
    eps_of = (lambda r: radius[r]) if per_beat else (lambda r: radius)
    streams = _Streams(eps if per_beat else None, seed, n, x.device)
    time_idx = torch.arange(length, device=x.device)

    def scores(xa, rows, parts=None):
        with torch.inference_mode():
            if forward_per_stream and len(streams.gens) > 1:
                logits = torch.empty((rows.numel(), n_classes), dtype=x.dtype, device=x.device)
                for _, at in parts if parts is not None else streams.split(rows):
                    logits[at] = logits_of(model, xa[at], None if mask is None else mask[rows[at]])
            else:
                logits = logits_of(model, xa, None if mask is None else mask[rows])
        return logits.argmax(dim=1) != y[rows], margin(logits, y[rows])

    with frozen(model):
        # eps 0 (per beat): nothing to search, returned as given and never queried, as the scalar eps 0
        rows = attacked.nonzero().squeeze(1) if per_beat else torch.arange(n, device=x.device)
        fooled, _ = scores(result[rows], rows)
        queries[rows] += 1
        rows = rows[~fooled]  # misclassified clean: returned as x
        if rows.numel() == 0:
            return result, queries
        signs = streams.randint(2, (channels, length), rows)
        x_best = (x[rows] + eps_of(rows) * (2 * signs - 1).to(x.dtype)).clamp_(low[rows], high[rows])
        fooled, m_best = scores(x_best, rows)
        queries[rows] += 1
        result[rows] = x_best
        live = ~fooled  # rows (of `rows`) still classified correctly
        it = 0
        while bool(live.any()) and int(queries[rows[live]].max()) < max_queries:
            act = live.nonzero().squeeze(1)
            g = rows[act]
            width = max(int(round(p_schedule(it, max_queries, float(p_init)) * length)), 1)
            parts = streams.split(g)  # once per iteration: each stream's live rows
            start = streams.randint(length - width + 1, (), g, parts)
            window = ((time_idx >= start[:, None]) & (time_idx < start[:, None] + width))[:, None, :]  # [k, 1, L]
            current = x_best[act]
            sign = (2 * streams.randint(2, (channels, 1), g, parts) - 1).to(x.dtype)
            proposal = torch.where(window, (x[g] + eps_of(g) * sign).clamp_(low[g], high[g]), current)
            for _ in range(_REDRAWS):  # Algorithm 2: a window that would not change the point is redrawn
                same = (proposal == current).flatten(1).all(dim=1)
                if not bool(same.any()):
                    break
                s = same.nonzero().squeeze(1)
                resign = (2 * streams.randint(2, (channels, 1), g[s]) - 1).to(x.dtype)
                proposal[s] = torch.where(window[s], (x[g[s]] + eps_of(g[s]) * resign).clamp_(low[g[s]], high[g[s]]),
                                          current[s])
            now_fooled, m_new = scores(proposal, g, parts)
            queries[g] += 1
            better = (m_new < m_best[act]) | now_fooled
            keep = act[better]
            x_best[keep] = proposal[better]
            m_best[keep] = m_new[better]
            live[act[now_fooled]] = False
            it += 1
        result[rows] = x_best
        return result, queries


class _Streams:
    """The random draws of one call: one ``torch.Generator`` per stream, a stream being the rows that share
    (eps, seed), seeded by that seed; a draw for some rows (in increasing order) takes each stream's rows from its
    own generator, in order. One stream (a scalar eps and seed): exactly the draws of a single generator, as before.
    Several: each stream's rows see the draws of the call on those rows alone."""

    def __init__(self, eps: torch.Tensor | None, seed, n: int, device: torch.device):
        self.device = device
        seeds = _seeds(seed, n, device)
        if eps is None and seeds is None:
            self.stream, self.gens = None, [torch.Generator(device=device).manual_seed(int(seed))]
            return
        keys = list(zip(eps.tolist() if eps is not None else [0.0] * n,
                        seeds.tolist() if seeds is not None else [int(seed)] * n))
        index: dict = {}
        self.stream = torch.tensor([index.setdefault(k, len(index)) for k in keys], dtype=torch.long, device=device)
        self.gens = [torch.Generator(device=device).manual_seed(int(k[1])) for k in index]

    def randint(self, high: int, tail: tuple, rows: torch.Tensor, parts=None) -> torch.Tensor:
        """Integers in [0, high) of shape ``[len(rows), *tail]``, each row from its stream's generator (``parts``:
        :meth:`split` of ``rows``, when already known)."""
        if self.stream is None or len(self.gens) == 1:
            return torch.randint(0, high, (rows.numel(), *tail), generator=self.gens[0], device=self.device)
        out = torch.empty((rows.numel(), *tail), dtype=torch.long, device=self.device)
        for k, at in parts if parts is not None else self.split(rows):  # a stream with no rows draws nothing
            out[at] = torch.randint(0, high, (at.numel(), *tail), generator=self.gens[k], device=self.device)
        return out

    def split(self, rows: torch.Tensor) -> list[tuple[int, torch.Tensor]] | None:
        """``(stream, positions in rows)`` for each stream present among ``rows``, positions in increasing order
        (None for one stream)."""
        if self.stream is None or len(self.gens) == 1:
            return None
        of_rows = self.stream[rows]
        order = torch.argsort(of_rows, stable=True)
        streams, counts = torch.unique_consecutive(of_rows[order], return_counts=True)
        return list(zip(streams.tolist(), torch.split(order, counts.tolist())))


def _seeds(seed, n: int, device) -> torch.Tensor | None:
    """None for one int seed; else the checked per-sample seeds ``[n]`` (integers)."""
    if not (torch.is_tensor(seed) and seed.dim() > 0):
        return None
    if seed.dim() != 1 or seed.shape[0] != n or seed.is_floating_point():
        raise AttackError(f"square: a per-beat seed must be an integer vector of {n} seeds (one per beat), got "
                          f"{seed.dtype} of shape {tuple(seed.shape)}")
    return seed.to(device=device, dtype=torch.long)


def _radii(eps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-beat radius checked before any query: one finite value >= 0 per beat, in ``x``'s dtype and device."""
    if eps.dim() != 1 or eps.shape[0] != x.shape[0]:
        raise AttackError(f"square: a per-beat eps must be a vector of {x.shape[0]} radii (one per beat), got shape "
                          f"{tuple(eps.shape)}")
    eps = eps.detach().to(device=x.device, dtype=x.dtype)
    bad = ~torch.isfinite(eps) | (eps < 0)
    if bool(bad.any()):
        first = int(bad.nonzero()[0])
        raise AttackError(f"square: eps must be finite and >= 0 for every beat, beat {first} has {float(eps[first]):g}")
    return eps


def _box_per_beat(x, eps, mask, bounds) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~.base.feasible_box` with a radius per beat: the beat's eps-ball, zero width where the mask is 0,
    within ``bounds``."""
    radius = eps.view(-1, 1, 1).expand_as(x)
    if mask is not None:
        radius = torch.broadcast_to(radius * mask.to(x.dtype), x.shape)
    low, high = x - radius, x + radius
    if bounds is not None:
        low.clamp_(bounds[0], bounds[1])
        high.clamp_(bounds[0], bounds[1])
    return low, high


@register_attack("square", gradient_free=True, effort_keys=("max_queries",))
def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int | torch.Tensor = 0,
    max_queries: int = 5000,
    p_init: float = 0.8,
    forward_per_stream: bool = False,
) -> torch.Tensor:
    """Square attack, L-inf (Andriushchenko et al., 2020) on the whole batch; returns ``x_adv``. ``eps``: one radius,
    or one per beat (a tensor ``[n]``; module doc).

    Args:
        max_queries: model queries per sample, all included (clean check, start, one per
            iteration); AutoAttack uses 5,000.
        p_init: initial fraction of the signal changed per iteration (window ``round(p * length)``
            samples across all channels; see the module docstring); the paper's 0.8 by default.

    Score-based: uses only the model's outputs (never gradients), under ``torch.inference_mode``.
    Deterministic for a ``seed``; the model's weights, flags and mode are left as found (``frozen``).
    """
    return square_with_queries(
        model, x, y, eps, mask=mask, bounds=bounds, seed=seed, max_queries=max_queries, p_init=p_init,
        forward_per_stream=forward_per_stream)[0]


from .base import declare_params, integer, number  # noqa: E402

for _attack in (square, square_with_queries):
    declare_params(_attack, max_queries=integer(1), p_init=number(above=0, at_most=1))
