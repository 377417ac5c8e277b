"""Complete verification of the MLP by branch and bound on unstable ReLUs with beta-CROWN bounds (Wang et al. 2021).

The question per (beat, other class ``j``) is only the sign of ``min over the box of m(x) = z_y - z_j``. A
*domain* is the input box together with a set of ReLU splits ``s_i z_i >= 0`` (``s_i = +1``: active, ``-1``:
inactive). Its lower bound is the beta-CROWN bound (Wang et al. 2021, "Beta-CROWN", Theorem 3.1): the CROWN
backward pass (Zhang et al. 2018, Theorem 3.2) with, for every split neuron, the Lagrangian term
``- beta_i s_i z_i`` (``beta_i >= 0``; ``>= 0`` on the domain, so subtracting keeps a lower bound), the lower
ReLU slopes ``alpha`` and the ``beta`` optimised by projected gradient ascent (alpha-CROWN, Xu et al. 2021).
Any ``alpha in [0, 1]`` and ``beta >= 0`` give a sound bound; the optimisation only makes it tighter. A split
neuron is linear on its domain (``h = z`` or ``h = 0``), and the pre-activation bounds of the layers above it are
recomputed by CROWN on each new domain (intersected with its parent's; an empty intersection proves the domain
empty).

Branch and bound (Bunel et al. 2020, section 4): the open domain with the smallest bound is split on the unstable
neuron of largest "intercept" score (BaBSR: ``|lambda_i| u_i |l_i| / (u_i - l_i)``, the bound lost to the neuron's
upper relaxation), a batch of domains at a time. A domain whose bound exceeds ``margin_tol`` is closed; the
minimiser of each domain's linear bound (a vertex of the box) is a candidate counter-example, checked by the
float64 reference model strictly inside the ball (:func:`.exact.confirmed_break`). Outcomes: robust (every
domain closed), broken (a confirmed candidate), unknown (time limit or domain limit).

Soundness against rounding: float64 throughout, each concretised bound widened by ``ROUNDING_TOL`` times the
magnitude of its sum (as :mod:`.bounds`), and a domain is closed only above ``margin_tol`` (1e-4).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .bounds import ROUNDING_TOL
from .network import DTYPE

ROBUST, UNKNOWN, BROKEN = 1, 0, -1


class Domains:
    """A batch of ``D`` domains of one beat: per ReLU layer ``k`` the pre-activation bounds ``lower[k]``,
    ``upper[k]`` ``[D, n_k]`` (a split neuron has ``lower = 0`` or ``upper = 0``), the split signs ``split[k]``
    (int8: +1 active, -1 inactive, 0 free) and warm-start slopes ``alpha[k]``."""

    def __init__(self, lower, upper, split, alpha):
        self.lower, self.upper, self.split, self.alpha = lower, upper, split, alpha

    def __len__(self) -> int:
        return self.lower[0].shape[0]

    def take(self, index: torch.Tensor) -> Domains:
        return Domains(*([t[index] for t in group] for group in (self.lower, self.upper, self.split, self.alpha)))

    @staticmethod
    def cat(parts: list[Domains]) -> Domains:
        return Domains(*([torch.cat([getattr(p, name)[k] for p in parts]) for k in range(len(parts[0].lower))]
                         for name in ("lower", "upper", "split", "alpha")))


def _relaxation(lower: torch.Tensor, upper: torch.Tensor):
    """(unstable, active, upper slope, upper intercept, CROWN's adaptive lower slope) of ``relu`` on ``[l, u]``."""
    unstable, active = (lower < 0) & (upper > 0), lower >= 0
    upper_slope = torch.where(unstable, upper / (upper - lower).clamp(min=1e-300), active.to(DTYPE))
    intercept = torch.where(unstable, -upper_slope * lower, torch.zeros_like(lower))
    adaptive = torch.where(unstable, (upper >= -lower).to(DTYPE), active.to(DTYPE))
    return unstable, active, upper_slope, intercept, adaptive


def backward_bound(hidden, domains: Domains, top: int, lam: torch.Tensor, bias: torch.Tensor,
                   alpha=None, beta=None, want_lams: bool = False):
    """Lower bound of ``lam . h_top + bias`` over each domain, ``lam`` ``[D, R, n_top]`` on the output of ReLU layer
    ``top - 1`` (``top = 0``: on the input itself), ``hidden`` the affine maps ``(W_k, b_k)`` below each ReLU layer.
    Returns ``(bound [D, R], lam on the input [D, R, n_in], per-layer coefficients on h_k if want_lams)``.
    ``alpha`` / ``beta``: per layer ``[D, R, n_k]`` (None: CROWN's adaptive slope, no beta)."""
    size = bias.abs()
    lams = {}
    for k in range(top - 1, -1, -1):
        lower, upper = domains.lower[k].unsqueeze(1), domains.upper[k].unsqueeze(1)
        unstable, _, upper_slope, intercept, adaptive = _relaxation(lower, upper)
        slope = adaptive if alpha is None else torch.where(unstable, alpha[k].clamp(0, 1), adaptive)
        if want_lams:
            lams[k] = lam
        negative = lam.clamp(max=0)
        bias = bias + (negative * intercept).sum(-1)
        size = size + (negative * intercept).abs().sum(-1)
        lam = lam * torch.where(lam >= 0, slope, upper_slope)
        if beta is not None:
            lam = lam - beta[k].clamp(min=0) * domains.split[k].unsqueeze(1).to(DTYPE)
        weight, b = hidden[k]
        bias = bias + lam @ b
        size = size + lam.abs() @ b.abs()
        lam = lam @ weight
    return bias, size, lam, lams


class BeatBaB:
    """Branch and bound for one beat (``centre``, box ``[box_lower, box_upper]``) of a Dense/ReLU network given as
    :func:`.milp.affine_segments` and the root pre-activation bounds per ReLU layer (numpy, this beat)."""

    def __init__(self, segments, layer_bounds, box_lower: np.ndarray, box_upper: np.ndarray, *, alpha_steps: int = 20,
                 alpha_lr: float = 0.1, beta_lr: float = 0.05, batch: int = 64, max_domains: int = 50_000):
        self.hidden = [(torch.from_numpy(w).to(DTYPE), torch.from_numpy(b).to(DTYPE)) for w, b in segments[:-1]]
        self.last = tuple(torch.from_numpy(t).to(DTYPE) for t in segments[-1])
        lower = torch.from_numpy(box_lower).to(DTYPE)
        upper = torch.from_numpy(box_upper).to(DTYPE)
        self.centre, self.radius = (upper + lower) / 2, (upper - lower) / 2
        self.box_lower, self.box_upper = lower, upper
        bounds = [(torch.from_numpy(lo).to(DTYPE)[None], torch.from_numpy(up).to(DTYPE)[None]) for lo, up in layer_bounds]
        self.root = Domains([b[0] for b in bounds], [b[1] for b in bounds],
                            [torch.zeros_like(b[0], dtype=torch.int8) for b in bounds],
                            [_relaxation(*b)[4] for b in bounds])
        self.alpha_steps, self.alpha_lr, self.beta_lr = alpha_steps, alpha_lr, beta_lr
        self.batch, self.max_domains = batch, max_domains

    def concretize(self, bias, size, lam):
        """``min over the box of lam . x + bias``, widened for rounding: ``[D, R]``, and the minimising vertex."""
        spread = lam.abs() @ self.radius
        value = lam @ self.centre + bias - spread
        widened = value - ROUNDING_TOL * (size + lam.abs() @ (self.centre.abs() + self.radius))
        vertex = torch.where(lam > 0, self.box_lower, self.box_upper)
        return widened, vertex

    def margin_bound(self, domains: Domains, weight: torch.Tensor, constant: float):
        """Optimised beta-CROWN lower bound ``[D]`` of ``weight . h_last + constant`` per domain, the minimiser of
        the final linear bound ``[D, n_in]``, the coefficients on each layer (for branching) and the slopes."""
        n = len(domains)
        top = len(self.hidden)
        lam0 = weight.expand(n, 1, -1).clone()
        bias0 = torch.full((n, 1), float(constant), dtype=DTYPE)
        alpha = [a.unsqueeze(1).clone().requires_grad_(True) for a in domains.alpha]
        beta = [torch.zeros_like(a).requires_grad_(True) for a in alpha]
        has_split = any(bool((s != 0).any()) for s in domains.split)
        params = [{"params": alpha, "lr": self.alpha_lr}] + ([{"params": beta, "lr": self.beta_lr}] if has_split else [])
        optimiser = torch.optim.Adam(params, maximize=True)
        best = torch.full((n,), -torch.inf, dtype=DTYPE)
        best_alpha = [a.detach().clone() for a in alpha]
        best_beta = [b.detach().clone() for b in beta]
        for step in range(self.alpha_steps + 1):
            bias, size, lam, _ = backward_bound(self.hidden, domains, top, lam0, bias0, alpha, beta)
            value = self.concretize(bias, size, lam)[0][:, 0]
            better = value.detach() > best
            best = torch.where(better, value.detach(), best)
            for keep, a, b in zip(best_alpha, alpha, beta):
                keep[better] = a.detach()[better].clamp(0, 1)
            for keep, b in zip(best_beta, beta):
                keep[better] = b.detach()[better].clamp(min=0)
            if step == self.alpha_steps:
                break
            optimiser.zero_grad()
            value.sum().backward()
            optimiser.step()
            with torch.no_grad():
                for a, b in zip(alpha, beta):
                    a.clamp_(0, 1)
                    b.clamp_(min=0)
        with torch.no_grad():   # the bound reported is recomputed from the clamped best parameters
            bias, size, lam, lams = backward_bound(self.hidden, domains, top, lam0, bias0, best_alpha, best_beta, True)
            value, vertex = self.concretize(bias, size, lam)
        return value[:, 0], vertex[:, 0], lams, [a[:, 0] for a in best_alpha]

    def refresh_intermediate(self, domains: Domains, first_layer: torch.Tensor) -> torch.Tensor:
        """Recompute, by CROWN, the bounds of each ReLU layer above each domain's newest split (its layer:
        ``first_layer`` ``[D]``), intersected with the current ones; returns which domains stay non-empty."""
        feasible = torch.ones(len(domains), dtype=torch.bool)
        for k in range(1, len(self.hidden)):
            rows = first_layer < k
            if not bool(rows.any()):
                continue
            part = domains.take(torch.nonzero(rows).flatten())
            weight, b = self.hidden[k]
            lower, upper = part.lower[k], part.upper[k]
            unstable = torch.nonzero(((lower < 0) & (upper > 0)).any(0)).flatten()
            if unstable.numel():
                lam = weight[unstable].expand(len(part), -1, -1)
                both = torch.cat([lam, -lam], 1)
                bias0 = torch.cat([b[unstable], -b[unstable]]).expand(len(part), -1)
                bias, size, lam_x, _ = backward_bound(self.hidden, part, k, both, bias0)
                found = self.concretize(bias, size, lam_x)[0]
                m = unstable.numel()
                lower[:, unstable] = torch.maximum(lower[:, unstable], found[:, :m])
                upper[:, unstable] = torch.minimum(upper[:, unstable], -found[:, m:])
            split = part.split[k]
            lower = torch.where(split > 0, lower.clamp(min=0), lower)
            upper = torch.where(split < 0, upper.clamp(max=0), upper)
            index = torch.nonzero(rows).flatten()
            domains.lower[k][index], domains.upper[k][index] = lower, upper
            feasible[index] &= ~(lower > upper).any(1)
        return feasible

    def branch(self, domains: Domains, lams: dict) -> tuple[Domains, torch.Tensor]:
        """Two children per domain, split on its unstable neuron of largest BaBSR intercept score."""
        scores = []
        for k in range(len(self.hidden)):
            lower, upper = domains.lower[k], domains.upper[k]
            unstable, _, _, intercept, _ = _relaxation(lower, upper)
            score = lams[k][:, 0].abs() * intercept + 1e-12 * (upper - lower)   # ties: the widest
            scores.append(torch.where(unstable, score, torch.full_like(score, -1.0)))
        flat = torch.cat(scores, 1)
        choice = flat.argmax(1)
        offsets = np.cumsum([0] + [s.shape[1] for s in scores])
        layer = torch.from_numpy(np.searchsorted(offsets, choice.numpy(), side="right") - 1)
        neuron = choice - torch.from_numpy(offsets)[layer]
        children = Domains.cat([domains, domains.take(torch.arange(len(domains)))])   # copies
        n = len(domains)
        for sign, rows in ((1, torch.arange(n)), (-1, torch.arange(n, 2 * n))):
            for k in range(len(self.hidden)):
                here = rows[layer.repeat(2)[rows] == k]
                which = neuron.repeat(2)[here]
                children.split[k][here, which] = sign
                if sign > 0:
                    children.lower[k][here, which] = 0.0
                else:
                    children.upper[k][here, which] = 0.0
        return children, layer.repeat(2)

    def decide(self, weight: np.ndarray, constant: float, *, margin_tol: float, deadline: float, check):
        """``(outcome, proven lower bound, counter-example or None)`` for ``min weight . h_last + constant``;
        ``check(vertices [m, n_in]) -> index of a confirmed break or None``."""
        weight = torch.from_numpy(np.asarray(weight)).to(DTYPE)
        bound, vertex, lams, alpha = self.margin_bound(self.root, weight, constant)
        closed_min = np.inf
        open_domains, open_bounds, open_lams = self.root, bound, lams
        while True:
            found = check(vertex)
            if found is not None:
                return BROKEN, -np.inf, found
            keep = open_bounds <= margin_tol
            if bool((~keep).any()):
                closed_min = min(closed_min, float(open_bounds[~keep].min()))
            index = torch.nonzero(keep).flatten()
            if index.numel() == 0:
                return ROBUST, closed_min, None
            if time.perf_counter() > deadline or index.numel() > self.max_domains:
                return UNKNOWN, float(open_bounds[index].min()), None
            open_domains = open_domains.take(index)
            open_bounds = open_bounds[index]
            open_lams = {k: v[index] for k, v in open_lams.items()}
            # split the worst `batch` domains that still have an unstable ReLU, keep the rest waiting; a domain
            # without one is a leaf (its bound is as tight as the optimised slopes make it): nothing left to split
            splittable = torch.zeros(len(open_domains), dtype=torch.bool)
            for lower, upper in zip(open_domains.lower, open_domains.upper):
                splittable |= ((lower < 0) & (upper > 0)).any(1)
            if not bool(splittable.any()):
                return UNKNOWN, float(open_bounds.min()), None
            order = torch.argsort(torch.where(splittable, open_bounds, torch.inf))
            count = min(self.batch, int(splittable.sum()))
            now, later = order[:count], order[count:]
            parents = open_domains.take(now)
            parents.alpha = [a.detach() for a in parents.alpha]
            children, layer = self.branch(parents, {k: v[now] for k, v in open_lams.items()})
            feasible = self.refresh_intermediate(children, layer)
            children = children.take(torch.nonzero(feasible).flatten())
            waiting = open_domains.take(later)
            waiting_bounds = open_bounds[later]
            waiting_lams = {k: v[later] for k, v in open_lams.items()}
            if len(children):
                bound, vertex, lams, alpha = self.margin_bound(children, weight, constant)
                children.alpha = alpha
            else:
                bound = torch.empty(0, dtype=DTYPE)
                vertex = torch.empty(0, self.centre.numel(), dtype=DTYPE)
                lams = {k: torch.empty(0, 1, v.shape[-1], dtype=DTYPE) for k, v in waiting_lams.items()}
            open_domains = Domains.cat([children, waiting]) if len(waiting) else children
            open_bounds = torch.cat([bound, waiting_bounds])
            open_lams = {k: torch.cat([lams[k], waiting_lams[k]]) for k in waiting_lams}
            if len(open_domains) == 0:
                return ROBUST, closed_min, None
