"""``certify``: per-beat certified outcomes of a model at one L-inf budget, in the attacks' per-beat form.

Outcome per beat (int8): ``CERTIFIED`` (1, every lower margin ``z_y - z_j`` > ``margin_tol`` over the whole box),
``BROKEN`` (-1: the beat is misclassified clean, or the MILP found a counter-example the real torch model
misclassifies in float64), ``UNKNOWN`` (0). Bound propagation (``ibp``, ``crown``, ``alpha_crown``) never
finds a break other than a clean error; ``milp`` decides the beats alpha-CROWN leaves open.

:func:`certified_examples` lays a grid of certificates out like an attack evaluation's stored examples
(``grid``, ``subset``, ``subset_y``, ``pred`` of :class:`~ecg_pipeline.evaluation.worst_case.Outcomes`), so the
certified curve is scored by the same code as the attack worst case: ``pred`` is the label where certified,
the counter-example's class where broken, and, where unknown, the class whose margin has the smallest lower
bound (a class the bound could not exclude, not an observed prediction).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ecg_pipeline.errors import EcgAttackError, EcgDataError

from .bounds import alpha_crown_margins, crown_bounds, crown_margins, ibp_margins, input_box, margin_spec, other_classes
from .exact import decide_beat_hybrid
from .milp import affine_segments, check_milp_network
from .network import DTYPE, Network, translate

METHODS = ("ibp", "crown", "alpha_crown", "milp")
CERTIFIED, UNKNOWN, BROKEN = 1, 0, -1
MARGIN_TOL = 1e-4   # a certified margin must exceed the float32 forward pass's rounding (see bounds.py)


@dataclass
class Certificate:
    """One method at one eps on ``n`` beats."""

    method: str
    eps: float
    y: np.ndarray                  # [n] labels
    outcome: np.ndarray            # [n] int8: 1 certified, 0 unknown, -1 broken
    lower_margin: np.ndarray       # [n, K-1] lower bounds on z_y - z_j (MILP: proven bounds)
    other_class: np.ndarray        # [n, K-1] the j of each column
    seconds: float                 # wall time of the whole call
    beat_seconds: np.ndarray | None = None          # [n] MILP time per beat (0 where bounds decided it)
    counterexamples: dict[int, np.ndarray] = field(default_factory=dict)  # beat position -> x (float64)
    counterexample_class: dict[int, int] = field(default_factory=dict)    # beat position -> the model's class

    @property
    def certified(self) -> np.ndarray:
        return self.outcome == CERTIFIED

    def pred(self) -> np.ndarray:
        """The per-beat prediction row of the attacks' form (see the module docstring)."""
        weakest = self.other_class[np.arange(self.y.size), np.argmin(self.lower_margin, axis=1)]
        pred = np.where(self.outcome == CERTIFIED, self.y, weakest)
        for position, x in self.counterexamples.items():
            pred[position] = self.counterexample_class.get(position, pred[position])
        return pred.astype(np.int16)


def _check_call(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, method: str, bounds) -> Network:
    if method not in METHODS:
        raise EcgAttackError(f"certify: method {method!r}; expected one of {list(METHODS)}")
    if not np.isfinite(eps) or eps < 0:
        raise EcgAttackError(f"certify: eps={eps}; expected a finite value >= 0")
    if bounds is not None and not bounds[0] < bounds[1]:
        raise EcgAttackError(f"certify: bounds={bounds}; expected (low, high) with low < high")
    network = translate(model)
    if method == "milp":
        check_milp_network(network, type(model).__name__)
    n_values = int(np.prod(network.input_shape))
    if x.dim() < 2 or x[0].numel() != n_values or y.reshape(-1).shape[0] != x.shape[0]:
        raise EcgDataError(f"certify: beats of shape {tuple(x.shape)} and labels {tuple(y.shape)}; expected "
                           f"[n, {', '.join(map(str, network.input_shape))}] beats and n labels")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= network.n_classes):
        raise EcgDataError(f"certify: labels outside 0..{network.n_classes - 1}")
    return network


def certify(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, bounds: tuple[float, float] | None = (0.0, 1.0),
            method: str = "crown", batch_size: int = 64, alpha_steps: int = 20, alpha_lr: float = 0.1,
            intermediate: str = "crown", milp_time_limit: float = 30.0, margin_tol: float = MARGIN_TOL) -> Certificate:
    """Certify ``model`` on beats ``x`` (``[n, 1, L]``) with labels ``y`` against every L-inf perturbation of size
    ``eps`` within ``bounds``.

    ``method``: ``"ibp"`` (Gowal et al. 2018), ``"crown"`` (Zhang et al. 2018), ``"alpha_crown"`` (Xu et al. 2021,
    ``alpha_steps`` Adam steps of rate ``alpha_lr``), ``"milp"`` (the exact step: alpha-CROWN first, then each beat
    left open decided by :func:`.exact.decide_beat_hybrid`, branch and bound with beta-CROWN bounds then Tjeng et
    al. 2019's MILP with a cut-off, ``milp_time_limit`` seconds a beat; the MLP only). ``intermediate``: how the
    pre-activation bounds are computed (``"crown"``, or ``"ibp"`` for the cheaper CROWN-IBP style). The model and
    its layers are checked (and an unknown one refused, naming the layer) before any bound is computed.
    """
    network = _check_call(model, x, y, eps, method, bounds)
    if eps == 0 and method != "ibp":
        intermediate = "ibp"   # a point box: IBP's intermediate bounds are already exact, CROWN's cost nothing to skip
    start = time.perf_counter()
    y = y.reshape(-1).long()
    reference = copy.deepcopy(model).to(device="cpu", dtype=DTYPE).eval()
    n, rows = y.numel(), network.n_classes - 1
    lower_margin = np.empty((n, rows))
    others = other_classes(y, network.n_classes).numpy() if n else np.zeros((0, rows), dtype=np.int64)
    outcome = np.zeros(n, dtype=np.int8)
    beat_seconds = np.zeros(n) if method == "milp" else None
    found, found_class = {}, {}
    for first in range(0, n, batch_size):
        part = slice(first, first + batch_size)
        xb, yb = x[part].detach().cpu(), y[part]
        lower, upper = input_box(xb, float(eps), bounds, network.input_shape)
        spec = margin_spec(yb, network.n_classes)
        if method == "ibp":
            margins = ibp_margins(network, lower, upper, spec)
        else:
            with torch.no_grad():
                layer_bounds = crown_bounds(network, lower, upper, intermediate=intermediate)
            if method == "crown":
                with torch.no_grad():
                    margins = crown_margins(network, lower, upper, spec, bounds=layer_bounds)
            else:
                margins = alpha_crown_margins(network, lower, upper, spec, steps=alpha_steps, lr=alpha_lr,
                                              bounds=layer_bounds)
        margins = margins.detach().numpy()
        with torch.no_grad():
            clean_wrong = (reference(xb.to(DTYPE)).argmax(1) != yb).numpy()
        certified = (margins > margin_tol).all(1) & ~clean_wrong
        outcome[part] = np.where(clean_wrong, BROKEN, np.where(certified, CERTIFIED, UNKNOWN))
        for i in np.flatnonzero(clean_wrong):
            found[first + i] = xb[i].to(DTYPE).numpy().reshape(-1)
        if method == "milp":
            segments, relus = affine_segments(network)
            for i in np.flatnonzero(~certified & ~clean_wrong):
                beat = time.perf_counter()
                per_layer = [(layer_bounds.node[k][0][i].numpy(), layer_bounds.node[k][1][i].numpy()) for k in relus]
                answer = decide_beat_hybrid(
                    reference, network, segments, per_layer, xb[i].to(DTYPE).numpy().reshape(-1), float(eps),
                    lower[i].numpy().reshape(-1), upper[i].numpy().reshape(-1), int(yb[i]), margins[i],
                    others[first + i], time_limit=milp_time_limit, margin_tol=margin_tol)
                outcome[first + i], margins[i] = answer.outcome, answer.proven
                if answer.counterexample is not None:
                    found[first + i] = answer.counterexample
                beat_seconds[first + i] = time.perf_counter() - beat
        lower_margin[part] = margins
    with torch.no_grad():
        for position, point in found.items():
            found_class[position] = int(reference(torch.from_numpy(point).reshape(1, *x.shape[1:])).argmax(1))
    return Certificate(method, float(eps), y.numpy(), outcome, lower_margin, others, time.perf_counter() - start,
                       beat_seconds, found, found_class)


def certified_examples(certificates: Sequence[Certificate], subset: np.ndarray) -> dict[str, np.ndarray]:
    """Certificates of one method at each eps of a grid (same beats, ``subset``: their indices in the split) in
    the per-beat form of the attacks' stored examples, plus ``outcome`` and the smallest ``lower_margin``."""
    if not certificates:
        raise EcgDataError("certified_examples: no certificates")
    y = certificates[0].y
    if any(not np.array_equal(c.y, y) for c in certificates) or np.asarray(subset).size != y.size:
        raise EcgDataError("certified_examples: the certificates are not of the same beats as `subset`")
    return {"grid": np.asarray([c.eps for c in certificates], dtype=np.float64), "subset": np.asarray(subset),
            "subset_y": y.astype(np.int16), "pred": np.stack([c.pred() for c in certificates]),
            "outcome": np.stack([c.outcome for c in certificates]).astype(np.int8),
            "lower_margin": np.stack([c.lower_margin.min(1) for c in certificates]),
            "seconds": np.asarray([c.seconds for c in certificates])}
