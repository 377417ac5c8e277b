"""Certified lower bounds on the classification margins of a translated network over an L-inf box.

For beats ``x`` (batch ``B``), budget ``eps`` and data bounds ``[lo, hi]`` the input set is the box
``[max(x - eps, lo), min(x + eps, hi)]``. What is bounded is ``C z`` with ``z`` the logits and ``C`` the
specification matrix of Zhang et al. 2018 (section 3.3): one row ``e_y - e_j`` per other class ``j``, folded
into the last affine layer, so a beat is certified when every lower margin is > 0.

- :func:`ibp_margins`: interval bound propagation (Gowal et al. 2018, eqs. 6-7: centre/radius through affine
  layers, monotone layers on both ends), ``C`` folded into the last layer (their "elision").
- :func:`crown_margins`: CROWN (Zhang et al. 2018, Theorem 3.2), a backward pass of linear bounds through the
  network with the linear ReLU relaxation (upper: the chord ``u (z - l) / (u - l)``; lower: ``alpha z`` with
  CROWN's adaptive ``alpha = 1[u >= -l]``); each margin is the larger of CROWN's and IBP's (both sound; the
  adaptive slope is not tighter than IBP on every margin). Intermediate (pre-ReLU) bounds are CROWN bounds too
  ("full CROWN"), intersected with IBP's: per beat, the neurons the current bounds leave unstable (upper bounds
  first, then the lower bounds of those still unstable; a stable neuron's relaxation is exact whatever its bounds),
  and every neuron of a layer whose ReLU feeds a max-pooling (its bound values enter the DeepPoly relaxation) whose
  upper bound is still positive (below zero its ReLU is exactly 0, whatever the bound). A
  layer right above the input keeps its IBP bounds (exact there).
- :func:`alpha_crown_margins`: alpha-CROWN (Xu et al. 2021, section 3.1): the lower slopes, one per beat, per
  margin row and per neuron, optimised by projected gradient ascent (Adam steps, then clamped to [0, 1]) for a
  fixed number of steps, starting from CROWN's slopes and keeping each row's best bound (so never looser than
  CROWN). Intermediate bounds are CROWN's (not re-optimised).
- MaxPool1d (DeepPoly, Singh et al. 2019, section 4.3 "Maxpool"): lower ``o >= v_j*`` with ``j*`` the input of
  largest lower bound; upper ``o <= v_j*`` when ``l_j* >= u_i`` for every other input ``i`` (then exact), else
  ``o <= max_i u_i``. Residual addition: the backward coefficient reaches both summands.

Soundness against rounding: everything is float64 (the float32 weights convert exactly), and every concretised
bound is pushed outwards by ``ROUNDING_TOL`` (1e-9) times the magnitude of the sum it comes from
(``|Lambda| (|c| + r) + |bias|`` for CROWN, ``|W| max(|l|, |u|) + |b|`` for IBP). The float64 error of such a sum
of n terms is below ``n * 1.1e-16`` times that magnitude (Higham, eq. 3.5), about 2e-14 for the longest sums
here (n <= 187): the widening exceeds it by more than four orders of magnitude, so rounding cannot turn a negative margin
positive. It is a stated margin, not directed rounding (interval arithmetic with rounding modes would be
rigorous). :mod:`.certify` further demands a lower margin above ``margin_tol`` (1e-4) because the deployed model
runs in float32 and an attack's float32 point may lie up to a float32 rounding outside the float64 box.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .network import (DTYPE, AddSaved, Conv, Dense, Flatten, MaxPool, Network, ReLU, Save, activation_shapes, apply_op,
                      conv1d, conv_transpose1d)

ROUNDING_TOL = 1e-9
MAX_COEFFICIENT_ENTRIES = 2 ** 24  # entries of one backward coefficient tensor (128 MiB in float64)


def input_box(x: torch.Tensor, eps: float, bounds: tuple[float, float] | None, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """``[max(x - eps, lo), min(x + eps, hi)]`` in float64, shaped ``[B, *shape]``."""
    x = x.to(DTYPE).reshape(x.shape[0], *shape)
    lower, upper = x - eps, x + eps
    if bounds is not None:
        lower, upper = lower.clamp(min=bounds[0]), upper.clamp(max=bounds[1])
    return lower, upper


def margin_spec(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``C`` of Zhang et al. 2018: ``[B, K-1, K]``, row ``j`` = ``e_y - e_j`` for the other classes in order."""
    y = y.long().reshape(-1)
    others = torch.stack([torch.tensor([j for j in range(n_classes) if j != int(c)]) for c in y])
    spec = torch.zeros(y.numel(), n_classes - 1, n_classes, dtype=DTYPE)
    spec.scatter_(2, y.view(-1, 1, 1).expand(-1, n_classes - 1, 1), 1.0)
    spec.scatter_(2, others.unsqueeze(2), -1.0)
    return spec


def other_classes(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[B, K-1]``: the class each row of :func:`margin_spec` compares ``y`` with."""
    return torch.stack([torch.tensor([j for j in range(n_classes) if j != int(c)]) for c in y.reshape(-1)])


def _widened(lower: torch.Tensor, upper: torch.Tensor, magnitude: torch.Tensor):
    slack = ROUNDING_TOL * magnitude
    return lower - slack, upper + slack


def _ibp_affine(op, lower, upper):
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    if isinstance(op, Dense):
        mid, rad = centre @ op.weight.T + op.bias, radius @ op.weight.abs().T
        size = torch.maximum(lower.abs(), upper.abs()) @ op.weight.abs().T + op.bias.abs()
    else:
        mid = conv1d(centre, op.weight, op.bias, op.padding)
        rad = conv1d(radius, op.weight.abs(), None, op.padding)
        size = conv1d(torch.maximum(lower.abs(), upper.abs()), op.weight.abs(), op.bias.abs(), op.padding)
    return _widened(mid - rad, mid + rad, size)


def _ibp_step(op, lower, upper, saved):
    """Interval bounds after ``op`` (Gowal et al. 2018, eqs. 6-7), residual markers included."""
    if isinstance(op, (Dense, Conv)):
        return _ibp_affine(op, lower, upper)
    if isinstance(op, Save):
        saved.append((lower, upper))
        return lower, upper
    if isinstance(op, AddSaved):
        low, up = saved.pop()
        return _widened(lower + low, upper + up, torch.maximum(lower.abs(), upper.abs()) + torch.maximum(low.abs(), up.abs()))
    return apply_op(op, lower), apply_op(op, upper)   # ReLU, MaxPool, Flatten: monotone


def ibp_margins(network: Network, lower: torch.Tensor, upper: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """Lower bounds ``[B, K-1]`` on ``spec @ logits`` by IBP (Gowal et al. 2018), ``spec`` folded into the last layer."""
    saved: list = []
    *body, last = network.ops
    for op in body:
        lower, upper = _ibp_step(op, lower, upper, saved)
    weight, bias = spec @ last.weight, spec @ last.bias          # [B, S, n], [B, S]
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    mid = (weight @ centre.unsqueeze(2)).squeeze(2) + bias
    rad = (weight.abs() @ radius.unsqueeze(2)).squeeze(2)
    size = (weight.abs() @ torch.maximum(lower.abs(), upper.abs()).unsqueeze(2)).squeeze(2) + bias.abs()
    return _widened(mid - rad, mid + rad, size)[0]


def _relu_relaxation(lower: torch.Tensor, upper: torch.Tensor):
    """(unstable, default lower slope, upper slope, upper intercept) of the ReLU relaxation (Zhang et al. 2018)."""
    unstable = (lower < 0) & (upper > 0)
    active = lower >= 0
    upper_slope = torch.where(unstable, upper / (upper - lower).clamp(min=1e-300), active.to(DTYPE))
    intercept = torch.where(unstable, -upper_slope * lower, torch.zeros_like(lower))
    lower_slope = torch.where(unstable, (upper >= -lower).to(DTYPE), active.to(DTYPE))
    return unstable, lower_slope, upper_slope, intercept


def _maxpool_relaxation(op: MaxPool, lower: torch.Tensor, upper: torch.Tensor):
    """(index of the input with the largest lower bound per window, exact?, max upper bound) (DeepPoly)."""
    best_lower, index = F.max_pool1d(lower, op.kernel, op.stride, return_indices=True)
    windows = upper.unfold(-1, op.kernel, op.stride)                       # [B, C, L_out, kernel]
    start = torch.arange(windows.shape[-2]) * op.stride
    chosen = F.one_hot(index - start, op.kernel).bool()
    other_upper = windows.masked_fill(chosen, float("-inf")).amax(-1)
    return index, best_lower >= other_upper, windows.amax(-1)


class Bounds:
    """Pre-activation bounds of one batch: ``node[k] = (lower, upper)`` of the input of op ``k`` (a ReLU or
    MaxPool), and the backward pass that turns a coefficient on an activation into one on the input."""

    def __init__(self, network: Network, lower: torch.Tensor, upper: torch.Tensor):
        self.network, self.shapes = network, activation_shapes(network)
        self.input_lower, self.input_upper = lower, upper
        self.centre, self.radius = (upper + lower) / 2, (upper - lower) / 2
        self.node: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.relu: dict[int, tuple] = {}    # op index -> _relu_relaxation
        self.pool: dict[int, tuple] = {}    # op index -> _maxpool_relaxation

    def backward(self, end: int, lam: torch.Tensor, alphas: dict[int, torch.Tensor] | None = None,
                 bias: torch.Tensor | None = None):
        """``(Lambda, bias)`` with ``lam . h_end + bias >= Lambda . x + bias'`` on the box, ``h_end`` the input of
        op ``end`` and ``lam`` of shape ``[B, S, *shape]`` (Zhang et al. 2018, Theorem 3.2)."""
        batch, rows = lam.shape[:2]
        bias = torch.zeros(batch, rows, dtype=DTYPE) if bias is None else bias
        pending: list[torch.Tensor] = []
        for k in range(end - 1, -1, -1):
            op = self.network.ops[k]
            if isinstance(op, Dense):
                bias = bias + lam @ op.bias
                lam = lam @ op.weight
            elif isinstance(op, Conv):
                bias = bias + lam.sum(-1) @ op.bias
                out_channels, length = lam.shape[2:]
                lam = conv_transpose1d(lam.reshape(-1, out_channels, length), op.weight, op.padding)
                lam = lam.reshape(batch, rows, *lam.shape[1:])
            elif isinstance(op, Flatten):
                lam = lam.reshape(batch, rows, *self.shapes[k])
            elif isinstance(op, ReLU):
                unstable, slope, upper_slope, intercept = self.relu[k]
                if alphas is not None and k in alphas:
                    slope = torch.where(unstable.unsqueeze(1), alphas[k].clamp(0, 1), slope.unsqueeze(1))
                else:
                    slope = slope.unsqueeze(1)
                # lam >= 0 takes the lower relaxation (slope z), lam < 0 the upper one (chord, its intercept)
                bias = bias + (lam.clamp(max=0).flatten(2) @ intercept.flatten(1).unsqueeze(2)).squeeze(2)
                lam = lam * torch.where(lam >= 0, slope, upper_slope.unsqueeze(1))
            elif isinstance(op, MaxPool):
                index, exact, top = self.pool[k]
                positive, negative = lam.clamp(min=0), lam.clamp(max=0)
                exact = exact.unsqueeze(1)
                bias = bias + (torch.where(exact, 0.0, negative) * top.unsqueeze(1)).flatten(2).sum(-1)
                moved = positive + torch.where(exact, negative, 0.0)
                lam = torch.zeros(batch, rows, *self.shapes[k], dtype=DTYPE).scatter_add(
                    -1, index.unsqueeze(1).expand_as(moved), moved)
            elif isinstance(op, AddSaved):
                pending.append(lam)
            elif isinstance(op, Save) and pending:
                lam = lam + pending.pop()
        return lam, bias

    def concretize(self, lam: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``min over the box of Lambda . x + bias``, widened outwards for rounding: ``[B, S]``."""
        lam = lam.flatten(2)
        centre, radius = self.centre.flatten(1), self.radius.flatten(1)
        mid = (lam @ centre.unsqueeze(2)).squeeze(2) + bias
        spread, size = (lam.abs() @ torch.stack([radius, centre.abs() + radius], 2)).unbind(2)
        return mid - spread - ROUNDING_TOL * (size + bias.abs())

    def set_node(self, k: int, lower: torch.Tensor, upper: torch.Tensor) -> None:
        self.node[k] = (lower, upper)
        op = self.network.ops[k]
        if isinstance(op, ReLU):
            self.relu[k] = _relu_relaxation(lower, upper)
        elif isinstance(op, MaxPool):
            self.pool[k] = _maxpool_relaxation(op, lower, upper)

    def _side(self, k: int, index: torch.Tensor, sign: float) -> torch.Tensor:
        """``sign`` = 1: CROWN lower bounds of the neurons ``index`` ``[B, m]`` (per beat) of the input of op
        ``k``; ``sign`` = -1: minus their upper bounds."""
        batch, rows = index.shape
        layer = self.network.ops[k - 1] if k > 0 else None
        if isinstance(layer, Dense):            # start below the layer: its rows are the coefficients
            lam = sign * layer.weight[index]
            return self.concretize(*self.backward(k - 1, lam, bias=sign * layer.bias[index]))
        lam = torch.zeros(batch, rows, int(torch.tensor(self.shapes[k]).prod()), dtype=DTYPE)
        lam.scatter_(2, index.unsqueeze(2), sign)
        return self.concretize(*self.backward(k, lam.reshape(batch, rows, *self.shapes[k])))

    def refine(self, k: int, lower: torch.Tensor, upper: torch.Tensor, everything: bool = False):
        """CROWN bounds on the input of op ``k``, intersected with ``lower, upper``, in chunks that keep the
        coefficients in memory. ``everything``: every neuron whose upper bound is positive (the values matter, e.g. to a max-pooling above);
        else only the neurons left unstable (a stable neuron's relaxation is exact whatever its bounds), per
        beat: first the upper bounds, then the lower bounds of the neurons still unstable."""
        batch = lower.shape[0]
        flat_lower, flat_upper = lower.flatten(1).clone(), upper.flatten(1).clone()
        widest = max(max(int(torch.tensor(s).prod()) for s in self.shapes[: k + 1]), 1)
        chunk = max(1, MAX_COEFFICIENT_ENTRIES // (batch * widest))
        for sign in (-1.0, 1.0):
            unstable = (flat_lower < 0) & (flat_upper > 0)
            # a neuron whose upper bound is <= 0 leaves its ReLU at exactly 0 whatever its bounds: even under a
            # max-pooling only the others' values matter
            index = _unstable_rows((flat_upper > 0) if everything else unstable)
            for start in range(0, index.shape[1], chunk):
                part = index[:, start : start + chunk]
                found = self._side(k, part, sign)
                if sign > 0:
                    flat_lower.scatter_(1, part, torch.maximum(flat_lower.gather(1, part), found))
                else:
                    flat_upper.scatter_(1, part, torch.minimum(flat_upper.gather(1, part), -found))
        return flat_lower.reshape(lower.shape), flat_upper.reshape(upper.shape)


def _unstable_rows(unstable: torch.Tensor) -> torch.Tensor:
    """``[B, m]`` indices of each beat's unstable neurons (``m``: the most any beat has), a beat with fewer
    padded with its first one (recomputing a neuron's bound is harmless: every bound found is sound)."""
    count = unstable.sum(1)
    most = int(count.max()) if count.numel() else 0
    order = torch.argsort((~unstable).to(torch.int8), dim=1, stable=True)[:, :most]
    return torch.where(torch.arange(most) < count.unsqueeze(1), order, order[:, :1])


def _below_first_nonlinearity(ops, k: int) -> int:
    """How many affine layers lie below op ``k`` when no ReLU / MaxPool does (else a large number): over a
    single affine layer IBP is already exact (up to the rounding widening), CROWN adds nothing."""
    below = ops[:k]
    if any(isinstance(op, (ReLU, MaxPool)) for op in below):
        return len(ops) + 1
    return sum(isinstance(op, (Dense, Conv)) for op in below)


def crown_bounds(network: Network, lower: torch.Tensor, upper: torch.Tensor, *, intermediate: str = "crown") -> Bounds:
    """The pre-activation bounds of every ReLU and MaxPool input: IBP, refined by CROWN when
    ``intermediate == "crown"`` (``"ibp"``: IBP only, CROWN-IBP style)."""
    bounds = Bounds(network, lower, upper)
    saved: list = []
    ops = network.ops
    for k, op in enumerate(ops):
        if isinstance(op, (ReLU, MaxPool)):
            if isinstance(op, MaxPool) and k > 0 and isinstance(ops[k - 1], ReLU):
                pass                           # relu of the ReLU's input bounds: already the tightest
            elif intermediate == "crown" and _below_first_nonlinearity(ops, k) > 1:
                feeds_pool = k + 1 < len(ops) and isinstance(ops[k + 1], MaxPool)
                lower, upper = bounds.refine(k, lower, upper, everything=feeds_pool)
            bounds.set_node(k, lower, upper)
        lower, upper = _ibp_step(op, lower, upper, saved)
    return bounds


def crown_margins(network: Network, lower: torch.Tensor, upper: torch.Tensor, spec: torch.Tensor, *,
                  intermediate: str = "crown", bounds: Bounds | None = None) -> torch.Tensor:
    """Lower bounds ``[B, K-1]`` on ``spec @ logits`` by CROWN (Zhang et al. 2018), each the larger of CROWN's and
    IBP's (both are sound; CROWN with the adaptive slope is not tighter than IBP on every margin)."""
    bounds = bounds or crown_bounds(network, lower, upper, intermediate=intermediate)
    crown = bounds.concretize(*bounds.backward(len(network.ops), spec))
    return torch.maximum(crown, ibp_margins(network, lower, upper, spec))


def alpha_crown_margins(network: Network, lower: torch.Tensor, upper: torch.Tensor, spec: torch.Tensor, *,
                        steps: int = 20, lr: float = 0.1, bounds: Bounds | None = None) -> torch.Tensor:
    """Lower bounds ``[B, K-1]`` on ``spec @ logits`` by alpha-CROWN (Xu et al. 2021), never below CROWN's."""
    bounds = bounds or crown_bounds(network, lower, upper)
    rows = spec.shape[1]
    alphas = {k: relax[1].unsqueeze(1).expand(-1, rows, *relax[1].shape[1:]).clone().requires_grad_(True)
              for k, relax in bounds.relu.items() if bool(relax[0].any())}
    with torch.no_grad():
        best = crown_margins(network, lower, upper, spec, bounds=bounds)
    if not alphas or steps < 1:
        return best
    optimiser = torch.optim.Adam(list(alphas.values()), lr=lr)
    for _ in range(steps):
        found = bounds.concretize(*bounds.backward(len(network.ops), spec, alphas))
        best = torch.maximum(best, found.detach())
        optimiser.zero_grad()
        (-found.sum()).backward()
        optimiser.step()
        with torch.no_grad():
            for alpha in alphas.values():
                alpha.clamp_(0.0, 1.0)
    with torch.no_grad():
        return torch.maximum(best, bounds.concretize(*bounds.backward(len(network.ops), spec, alphas)))
