"""HopSkipJumpAttack, L-inf version: a decision-based attack that sees only the model's top-1 label.

Chen, Jordan & Wainwright, "HopSkipJumpAttack: A Query-Efficient Decision-Based Attack", IEEE S&P 2020
(Algorithm 2, untargeted, L-inf). From a misclassified starting point, repeat:

1. binary search between the clean input ``x`` and the current point for the decision boundary; for
   L-inf the search runs over the radius ``r`` of the clip ``x + clip(x_adv - x, -r, r)`` and stops at
   a bracket of ``min(theta * r_high, theta)``, ``theta = gamma / d**2`` (``d`` the input dimension);
2. Monte-Carlo estimate of the gradient direction of the decision function at the boundary point:
   ``B_t = min(init_evals * sqrt(t), max_evals)`` random unit directions ``u_b`` (uniform in the cube,
   L2-normalised, at masked positions), probed at ``x_b + delta_t u_b`` with ``delta_t = d * theta *
   dist_{t-1}`` (``0.1 * (high - low)`` of the domain at ``t = 1``); the estimate is
   ``mean_b (phi_b - mean(phi)) u_b`` with ``phi = +1`` adversarial / ``-1`` not (the paper's
   baseline-corrected estimator, Eq. 16), and the L-inf update direction is its sign;
3. geometric step-size search: ``xi = dist / sqrt(t)``, halved until ``x_b + xi * sign(grad)``
   (clipped to the domain) is adversarial (at most ``max_step_halvings`` halvings);

where ``dist`` is the L-inf distance of the boundary point to ``x``. The starting point is uniform
noise in the domain (``bounds``, else the batch's value range) at the masked positions, redrawn until
misclassified (``init_tries``), then pulled towards ``x`` by a binary search along the segment
(``init_search_steps``), as in the paper. The closest (L-inf) boundary point seen is returned.

All queries go through :class:`~ecg_pipeline.attacks.oracle.LabelOracle` (labels only, counted,
budgeted per sample, no grad); a sample stops when its budget cannot pay for another gradient
estimate plus the binary search after it.

Eps convention (:func:`~ecg_pipeline.attacks.oracle.within_eps_ball`): the search minimises the L-inf
distance and ignores ``eps``; :func:`hopskipjump` returns the found point only where it lies inside
the L-inf eps-ball around ``x``, ``x`` unchanged elsewhere. :func:`hopskipjump_search` returns the raw
result so that an eps grid needs one search.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Bounds, frozen, per_row, project, register_attack
from .oracle import (
    eps_ball_attack,
    DecisionResult,
    LabelOracle,
    blend_search,
    check_decision_inputs,
    domain_of,
    split_rows,
    uniform_starts,
)


def _linf(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).flatten(1).abs().amax(dim=1)


def _linf_binary_search(oracle, x, y, point, idx, theta) -> torch.Tensor:
    """Boundary points between ``x`` and the adversarial ``point`` (rows ``idx``), L-inf clip search.
    Returns ``point`` with rows ``idx`` replaced by the adversarial end of the final bracket."""
    out = point.clone()
    if idx.numel() == 0:
        return out
    xi, pi = x[idx], point[idx]
    high = _linf(pi, xi)
    low = torch.zeros_like(high)
    thr = torch.clamp(high * theta, max=theta)
    pos = torch.arange(idx.numel())
    while True:
        open_ = pos[((high - low) > thr) & (oracle.remaining()[idx] >= 1)]
        if open_.numel() == 0:
            break
        mid = (high[open_] + low[open_]) / 2
        r = per_row(mid, xi)
        cand = xi[open_] + torch.maximum(torch.minimum(pi[open_] - xi[open_], r), -r)
        adv = oracle.is_adversarial(cand, idx[open_], y)
        high[open_] = torch.where(adv, mid, high[open_])
        low[open_] = torch.where(adv, low[open_], mid)
    r = per_row(high, xi)
    out[idx] = xi + torch.maximum(torch.minimum(pi - xi, r), -r)
    return out


def hopskipjump_search(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    max_queries: int = 5000,
    init_evals: int = 100,
    max_evals: int = 10000,
    gamma: float = 1.0,
    init_tries: int = 100,
    init_search_steps: int = 10,
    max_step_halvings: int = 30,
) -> DecisionResult:
    """Run HopSkipJumpAttack (L-inf) with at most ``max_queries`` label queries per sample (counting the
    clean-label query and the initialisation) and return what it found (see :class:`DecisionResult`).
    Deterministic for a ``seed`` (a local ``torch.Generator``)."""
    check_decision_inputs(
        x, y, 0.0, mask=mask, bounds=bounds, max_queries=max_queries,
        integers={"init_evals": init_evals, "max_evals": max_evals, "init_tries": init_tries,
                  "init_search_steps": init_search_steps, "max_step_halvings": max_step_halvings},
        gamma=gamma,
    )
    x = x.detach()
    n = x.shape[0]
    d = x[0].numel() if n else 1
    theta = float(gamma) / d**2
    low, high = domain_of(x, bounds) if n else (0.0, 1.0)
    # queries one binary search may take: log2(bracket / threshold) <= log2(1 / theta) + 1
    search_cost = int(math.ceil(math.log2(1.0 / theta))) + 1
    gen = torch.Generator().manual_seed(int(seed))
    oracle = LabelOracle(model, n, max_queries, mask=mask)
    with torch.no_grad(), frozen(model):
        clean_labels = oracle(x, torch.arange(n)) if n else torch.empty(0, dtype=torch.int64)
        oracle.check_labels(y)
        success = clean_labels != y
        best = x.clone()
        todo = (~success).nonzero().squeeze(1)
        if todo.numel() == 0:
            return DecisionResult(x_adv=best, success=success, queries=oracle.queries.clone())
        start, found = uniform_starts(
            oracle, x, y, todo, domain=(low, high), mask=mask, bounds=bounds, tries=init_tries, gen=gen
        )
        active = todo[found[todo]]
        start = blend_search(oracle, x, start, y, active, steps=init_search_steps)
        current = _linf_binary_search(oracle, x, y, start, active, theta)
        best[active] = current[active]
        success |= found
        best_dist = torch.full((n,), float("inf"), dtype=x.dtype)
        best_dist[active] = _linf(current[active], x[active])
        dist = best_dist.clone()

        t = 0
        while True:
            t += 1
            evals = min(int(init_evals * math.sqrt(t)), max_evals)
            budget = oracle.remaining()[active] - 1 - search_cost
            active = active[budget >= 2]
            if active.numel() == 0:
                break
            counts = torch.clamp(oracle.remaining()[active] - 1 - search_cost, max=evals)

            # gradient-direction estimate at the boundary point
            delta = torch.full_like(dist, 0.1 * (high - low)) if t == 1 else d * theta * dist
            rows = split_rows(counts, active)
            u = torch.rand((rows.numel(), *x.shape[1:]), generator=gen, dtype=x.dtype).to(x.device) * 2 - 1
            if mask is not None:
                u = u * mask[rows]
            u = u / per_row(u.flatten(1).norm(dim=1).clamp_min(1e-12), x)
            base = current[rows]
            dr = per_row(delta[rows], x)
            probe = project(base + dr * u, x[rows], float("inf"), None if mask is None else mask[rows], bounds)
            u = (probe - base) / dr
            phi = oracle.is_adversarial(probe, rows, y).to(x.dtype) * 2 - 1
            mean_phi = torch.zeros(n, dtype=x.dtype).index_add_(0, rows, phi) / torch.bincount(rows, minlength=n).clamp_min(1)
            m_rows = mean_phi[rows]
            # all probes on one side: the paper's plain average (sign of phi) instead of the baseline
            weight = torch.where(m_rows.abs() == 1, phi, phi - m_rows)
            grad = torch.zeros_like(x).index_add_(0, rows, per_row(weight, x) * u)
            update = torch.sign(grad[active])

            # geometric step-size search
            xi = dist[active] / math.sqrt(t)
            stepped = current[active].clone()
            moved = torch.zeros(active.numel(), dtype=torch.bool)
            pos = torch.arange(active.numel())
            for _ in range(max_step_halvings):
                open_ = pos[~moved & (oracle.remaining()[active] >= 1)]
                if open_.numel() == 0:
                    break
                rows_o = active[open_]
                cand = current[rows_o] + per_row(xi[open_], x) * update[open_]
                cand = project(cand, x[rows_o], float("inf"), None if mask is None else mask[rows_o], bounds)
                adv = oracle.is_adversarial(cand, rows_o, y)
                stepped[open_[adv]] = cand[adv]
                moved[open_[adv]] = True
                xi[open_[~adv]] = xi[open_[~adv]] / 2

            # back to the boundary
            nxt = current.clone()
            nxt[active] = stepped
            current = _linf_binary_search(oracle, x, y, nxt, active, theta)
            dist[active] = _linf(current[active], x[active])
            better = active[dist[active] < best_dist[active]]
            best[better] = current[better]
            best_dist[better] = dist[better]
    return DecisionResult(x_adv=best, success=success, queries=oracle.queries.clone())


hopskipjump = eps_ball_attack(
    hopskipjump_search,
    "hopskipjump",
    """HopSkipJumpAttack (Chen, Jordan & Wainwright, 2020), L-inf, scored in the eps-ball: the found adversarial point where it lies within ``eps`` (L-inf) of ``x``, else ``x`` unchanged (see the module docstring). ``eps == 0`` returns ``x`` without querying the model.""",
)
register_attack("hopskipjump", search=hopskipjump_search, effort_keys=("max_queries",))(hopskipjump)


from .base import declare_params, integer, number  # noqa: E402

declare_params(hopskipjump_search, max_queries=integer(1), init_evals=integer(1), max_evals=integer(1),
               gamma=number(above=0), init_tries=integer(1), init_search_steps=integer(1), max_step_halvings=integer(1))
