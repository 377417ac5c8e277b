"""Exact verification of a fully connected ReLU network by mixed-integer linear programming (Tjeng et al. 2019).

Formulation (Tjeng, Xiao & Tedrake, ICLR 2019, eq. 6 / section 4.1), one problem per (beat, other class ``j``):
minimise the margin ``z_y - z_j`` over the input box, with each ReLU ``h = max(z, 0)`` of pre-activation bounds
``[l, u]`` encoded as

- ``l >= 0`` (stable active): ``h = z``;  ``u <= 0`` (stable inactive): ``h = 0`` (its column is fixed at 0);
- otherwise, with a binary ``a``: ``h >= 0``, ``h >= z``, ``h <= u a``, ``h <= z - l (1 - a)`` (big-M from
  the bounds).

The bounds ``[l, u]`` are the CROWN pre-activation bounds of :mod:`.bounds` (tight bounds are what makes the
formulation fast, Tjeng et al. section 4.2). Consecutive affine layers (the MLP's ``128->32`` and ``32->5``,
then ``C``) are composed into the objective. A beat's other classes are solved in order of their (alpha-)CROWN
lower bound, smallest first, skipping those already certified, within one per-beat time limit:

- ``robust``: every open class's proven lower bound (HiGHS's dual bound, valid also at a time-out) > ``margin_tol``;
- ``broken``: a solution with negative margin whose input (clipped into the box), run through the real torch
  model in float64, is misclassified; a claimed break the model does not confirm counts as unresolved;
- ``unknown`` otherwise (time limit, or a solution the model does not confirm).

Exact up to HiGHS's feasibility and optimality tolerances (1e-6 .. 1e-9); the ``margin_tol`` demanded of a
proof is far above them. :func:`verify_beat` solves each problem to optimality; ``certify`` now runs the sign-only
engines of :mod:`.exact` (a cut-off row on this module's :class:`BeatProblem`, and branch and bound), 10x more
beats decided per second on the NSR MLP's open beats; this one stays as their reference in tests and benchmark.
The CNN is refused (its max-pooling and residual layers are not encoded here).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import Bounds as VariableBounds
from scipy.optimize import LinearConstraint, milp

from ecg_pipeline.errors import EcgModelError

from .network import DTYPE, Dense, Network, ReLU


def check_milp_network(network: Network, model_name: str) -> None:
    """Refuse a network the MILP does not encode (anything but Dense / ReLU on a flat input)."""
    if not network.is_fully_connected:
        unknown = sorted({type(op).__name__ for op in network.ops if not isinstance(op, (Dense, ReLU))})
        raise EcgModelError(f"verification method 'milp': model {model_name} has layers {unknown} that the MILP "
                            "does not encode (Dense and ReLU only); use method 'crown' or 'alpha_crown'")


def affine_segments(network: Network) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]:
    """The network as ``affine_0, ReLU, affine_1, ReLU, ..., affine_last``: consecutive Dense layers composed
    (float64); returns the affine maps ``(W, b)`` and the op index of each ReLU."""
    segments, relus = [], []
    weight, bias = None, None
    for k, op in enumerate(network.ops):
        if isinstance(op, Dense):
            w, b = op.weight.numpy(), op.bias.numpy()
            weight, bias = (w, b) if weight is None else (w @ weight, w @ bias + b)
        else:  # ReLU
            segments.append((weight, bias))
            relus.append(k)
            weight, bias = None, None
    segments.append((weight, bias))
    return segments, relus


class BeatProblem:
    """The constraints of one beat's MILP (everything but the objective)."""

    def __init__(self, segments, layer_bounds: list[tuple[np.ndarray, np.ndarray]], box_lower: np.ndarray,
                 box_upper: np.ndarray):
        n_input = box_lower.size
        columns_lower, columns_upper, integrality = [box_lower], [box_upper], [np.zeros(n_input)]
        rows: list[tuple[dict[int, np.ndarray] | None, np.ndarray, float, float]] = []
        previous = np.arange(n_input)          # columns of the previous layer's activation
        n_columns = n_input
        for (weight, bias), (lower, upper) in zip(segments[:-1], layer_bounds):
            width = bias.size
            h = n_columns + np.arange(width)
            n_columns += width
            unstable = np.flatnonzero((lower < 0) & (upper > 0))
            a = n_columns + np.arange(unstable.size)
            n_columns += unstable.size
            columns_lower += [np.maximum(lower, 0.0), np.zeros(unstable.size)]
            columns_upper += [np.maximum(upper, 0.0), np.ones(unstable.size)]
            integrality += [np.zeros(width), np.ones(unstable.size)]
            for i in np.flatnonzero(lower >= 0):                       # h = z
                rows.append(((h[i], 1.0), (previous, -weight[i]), None, bias[i], bias[i]))
            for i, binary in zip(unstable, a):
                rows.append(((h[i], 1.0), (previous, -weight[i]), None, bias[i], np.inf))            # h >= z
                rows.append(((h[i], 1.0), None, (binary, -upper[i]), -np.inf, 0.0))                 # h <= u a
                rows.append(((h[i], 1.0), (previous, -weight[i]), (binary, -lower[i]), -np.inf,
                             bias[i] - lower[i]))                                                   # h <= z - l(1-a)
            previous = h
        matrix = np.zeros((len(rows), n_columns))
        low, high = np.empty(len(rows)), np.empty(len(rows))
        for r, (own, dense, single, lo, hi) in enumerate(rows):
            matrix[r, own[0]] += own[1]
            if dense is not None:
                matrix[r, dense[0]] += dense[1]
            if single is not None:
                matrix[r, single[0]] += single[1]
            low[r], high[r] = lo, hi
        self.n_input, self.last = n_input, previous
        self.n_columns = n_columns
        self.constraints = LinearConstraint(matrix, low, high) if rows else None
        self.bounds = VariableBounds(np.concatenate(columns_lower), np.concatenate(columns_upper))
        self.integrality = np.concatenate(integrality)

    def minimise(self, weight: np.ndarray, constant: float, time_limit: float):
        """``min weight . h_last + constant``: (proven lower bound, best value found, its input or None)."""
        cost = np.zeros(self.n_columns)
        cost[self.last] = weight
        result = milp(cost, integrality=self.integrality, bounds=self.bounds,
                      constraints=[self.constraints] if self.constraints is not None else [],
                      options={"time_limit": max(time_limit, 0.01), "disp": False})
        dual = getattr(result, "mip_dual_bound", None)
        if result.status == 0 and dual is None:
            dual = result.fun
        proven = -np.inf if dual is None or not np.isfinite(dual) else float(dual) + constant
        if result.x is None:
            return proven, np.inf, None
        return proven, float(result.fun) + constant, result.x[: self.n_input]


def verify_beat(model: torch.nn.Module, network: Network, segments, layer_bounds, box_lower: np.ndarray,
                box_upper: np.ndarray, label: int, lower_margins: np.ndarray, others: np.ndarray, *,
                time_limit: float, margin_tol: float) -> tuple[int, np.ndarray, np.ndarray | None]:
    """One beat: (outcome 1 robust / -1 broken / 0 unknown, proven lower margins per other class,
    the confirmed counter-example or None). ``lower_margins``: the bound-propagation margins to start from."""
    start = time.perf_counter()
    proven = lower_margins.copy()
    problem = None
    weight, bias = segments[-1]
    for r in np.argsort(lower_margins):
        if proven[r] > margin_tol:
            continue
        left = time_limit - (time.perf_counter() - start)
        if left <= 0:
            return 0, proven, None
        problem = problem or BeatProblem(segments, layer_bounds, box_lower, box_upper)
        j = int(others[r])
        bound, value, point = problem.minimise(weight[label] - weight[j], bias[label] - bias[j], left)
        proven[r] = max(proven[r], bound)
        if point is not None and value < 0:
            candidate = np.clip(point, box_lower, box_upper)
            with torch.no_grad():
                logits = model(torch.from_numpy(candidate).reshape(1, *network.input_shape).to(DTYPE))
            if int(logits.argmax(1)) != label:
                return -1, proven, candidate
    return (1 if bool((proven > margin_tol).all()) else 0), proven, None
