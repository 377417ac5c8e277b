"""Label-only access to a model for the decision-based attacks (Boundary, HopSkipJump).

Decision-based attacks (Brendel et al., 2018, "Decision-Based Adversarial Attacks: Reliable Attacks
Against Black-Box Machine Learning Models", ICLR; Chen, Jordan & Wainwright, 2020, "HopSkipJumpAttack:
A Query-Efficient Decision-Based Attack", IEEE S&P) may only see the top-1 label of a query. The
:class:`LabelOracle` enforces that: it runs the model under ``torch.no_grad`` on inputs that do not
require grad, hands back ``argmax`` labels only, counts queries per attacked sample and refuses a
query that would exceed the per-sample budget (:class:`QueryBudgetExceeded`) *before* running it.

Eps-ball convention shared by both attacks (see :func:`within_eps_ball`): the attacks minimise the
distance to the clean input without any eps; for the L-inf eps-grid evaluation a sample counts as
broken at ``eps`` only if the adversarial point the attack found lies inside the L-inf eps-ball
around the clean input. The attack then returns that point, otherwise the clean input unchanged.
The found point is never projected into the ball (that would be a different, unqueried point).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, check_attack_inputs, per_row, project

#: Absolute slack when comparing an L-inf distance with eps (float32 rounding of x + delta).
EPS_BALL_ATOL = 1e-6


class QueryBudgetExceeded(AttackError):
    """An attack asked the oracle for more queries than its per-sample budget allows."""


class LabelOracle:
    """Top-1 labels of ``model``, counted per attacked sample, with a hard per-sample budget.

    ``oracle(points, rows)`` classifies ``points`` ``[m, C, L]``; ``rows[k]`` names the attacked
    sample (0..n-1) that query ``k`` is charged to. Every point is one query. The model runs under
    ``torch.no_grad``: no autograd graph is built and no gradient can be read. The model is expected
    to be inside :func:`~ecg_pipeline.attacks.base.frozen` (the attacks do that).
    """

    def __init__(
        self,
        model: nn.Module,
        n: int,
        max_queries: int,
        *,
        mask: torch.Tensor | None = None,
        batch_size: int = 8192,
    ) -> None:
        if isinstance(max_queries, bool) or not isinstance(max_queries, int) or max_queries < 1:
            raise AttackError(f"max_queries must be a positive integer, got {max_queries!r}")
        self.model = model
        self.max_queries = max_queries
        self.mask = mask
        self.batch_size = batch_size
        self.queries = torch.zeros(n, dtype=torch.int64)
        self.n_classes: int | None = None

    def remaining(self) -> torch.Tensor:
        """Queries each sample may still make (int64 ``[n]``)."""
        return self.max_queries - self.queries

    def __call__(self, points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if points.requires_grad:
            raise AttackError("the label oracle refuses inputs that require grad (decision-based attacks read labels only)")
        rows = rows.to(torch.int64)
        if rows.shape != points.shape[:1]:
            raise AttackError(f"oracle: {points.shape[0]} points but {rows.shape[0]} row indices")
        if rows.numel() == 0:
            return torch.empty(0, dtype=torch.int64)
        charge = torch.bincount(rows, minlength=self.queries.numel())
        over = (self.queries + charge) > self.max_queries
        if bool(over.any()):
            i = int(over.nonzero()[0])
            raise QueryBudgetExceeded(
                f"sample {i} would use {int(self.queries[i] + charge[i])} queries, over the budget of {self.max_queries}"
            )
        self.queries += charge
        labels = []
        with torch.no_grad():
            for start in range(0, points.shape[0], self.batch_size):
                chunk = points[start : start + self.batch_size]
                chunk_mask = None if self.mask is None else self.mask[rows[start : start + self.batch_size]]
                logits = logits_of(self.model, chunk, chunk_mask)
                self.n_classes = int(logits.shape[-1])
                labels.append(logits.argmax(dim=-1))
        return torch.cat(labels)

    def is_adversarial(self, points: torch.Tensor, rows: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Untargeted criterion: the label differs from the true label ``y[rows]``."""
        return self(points, rows) != y[rows]

    def check_labels(self, y: torch.Tensor) -> None:
        """After the first query: the labels must lie in the model's class set."""
        if self.n_classes is not None and y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise AttackError(f"labels must lie in 0..{self.n_classes - 1} (the model has {self.n_classes} outputs)")


@dataclass
class DecisionResult:
    """What a decision-based search found, independent of any eps.

    ``x_adv``: the closest adversarial point found (the clean input where none was found);
    ``success``: an adversarial point was found (the clean input already misclassified counts, at
    distance 0); ``queries``: oracle queries spent per sample (int64).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    queries: torch.Tensor

    def linf(self, x: torch.Tensor) -> torch.Tensor:
        """L-inf distance of each found point to ``x`` (inf where nothing was found)."""
        d = (self.x_adv - x).flatten(1).abs().amax(dim=1)
        return torch.where(self.success, d, torch.full_like(d, float("inf")))

    def l2(self, x: torch.Tensor) -> torch.Tensor:
        """L2 distance of each found point to ``x`` (inf where nothing was found)."""
        d = (self.x_adv - x).flatten(1).norm(dim=1)
        return torch.where(self.success, d, torch.full_like(d, float("inf")))


def within_eps_ball(x: torch.Tensor, result: DecisionResult, eps: float) -> torch.Tensor:
    """The eps-grid convention: the found adversarial point where it lies in the L-inf eps-ball around
    ``x`` (``||x_adv - x||_inf <= eps + EPS_BALL_ATOL``), the clean input ``x`` everywhere else."""
    inside = result.linf(x) <= float(eps) + EPS_BALL_ATOL
    return torch.where(per_row(inside, x), result.x_adv, x)


def eps_ball_attack(search, name: str, doc: str):
    """The attack-call form of an eps-free decision-based ``search``: the found point where it lies in
    the L-inf eps-ball (:func:`within_eps_ball`), else ``x``; ``eps == 0`` returns ``x`` unqueried."""

    def attack(
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        eps: float,
        *,
        mask: torch.Tensor | None = None,
        bounds=None,
        seed: int = 0,
        max_queries: int = 5000,
        **hyper,
    ) -> torch.Tensor:
        check_decision_inputs(x, y, eps, mask=mask, bounds=bounds, max_queries=max_queries, integers={})
        if float(eps) == 0:
            return x.detach().clone()
        result = search(model, x, y, mask=mask, bounds=bounds, seed=seed, max_queries=max_queries, **hyper)
        return within_eps_ball(x.detach(), result, float(eps))

    attack.__name__ = attack.__qualname__ = name
    attack.__doc__ = doc
    return attack


# --- helpers shared by the decision-based attacks -------------------------------------------------


def check_decision_inputs(
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None,
    bounds,
    max_queries,
    integers: dict[str, object],
    **positive: float | None,
) -> None:
    """Input checks of a decision-based attack, before any query (eps, mask, bounds, budget, knobs)."""
    check_attack_inputs(x, y, eps, mask=mask, bounds=bounds, **positive)
    for name, value in {"max_queries": max_queries, **integers}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AttackError(f"{name} must be a positive integer, got {value!r}")


def domain_of(x: torch.Tensor, bounds) -> tuple[float, float]:
    """The box random starting points are drawn from: ``bounds``, or the batch's value range."""
    if bounds is not None:
        return float(bounds[0]), float(bounds[1])
    return float(x.min()), float(x.max())


def uniform_starts(
    oracle: LabelOracle,
    x: torch.Tensor,
    y: torch.Tensor,
    idx: torch.Tensor,
    *,
    domain: tuple[float, float],
    mask: torch.Tensor | None,
    bounds,
    tries: int,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Misclassified starting points for samples ``idx``: uniform noise in ``domain`` (at masked
    positions only), redrawn up to ``tries`` times. Returns ``(start [n, ...], found bool [n])``
    over all ``n`` samples (rows outside ``idx`` are left as ``x``, not found)."""
    start = x.clone()
    found = torch.zeros(x.shape[0], dtype=torch.bool)
    pending = idx.clone()
    low, high = domain
    for _ in range(tries):
        pending = pending[(oracle.remaining()[pending] >= 1) & ~found[pending]]
        if pending.numel() == 0:
            break
        u = torch.rand((pending.numel(), *x.shape[1:]), generator=gen, dtype=x.dtype).to(x.device) * (high - low) + low
        m = None if mask is None else mask[pending]
        cand = project(u, x[pending], float("inf"), m, bounds)
        adv = oracle.is_adversarial(cand, pending, y)
        start[pending[adv]] = cand[adv]
        found[pending[adv]] = True
    return start, found


def blend_search(
    oracle: LabelOracle,
    x: torch.Tensor,
    start: torch.Tensor,
    y: torch.Tensor,
    idx: torch.Tensor,
    *,
    steps: int,
) -> torch.Tensor:
    """Binary search along the segment ``(1 - a) x + a start`` (``start`` adversarial) for the
    smallest adversarial ``a``, ``steps`` halvings (fewer where the budget runs out). Returns the
    adversarial end of the final bracket for the rows in ``idx`` (other rows: ``start``)."""
    hi = torch.ones(x.shape[0], dtype=x.dtype)
    lo = torch.zeros(x.shape[0], dtype=x.dtype)
    for _ in range(steps):
        rows = idx[oracle.remaining()[idx] >= 1]
        if rows.numel() == 0:
            break
        mid = (lo[rows] + hi[rows]) / 2
        cand = x[rows] + per_row(mid, x) * (start[rows] - x[rows])
        adv = oracle.is_adversarial(cand, rows, y)
        hi[rows] = torch.where(adv, mid, hi[rows])
        lo[rows] = torch.where(adv, lo[rows], mid)
    out = start.clone()
    out[idx] = x[idx] + per_row(hi[idx], x) * (start[idx] - x[idx])
    return out


def split_rows(counts: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``idx[i]`` repeated ``counts[i]`` times: the sample each query row is charged to."""
    return torch.repeat_interleave(idx, counts)
