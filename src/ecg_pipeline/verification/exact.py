"""Exact verification of the MLP that decides only the sign of each margin: three engines, one answer type.

- :func:`decide_beat`: the MILP of Tjeng et al. 2019 with a cut-off row (below);
- :func:`decide_beat_bab`: branch and bound on ReLU splits with beta-CROWN bounds (:mod:`.branch_and_bound`);
- :func:`decide_beat_hybrid` (what ``certify(method="milp")`` runs): branch and bound for 30 % of the beat's time
  limit, then the cut-off MILP on the classes it left open. Measured on 20 of the NSR MLP's open beats at eps 0.01,
  8 s a beat (``benchmarks/exact_verification.py``): old MILP 2 decided, cut-off MILP 7, branch and bound 11, hybrid
  11 (10.5x the old MILP's decided beats per second).

Each returns a :class:`SignResult`: robust (every margin proven > ``margin_tol``), broken (a counter-example
strictly inside the ball that the float64 reference model misclassifies) or unknown (time limit, or a minimum
within tolerance of zero).

The cut-off MILP. A beat ``x`` with label ``y`` is robust at ``eps`` iff ``min over the box of z_y - z_j > 0``
for every other class ``j``. The optimum itself is never needed, only its sign, so each (beat, class) problem is the MILP of
:mod:`.milp` (Tjeng, Xiao & Tedrake, ICLR 2019, eq. 6) with one more row, the **cut-off**

    ``z_y - z_j <= threshold``                                                                      (1)

and HiGHS told to stop at the first feasible point (``mip_rel_gap`` huge). Two answers only:

- (1) infeasible: no point of the box has a margin at or below ``threshold``: the margin is proven > ``threshold``
  (up to HiGHS's feasibility and integrality tolerances, 1e-7 .. 1e-6: both only *enlarge* the feasible set, so
  they can turn a proof into a found point, not the reverse; ``threshold = 2 margin_tol`` keeps a full
  ``margin_tol`` between the proof and the certification test ``> margin_tol``). The branch and bound prunes every
  node whose LP bound clears the threshold instead of closing the gap to the optimum, which is where the old
  solve-to-optimality spent its time.
- (1) feasible: the point is a candidate counter-example; it is pulled strictly inside the ball (as
  ``evaluation.escalation`` does), clipped to the data bounds and run through the real model in float64; a
  misclassified point is a **break**. A point the model classifies correctly (its margin lies in
  ``[0, threshold]``, or the pull moved it across) is followed by a second problem with threshold ``-break_gap``:
  infeasible leaves the beat **unknown** (its minimum margin is within tolerances of zero), feasible gives a new
  candidate, checked the same way.

Classes are taken in order of their (alpha-)CROWN lower margin, smallest first (the likeliest to break first;
those already certified are skipped), within one per-beat time limit; a time-out leaves the beat unknown.

Big-M values come from the CROWN pre-activation bounds of :mod:`.bounds`. Tightening them further per beat by an
LP per unstable neuron (Tjeng et al. section 4.2) was measured on the NSR MLP's open beats at eps 0.01 and dropped:
15-29 s a beat for at most 3 fewer unstable ReLUs of ~110 (the CROWN bounds are already close to LP-tight).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import LinearConstraint, milp

from .branch_and_bound import BROKEN, ROBUST, UNKNOWN, BeatBaB
from .milp import BeatProblem
from .network import DTYPE, Network

__all__ = ["BROKEN", "ROBUST", "UNKNOWN", "SignResult", "decide_beat", "decide_beat_bab", "decide_beat_hybrid",
           "strictly_inside"]
#: HiGHS stops at the first incumbent when the relative gap allowed is this large (the cut-off row does the rest).
FIRST_SOLUTION_GAP = 1e30
#: float32 spacings (of the beat's largest |x|) a candidate on the ball's surface is pulled inside (as escalation).
SURFACE_SPACINGS = 4


@dataclass
class SignResult:
    """The answer for one beat: ``outcome`` (1 robust / -1 broken / 0 unknown), ``proven`` lower margins per other
    class (``threshold`` where the cut-off proved it), the confirmed counter-example (float64) or None, and which
    class (index into ``others``) decided the beat (-1 when none)."""

    outcome: int
    proven: np.ndarray
    counterexample: np.ndarray | None
    deciding_row: int
    problems: int          # MILPs solved
    seconds: float


def _solve_with_cutoff(problem: BeatProblem, weight: np.ndarray, constant: float, threshold: float,
                       time_limit: float):
    """``(status, point)`` of ``min weight . h_last + constant`` subject to (1) ``<= threshold``, stopped at the
    first feasible point: status ``"infeasible"`` (margin proven > threshold), ``"found"`` (with the input of a point
    at or below it) or ``"timeout"``."""
    row = np.zeros(problem.n_columns)
    row[problem.last] = weight
    constraints = [LinearConstraint(row[None, :], -np.inf, threshold - constant)]
    if problem.constraints is not None:
        constraints.insert(0, problem.constraints)
    cost = np.zeros(problem.n_columns)
    cost[problem.last] = weight
    result = milp(cost, integrality=problem.integrality, bounds=problem.bounds, constraints=constraints,
                  options={"time_limit": max(time_limit, 0.01), "disp": False, "mip_rel_gap": FIRST_SOLUTION_GAP})
    if result.status == 2:                       # infeasible: proven above the threshold
        return "infeasible", None
    if result.x is not None:
        return "found", result.x[: problem.n_input]
    return "timeout", None


def strictly_inside(point: np.ndarray, centre: np.ndarray, eps: float, box_lower: np.ndarray,
                    box_upper: np.ndarray) -> np.ndarray:
    """``point`` pulled :data:`SURFACE_SPACINGS` float32 spacings inside the L-inf ball around ``centre`` and
    clipped into the box (the data bounds): a float64 distance strictly below ``eps`` that float32 keeps."""
    margin = SURFACE_SPACINGS * float(np.finfo(np.float32).eps) * max(float(np.abs(centre).max()), 1.0)
    room = max(eps - margin, 0.0)
    return np.clip(centre + np.clip(point - centre, -room, room), box_lower, box_upper)


def _confirmed(model, network: Network, candidate: np.ndarray, centre: np.ndarray, eps: float, label: int) -> bool:
    """The real model (float64) misclassifies ``candidate``, which lies strictly inside the ball."""
    if not np.abs(candidate - centre).max() < eps:
        return False
    with torch.no_grad():
        logits = model(torch.from_numpy(candidate).reshape(1, *network.input_shape).to(DTYPE))
    return int(logits.argmax(1)) != label


def decide_beat(model, network: Network, segments, layer_bounds, centre: np.ndarray, eps: float,
                box_lower: np.ndarray, box_upper: np.ndarray, label: int, lower_margins: np.ndarray,
                others: np.ndarray, *, time_limit: float, margin_tol: float, break_gap: float = 1e-6) -> SignResult:
    """Decide one beat (module docstring): ``segments`` from :func:`.milp.affine_segments`, ``layer_bounds`` one
    ``(lower, upper)`` per ReLU layer (numpy, this beat), ``lower_margins`` the bound-propagation margins per row of
    ``others`` to start from; ``model`` the float64 reference model that confirms a break."""
    start = time.perf_counter()
    proven = np.asarray(lower_margins, dtype=np.float64).copy()
    weight, bias = segments[-1]
    problem, solved = None, 0
    threshold = 2.0 * margin_tol

    def done(outcome, point=None, row=-1):
        return SignResult(outcome, proven, point, row, solved, time.perf_counter() - start)

    for r in np.argsort(proven):
        if proven[r] > margin_tol:
            continue
        j = int(others[r])
        for level in (threshold, -break_gap):
            left = time_limit - (time.perf_counter() - start)
            if left <= 0:
                return done(UNKNOWN)
            problem = problem or BeatProblem(segments, layer_bounds, box_lower, box_upper)
            status, point = _solve_with_cutoff(problem, weight[label] - weight[j], bias[label] - bias[j], level, left)
            solved += 1
            if status == "timeout":
                return done(UNKNOWN)
            if status == "infeasible":
                if level == threshold:
                    proven[r] = max(proven[r], threshold)
                    break
                return done(UNKNOWN, row=int(r))          # min margin within [-break_gap, threshold]
            candidate = strictly_inside(point, centre, eps, box_lower, box_upper)
            if _confirmed(model, network, candidate, centre, eps, label):
                return done(BROKEN, candidate, int(r))
            if level == -break_gap:
                return done(UNKNOWN, row=int(r))          # a point the model does not confirm
    return done(ROBUST if bool((proven > margin_tol).all()) else UNKNOWN)


def confirm_vertices(model, network: Network, centre: np.ndarray, eps: float, box_lower: np.ndarray,
                     box_upper: np.ndarray, label: int):
    """A ``check(points [m, n_in]) -> confirmed counter-example or None`` for :class:`.branch_and_bound.BeatBaB`:
    each point pulled strictly inside the ball and run, as a batch, through the float64 reference model."""

    def check(points: torch.Tensor):
        if points.shape[0] == 0:
            return None
        candidates = np.stack([strictly_inside(p, centre, eps, box_lower, box_upper) for p in points.numpy()])
        with torch.no_grad():
            logits = model(torch.from_numpy(candidates).reshape(-1, *network.input_shape).to(DTYPE))
        wrong = np.flatnonzero(logits.argmax(1).numpy() != label)
        for i in wrong:
            if _confirmed(model, network, candidates[i], centre, eps, label):
                return candidates[i]
        return None

    return check


def decide_beat_bab(model, network: Network, segments, layer_bounds, centre: np.ndarray, eps: float,
                    box_lower: np.ndarray, box_upper: np.ndarray, label: int, lower_margins: np.ndarray,
                    others: np.ndarray, *, time_limit: float, margin_tol: float, **bab_options) -> SignResult:
    """:func:`decide_beat` with branch and bound on ReLU splits and beta-CROWN bounds
    (:class:`.branch_and_bound.BeatBaB`) in place of the MILP: the same classes in the same order, one deadline."""
    start = time.perf_counter()
    deadline = start + time_limit
    proven = np.asarray(lower_margins, dtype=np.float64).copy()
    weight, bias = segments[-1]
    bab = BeatBaB(segments, layer_bounds, box_lower, box_upper, **bab_options)
    check = confirm_vertices(model, network, centre, eps, box_lower, box_upper, label)
    solved = 0
    for r in np.argsort(proven):
        if proven[r] > margin_tol:
            continue
        j = int(others[r])
        outcome, bound, point = bab.decide(weight[label] - weight[j], float(bias[label] - bias[j]),
                                           margin_tol=margin_tol, deadline=deadline, check=check)
        solved += 1
        proven[r] = max(proven[r], bound)
        if outcome == BROKEN:
            return SignResult(BROKEN, proven, point, int(r), solved, time.perf_counter() - start)
        if outcome == UNKNOWN:
            return SignResult(UNKNOWN, proven, None, int(r), solved, time.perf_counter() - start)
    outcome = ROBUST if bool((proven > margin_tol).all()) else UNKNOWN
    return SignResult(outcome, proven, None, -1, solved, time.perf_counter() - start)


def decide_beat_hybrid(model, network: Network, segments, layer_bounds, centre: np.ndarray, eps: float,
                       box_lower: np.ndarray, box_upper: np.ndarray, label: int, lower_margins: np.ndarray,
                       others: np.ndarray, *, time_limit: float, margin_tol: float, bab_share: float = 0.3) -> SignResult:
    """Branch and bound for ``bab_share`` of the time (quick where the bound is nearly positive), then the cut-off
    MILP on what it left open (from its proven margins: the classes it proved are not solved again)."""
    first = decide_beat_bab(model, network, segments, layer_bounds, centre, eps, box_lower, box_upper, label,
                            lower_margins, others, time_limit=bab_share * time_limit, margin_tol=margin_tol)
    if first.outcome != UNKNOWN:
        return first
    second = decide_beat(model, network, segments, layer_bounds, centre, eps, box_lower, box_upper, label,
                         first.proven, others, time_limit=time_limit - first.seconds, margin_tol=margin_tol)
    second.problems += first.problems
    second.seconds += first.seconds
    return second
