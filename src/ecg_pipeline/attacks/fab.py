"""FAB, L-inf: the fast adaptive boundary attack, untargeted (``fab``) and multi-targeted (``fab_t``).

Croce & Hein, "Minimally distorted adversarial examples with a fast adaptive boundary attack", ICML 2020,
Algorithm 1 (p = inf); the multi-targeted version as AutoAttack "standard" runs it (FAB-T: Croce & Hein,
"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks", ICML
2020, section 4: one run per target class, the top ``n_target_classes`` other classes by clean logit).

With f the logits, y the label and C the domain box (the ``bounds``, zero width where ``mask`` is 0: padded
samples are never touched), each iteration linearises at the current point x^i the boundary between y and
a class s (FAB-T: the target; FAB: the class whose linearised boundary is closest in L-inf,
``|f_s - f_y| / ||grad(f_s - f_y)||_1``, eq. 7)::

    pi_s = { z : f_s(x^i) - f_y(x^i) + <grad(f_s - f_y)(x^i), z - x^i> = 0 }

projects both x^i and the original x onto pi_s inside C (eq. 8, :func:`linf_step_to_plane`), giving the
steps d^i and d^orig, and moves (eq. 10) to::

    x^{i+1} = proj_C((1 - a)(x^i + eta d^i) + a (x + eta d^orig)),   a = min(|d^i| / (|d^i| + |d^orig|), alpha_max)

with |.| the L-inf norm. A misclassified x^{i+1} is kept if closer to x than the best so far, and followed
by the backward step x^{i+1} <- x + beta (x^{i+1} - x) (eq. 11). The first run starts at x; each further
restart at x + (eps / 2) u / max|u|, u uniform in [-1, 1], in C (the authors' code).

FAB minimises the distance and knows no eps but for the restarts' radius. What is returned, per beat: a
point the model misclassifies with float64 ``||x_adv - x||_inf < eps`` (strictly inside the ball, checked
again on the returned tensor), else the clean beat ``x`` unchanged (so ACC_robust counts it unbroken). A beat
leaves the working batch once it has such a point (its distance no longer matters for the eps-ball).
"""

from __future__ import annotations

import torch
from torch import nn

from ecg_pipeline.models import logits_of

from .base import AttackError, Bounds, check_attack_call, frozen, per_row, register_attack
from .pgd import _int_param

_BIG = 1e30  # stands for an unbounded coordinate's room (no ``bounds``) in the float64 projection


def linf_step_to_plane(w: torch.Tensor, c: torch.Tensor, up: torch.Tensor, down: torch.Tensor,
                       newton_steps: int = 12) -> torch.Tensor:
    """Per row, the step d of least L-inf norm with ``<w, d> = c`` and ``-down <= d <= up`` (FAB's projection
    onto a hyperplane inside the box, eq. 8 for p = inf); where the plane is out of the box's reach, the box
    corner closest to it. ``w`` [m, n], ``c`` [m], ``up``/``down`` [m, n] >= 0 (inf: unbounded); float64.

    With c >= 0 (else w and c change sign), the largest ``<w, d>`` reachable with ``|d| <= lam`` is
    ``g(lam) = sum_i |w_i| min(lam, room_i)`` (room_i: ``up`` where w_i > 0, else ``down``): piecewise linear,
    nondecreasing and concave, and ``d_i = sign(w_i) min(lam*, room_i)`` with lam* the least lam where g = c.
    lam* by Newton's method from 0 (on a concave g it climbs to lam* from below and is exact once no room lies
    between two iterates: a few steps, where few rooms are below lam*); rows it has not settled within
    ``newton_steps`` by the exact search over the sorted rooms (:func:`_least_reach`).
    """
    flip = c < 0
    w = torch.where(flip[:, None], -w, w)
    c = c.abs()
    a = w.abs()
    room = torch.where(w > 0, up, down).clamp(0, _BIG)
    room = torch.where(a > 0, room, torch.zeros_like(room))
    lam = torch.zeros_like(c)
    for _ in range(newton_steps):
        gap = c - (a * torch.minimum(room, lam[:, None])).sum(1)
        slope = (a * (room > lam[:, None])).sum(1)
        settled = gap <= 1e-12 * c
        beyond = ~settled & (slope <= 0)  # every room used up below c: the plane is out of reach
        if bool((settled | beyond).all()):
            break
        lam = torch.where(settled, lam, lam + gap / slope.clamp_min(1e-300))
    lam = torch.where(beyond, torch.full_like(lam, float("inf")), lam)
    todo = (~settled & ~beyond).nonzero().squeeze(1)
    if todo.numel():
        lam[todo] = _least_reach(a[todo], c[todo], room[todo])
    return w.sign() * torch.minimum(lam[:, None], room)


def _least_reach(a: torch.Tensor, c: torch.Tensor, room: torch.Tensor) -> torch.Tensor:
    """The least lam with ``sum_i a_i min(lam, room_i) = c`` (inf where none), exactly: g is linear between the
    sorted rooms, so lam* lies in the first interval whose right end reaches c."""
    order = room.argsort(dim=1)
    rooms, weights = room.gather(1, order), a.gather(1, order)
    zero = torch.zeros_like(c)[:, None]
    saturated = torch.cat((zero, (weights * rooms).cumsum(1)), 1)           # P_k: sum over the k smallest rooms
    free = a.sum(1, keepdim=True) - torch.cat((zero, weights.cumsum(1)), 1)  # S_k: |w| of the others
    reach = (saturated[:, 1:] + rooms * free[:, 1:]).cummax(1).values       # g at each sorted room
    k = torch.searchsorted(reach, c[:, None].contiguous())                   # rooms with g below c
    feasible = k.squeeze(1) < room.shape[1]
    k = k.clamp_max(room.shape[1] - 1)
    lam = ((c[:, None] - saturated.gather(1, k)) / free.gather(1, k).clamp_min(1e-300)).clamp_min(0).squeeze(1)
    return torch.where(feasible, lam, torch.full_like(lam, float("inf")))


def _boundary(model, x1, y, target, mask):
    """``(f_s - f_y, grad(f_s - f_y))`` at ``x1`` for the chosen class s per row: the target, or (untargeted) the
    class with the closest linearised boundary (eq. 7). One backward pass targeted, one per class untargeted."""
    xa = x1.detach().requires_grad_(True)
    with torch.enable_grad():
        z = logits_of(model, xa, mask)
        rows = torch.arange(z.shape[0], device=z.device)
        if target is not None:
            diff = z[rows, target] - z[rows, y]
            (grad,) = torch.autograd.grad(diff.sum(), xa)
            return diff.detach().double(), grad.flatten(1).double()
        grads = torch.stack([torch.autograd.grad(z[:, j].sum(), xa, retain_graph=j < z.shape[1] - 1)[0].flatten(1)
                             for j in range(z.shape[1])], 1).double()              # [k, classes, n]
    z = z.detach().double()
    diffs = z - z[rows, y][:, None]
    dgrads = grads - grads[rows, y][:, None]
    distance = diffs.abs() / (dgrads.abs().sum(2) + 1e-12)
    distance[rows, y] = float("inf")
    s = distance.argmin(1)
    return diffs[rows, s], dgrads[rows, s]


def _fab_run(model, x, start, y, target, low, high, mask, *, eps, steps, alpha_max, eta, beta):
    """One FAB run from ``start`` (in C). Returns ``(point, broken)`` per row: broken where a misclassified point
    with float64 L-inf distance < eps to ``x`` was found (the closest one found), else ``x``."""
    out, broken = x.clone(), torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    rows = torch.arange(x.shape[0], device=x.device)
    x0, x1 = x.double(), start.clone()
    lo, hi = low.double(), high.double()
    best = torch.full((x.shape[0],), float("inf"), dtype=torch.float64, device=x.device)
    for _ in range(steps):
        if rows.numel() == 0:
            break
        sub_mask = None if mask is None else mask[rows]
        df, w = _boundary(model, x1, y[rows], None if target is None else target[rows], sub_mask)
        p1, p0 = x1.double().flatten(1), x0[rows].flatten(1)
        # the plane {z : <w, z> = <w, x1> - df}: from x1 the step must cover -df, from x its own gap
        both, top, bottom = torch.cat((p1, p0)), hi[rows].flatten(1), lo[rows].flatten(1)
        d1, d0 = linf_step_to_plane(torch.cat((w, w)), torch.cat((-df, (w * (p1 - p0)).sum(1) - df)),
                                    torch.cat((top, top)) - both, both - torch.cat((bottom, bottom))).chunk(2)
        n1 = d1.abs().amax(1).clamp_min(1e-8)
        n0 = d0.abs().amax(1).clamp_min(1e-8)
        alpha = (n1 / (n1 + n0)).clamp(0, alpha_max)[:, None]
        step = (1 - alpha) * (p1 + eta * d1) + alpha * (p0 + eta * d0)
        x1 = step.view_as(x1).clamp(lo[rows], hi[rows]).to(x.dtype)
        with torch.no_grad():
            fooled = logits_of(model, x1, sub_mask).argmax(1) != y[rows]
        distance = (x1.double() - x0[rows]).flatten(1).abs().amax(1)
        closer = fooled & (distance < best[rows])
        out[rows[closer]] = x1[closer]
        best[rows[closer]] = distance[closer]
        x1 = torch.where(per_row(fooled, x1), (x0[rows] + beta * (x1.double() - x0[rows])).to(x.dtype), x1)
        finished = best[rows] < eps
        if bool(finished.any()):
            broken[rows[finished]] = True
            x1, rows = x1[~finished], rows[~finished]
    out[~broken] = x[~broken]
    return out, broken


@register_attack("fab", effort_keys=("steps", "restarts"))
def fab(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    targeted: bool = False,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int | None = None,
    alpha_max: float = 0.1,
    eta: float = 1.05,
    beta: float = 0.9,
) -> torch.Tensor:
    """L-inf FAB (Croce & Hein 2020, Algorithm 1) on the whole batch, scored in the eps-ball; returns ``x_adv``.

    Args:
        targeted: FAB-T: one run per target class (top ``n_target_classes`` by clean logit, y excluded), each
            on the beats not yet broken; else the closest linearised boundary at each step.
        steps: iterations per run (AutoAttack: 100). restarts: runs per target (the first from x, the others
            from a random point at L-inf distance eps / 2). n_target_classes: default ``n_classes - 1``.
        alpha_max, eta, beta: the paper's bias towards x (0.1), overshoot (1.05) and backward step (0.9).

    Deterministic for a ``seed``; the model's weights, flags and mode are left as found (``frozen``).
    """
    n_classes = check_attack_call(model, x, y, eps, mask=mask, bounds=bounds, eta=eta, beta=beta)
    steps, restarts = _int_param("steps", steps, 1), _int_param("restarts", restarts, 1)
    if not 0 <= float(alpha_max) <= 1 or not float(beta) <= 1:
        raise AttackError(f"alpha_max must be in [0, 1] and beta in (0, 1], got {alpha_max} and {beta}")
    if n_classes and n_classes < 2:
        raise AttackError(f"FAB needs at least 2 classes, the model has {n_classes}")
    if targeted:
        n_target_classes = _int_param("n_target_classes", n_classes - 1 if n_target_classes is None
                                      else n_target_classes, 1)
        if n_classes and n_target_classes > n_classes - 1:
            raise AttackError(f"n_target_classes must be <= {n_classes - 1} (classes other than y), "
                              f"got {n_target_classes}")
    eps = float(eps)
    x, y = x.detach(), y.detach().long()
    mask = None if mask is None else mask.detach()
    result = x.clone()
    if eps == 0 or x.shape[0] == 0:
        return result
    low, high = _domain(x, mask, bounds)
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    with frozen(model):
        with torch.no_grad():
            clean = logits_of(model, x, mask)
        robust = clean.argmax(1) == y
        order = clean.scatter(1, y[:, None], float("-inf")).argsort(1, descending=True) if targeted else None
        for t_idx in range(n_target_classes if targeted else 1):
            for restart in range(restarts):
                rows = robust.nonzero().squeeze(1)
                if rows.numel() == 0:
                    break
                start = x[rows]
                if restart > 0:
                    u = torch.empty_like(start).uniform_(-1.0, 1.0, generator=gen)
                    start = start + 0.5 * eps * u / per_row(u.flatten(1).abs().amax(1).clamp_min(1e-12), u)
                start = start.clamp(low[rows], high[rows])
                point, broken = _fab_run(
                    model, x[rows], start, y[rows], None if order is None else order[rows, t_idx], low[rows],
                    high[rows], None if mask is None else mask[rows], eps=eps, steps=steps,
                    alpha_max=float(alpha_max), eta=float(eta), beta=float(beta))
                result[rows[broken]] = point[broken]
                robust[rows[broken]] = False
        return _only_valid_breaks(model, x, y, result, eps, mask, low, high)


def _domain(x, mask, bounds):
    """The box C: ``bounds`` (+-inf without), zero width (x itself) where the mask is 0."""
    low = torch.full_like(x, float("-inf") if bounds is None else float(bounds[0]))
    high = torch.full_like(x, float("inf") if bounds is None else float(bounds[1]))
    if mask is not None:
        fixed = torch.broadcast_to(mask == 0, x.shape)
        low, high = torch.where(fixed, x, low), torch.where(fixed, x, high)
    return low, high


def _only_valid_breaks(model, x, y, result, eps, mask, low, high):
    """``result`` where it is a break (misclassified, float64 L-inf distance < eps, inside C), else ``x``."""
    with torch.no_grad():
        fooled = logits_of(model, result, mask).argmax(1) != y
    inside = (result.double() - x.double()).flatten(1).abs().amax(1) < eps
    in_box = ((result >= low) & (result <= high)).flatten(1).all(1)
    return torch.where(per_row(fooled & inside & in_box, x), result, x)


@register_attack("fab_t", effort_keys=("steps", "restarts"))
def fab_t(model, x, y, eps, *, mask=None, bounds: Bounds = None, seed: int = 0, steps: int = 100, restarts: int = 1,
          n_target_classes: int | None = None, alpha_max: float = 0.1, eta: float = 1.05,
          beta: float = 0.9) -> torch.Tensor:
    """FAB-T, AutoAttack's third attack: :func:`fab` with ``targeted=True``."""
    return fab(model, x, y, eps, mask=mask, bounds=bounds, seed=seed, targeted=True, steps=steps, restarts=restarts,
               n_target_classes=n_target_classes, alpha_max=alpha_max, eta=eta, beta=beta)


from .base import declare_params, flag, integer, number  # noqa: E402

_FAB_CHECKS = dict(steps=integer(1), restarts=integer(1), n_target_classes=integer(1, none=True),
                   alpha_max=number(at_least=0, at_most=1), eta=number(above=0), beta=number(above=0, at_most=1))
declare_params(fab, targeted=flag(), **_FAB_CHECKS)
declare_params(fab_t, **_FAB_CHECKS)
