"""The sign-only exact step (``verification.exact``: the MILP with a cut-off, and branch and bound with beta-CROWN
bounds) against the truth: a 2-2-2 ReLU network whose minimum margin is known by hand, tiny random networks whose
minimum is found by enumerating every activation pattern (one LP each), and the solve-to-optimality MILP of
``verification.milp`` on real MIT-BIH beats."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.verification import certify
from ecg_pipeline.verification.bounds import crown_bounds, crown_margins, input_box, margin_spec, other_classes
from ecg_pipeline.verification.exact import (BROKEN, ROBUST, UNKNOWN, decide_beat, decide_beat_bab, decide_beat_hybrid,
                                             strictly_inside)
from ecg_pipeline.verification.milp import affine_segments, verify_beat
from ecg_pipeline.verification.network import DTYPE, Dense, Network, ReLU, forward, translate

ENGINES = {"milp": decide_beat, "bab": decide_beat_bab, "hybrid": decide_beat_hybrid}
MARGIN_TOL = 1e-4


def two_two_two(bias: float) -> Network:
    """``h = relu([x1 - x2, x2 - x1])``, logits ``[bias - h1 - h2, 0]``: margin ``bias - |x1 - x2|``, whose minimum
    over the box ``[c - r, c + r]^2`` (inside [0, 1]) is ``bias - 2 r``, at ``(c + r, c - r)`` or its mirror."""
    ops = (Dense(torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=DTYPE), torch.zeros(2, dtype=DTYPE)), ReLU(),
           Dense(torch.tensor([[-1.0, -1.0], [0.0, 0.0]], dtype=DTYPE), torch.tensor([bias, 0.0], dtype=DTYPE)))
    return Network("two_two_two", ops, (2,), 2)


def brute_force_minimum(segments, c: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """min over the box of ``c . logits``: every activation pattern of every ReLU layer, an LP over the box and the
    pattern's polytope each (the network is affine on it)."""
    widths = [b.size for _, b in segments[:-1]]
    best = np.inf
    for pattern in itertools.product([0, 1], repeat=sum(widths)):
        A, a = np.eye(lower.size), np.zeros(lower.size)
        rows, rhs, used = [], [], 0
        for (weight, bias), width in zip(segments[:-1], widths):
            z_A, z_a = weight @ A, weight @ a + bias
            on = np.asarray(pattern[used: used + width], dtype=bool)
            used += width
            sign = np.where(on, -1.0, 1.0)          # on: -z <= 0; off: z <= 0
            rows.append(sign[:, None] * z_A)
            rhs.append(-sign * z_a)
            A, a = z_A * on[:, None], z_a * on
        weight, bias = segments[-1]
        found = linprog(c @ weight @ A, A_ub=np.vstack(rows), b_ub=np.concatenate(rhs),
                        bounds=list(zip(lower, upper)), method="highs")
        if found.status == 0:
            best = min(best, found.fun + c @ (weight @ a + bias))
    return best


def _decide(engine, network, x, y, eps, time_limit=10.0):
    """The engine's answer for each beat of ``x`` (from CROWN's margins, as ``certify`` starts it)."""
    segments, relus = affine_segments(network)
    lower, upper = input_box(x, eps, (0.0, 1.0), network.input_shape)
    bounds = crown_bounds(network, lower, upper)
    margins = crown_margins(network, lower, upper, margin_spec(y, network.n_classes), bounds=bounds).numpy()
    others = other_classes(y, network.n_classes).numpy()

    def model(t):
        return forward(network, t)

    answers = []
    for i in range(x.shape[0]):
        per_layer = [(bounds.node[k][0][i].numpy(), bounds.node[k][1][i].numpy()) for k in relus]
        answers.append(ENGINES[engine](model, network, segments, per_layer, x[i].numpy(), eps, lower[i].numpy(),
                                       upper[i].numpy(), int(y[i]), margins[i], others[i], time_limit=time_limit,
                                       margin_tol=MARGIN_TOL))
    return answers, segments, lower, upper


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize(("radius", "expected"), [(0.2, ROBUST), (0.3, BROKEN)])
def test_two_two_two_by_hand(engine, radius, expected):
    """Bias 0.5, centre (0.5, 0.5): minimum margin 0.5 - 2 r: +0.1 at r = 0.2 (robust), -0.1 at r = 0.3 (broken)."""
    network = two_two_two(0.5)
    x = torch.tensor([[0.5, 0.5]], dtype=DTYPE)
    y = torch.tensor([0])
    segments, _ = affine_segments(network)
    assert brute_force_minimum(segments, np.array([1.0, -1.0]), np.full(2, 0.5 - radius),
                               np.full(2, 0.5 + radius)) == pytest.approx(0.5 - 2 * radius)
    (answer,), _, _, _ = _decide(engine, network, x, y, radius)
    assert answer.outcome == expected
    if expected == ROBUST:
        assert answer.counterexample is None and answer.proven[0] > MARGIN_TOL
        assert answer.proven[0] <= 0.1 + 1e-9                         # a lower bound: never above the truth
    else:
        point = answer.counterexample
        assert np.abs(point - 0.5).max() < radius                     # strictly inside the ball
        assert float(0.5 - abs(point[0] - point[1])) < 0              # misclassified by the hand formula too
        assert answer.proven[0] == -np.inf or answer.proven[0] <= -0.1 + 1e-9


@pytest.mark.parametrize("eps", [0.05, 0.15, 0.3])
def test_sign_equals_enumeration_on_tiny_networks(eps, tiny_mlps):
    """Every engine's answer for every beat has the sign of the enumerated minimum over all other classes (robust
    iff > margin_tol, broken iff < 0 with a confirmed point; unknown only within tolerance of zero), and each proven
    bound is below the enumerated minimum of its class."""
    seen = {engine: set() for engine in ENGINES}
    for seed in (15, 16):
        network = tiny_mlps((3, 4, 4, 3), seed=seed)
        x = torch.rand((5, 3), generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
        y = forward(network, x).argmax(1)
        minima = None
        for engine in ENGINES:
            answers, segments, lower, upper = _decide(engine, network, x, y, eps)
            if minima is None:   # the truth, once per network
                minima = [[brute_force_minimum(segments, np.eye(3)[int(y[i])] - np.eye(3)[j], lower[i].numpy(),
                                               upper[i].numpy()) for j in range(3) if j != int(y[i])]
                          for i in range(x.shape[0])]
            for i, answer in enumerate(answers):
                truth = min(minima[i])
                if truth > 10 * MARGIN_TOL:
                    assert answer.outcome == ROBUST, (engine, seed, i, truth)
                elif truth < -1e-3:
                    assert answer.outcome == BROKEN, (engine, seed, i, truth)
                else:
                    assert answer.outcome != ROBUST or truth > MARGIN_TOL
                if answer.outcome == BROKEN:
                    point = answer.counterexample
                    assert np.abs(point - x[i].numpy()).max() < eps
                    assert (point >= lower[i].numpy()).all() and (point <= upper[i].numpy()).all()
                    assert int(forward(network, torch.from_numpy(point)[None]).argmax(1)) != int(y[i])
                finite = np.isfinite(answer.proven)
                assert (answer.proven[finite] <= np.asarray(minima[i])[finite] + 1e-6).all()
                seen[engine].add(answer.outcome)
    if eps == 0.05:
        assert all(ROBUST in s for s in seen.values()), seen
    if eps == 0.3:
        assert all(BROKEN in s for s in seen.values()), seen


def test_strictly_inside_pulls_surface_points_in():
    centre = np.array([0.2, 0.5, 0.995])
    point = np.array([0.21, 0.49, 1.2])
    inside = strictly_inside(point, centre, 0.01, np.array([0.19, 0.49, 0.985]), np.array([0.21, 0.51, 1.0]))
    assert (np.abs(inside - centre) < 0.01).all() and inside[2] == 1.0
    assert inside[0] == pytest.approx(0.21, abs=1e-5) and inside[0] < 0.21


@pytest.mark.slow
def test_agrees_with_the_optimising_milp_on_real_beats(trained_mitdb_mlp):
    """On real MIT-BIH beats of a 4-epoch MLP at eps 0.01 that CROWN leaves open: wherever the old MILP (solved to
    optimality) decides, the sign-only engines give the same answer, and they decide at least as many beats."""
    model, parts = trained_mitdb_mlp(2000, 4)
    subset = balanced_subset(parts["test"]["y"], 30, seed=0)
    x = torch.from_numpy(parts["test"]["x"][subset][:, None, :].astype(np.float32))
    y = torch.from_numpy(parts["test"]["y"][subset].astype(np.int64))
    crown = certify(model, x, y, 0.01, method="crown")
    open_beats = np.flatnonzero(crown.outcome == UNKNOWN)
    chosen = open_beats[np.argsort(-crown.lower_margin[open_beats].min(1))[:4]]   # the nearest to certified
    network = translate(model)
    segments, relus = affine_segments(network)
    xs = x[chosen].double().reshape(len(chosen), -1)
    lower, upper = input_box(xs, 0.01, (0.0, 1.0), network.input_shape)
    bounds = crown_bounds(network, lower, upper)
    others = other_classes(y[chosen], 5).numpy()
    old = np.array([verify_beat(lambda t: forward(network, t), network, segments,
                                [(bounds.node[k][0][i].numpy(), bounds.node[k][1][i].numpy()) for k in relus],
                                lower[i].numpy(), upper[i].numpy(), int(y[chosen][i]), crown.lower_margin[chosen[i]],
                                others[i], time_limit=15.0, margin_tol=MARGIN_TOL)[0] for i in range(len(chosen))])
    for engine in ENGINES:
        answers, _, _, _ = _decide(engine, network, xs, y[chosen], 0.01, time_limit=15.0)
        outcomes = np.array([a.outcome for a in answers])
        both = (old != UNKNOWN) & (outcomes != UNKNOWN)
        assert (old[both] == outcomes[both]).all(), (engine, old, outcomes)
        assert (outcomes != UNKNOWN).sum() >= (old != UNKNOWN).sum() - 1, (engine, old, outcomes)
    assert (old != UNKNOWN).any()          # the comparison compared something
