"""The MILP (Tjeng et al. 2019) against brute force: on a network small enough to enumerate every ReLU
activation pattern (an LP over the input box and the pattern's polytope each), the MILP's minimum margin is the
enumerated minimum, and its verdict (robust / broken with a counter-example) matches the sign."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from ecg_pipeline.verification.bounds import crown_bounds, input_box, other_classes
from ecg_pipeline.verification.milp import BeatProblem, affine_segments, verify_beat
from ecg_pipeline.verification.network import forward


def _brute_force_minimum(segments, c: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """min over the box of ``c . logits`` by enumerating the activation patterns of every ReLU layer."""
    widths = [b.size for _, b in segments[:-1]]
    best = np.inf
    for pattern in itertools.product([0, 1], repeat=sum(widths)):
        # the network restricted to the pattern is affine in x: h = A x + a; each pre-activation's sign is a row
        A, a = np.eye(lower.size), np.zeros(lower.size)
        rows, bounds_rhs, used = [], [], 0
        for (weight, bias), width in zip(segments[:-1], widths):
            z_A, z_a = weight @ A, weight @ a + bias
            on = np.asarray(pattern[used : used + width], dtype=bool)
            used += width
            # on: z >= 0  ->  -z <= 0 ; off: z <= 0
            sign = np.where(on, -1.0, 1.0)
            rows.append(sign[:, None] * z_A)
            bounds_rhs.append(-sign * z_a)
            A, a = z_A * on[:, None], z_a * on
        weight, bias = segments[-1]
        objective_A, objective_a = c @ weight @ A, c @ (weight @ a + bias)
        found = linprog(objective_A, A_ub=np.vstack(rows), b_ub=np.concatenate(bounds_rhs),
                        bounds=list(zip(lower, upper)), method="highs")
        if found.status == 0:
            best = min(best, found.fun + objective_a)
    return best


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_milp_minimum_equals_enumeration(eps, tiny_mlps):
    network = tiny_mlps((3, 4, 4, 3), seed=15)
    segments, relus = affine_segments(network)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand((5, 3), generator=gen, dtype=torch.float64)
    y = forward(network, x).argmax(1)
    lower, upper = input_box(x, eps, (0.0, 1.0), network.input_shape)
    bounds = crown_bounds(network, lower, upper)
    others = other_classes(y, 3).numpy()
    verdicts = []
    for i in range(5):
        per_layer = [(bounds.node[k][0][i].numpy(), bounds.node[k][1][i].numpy()) for k in relus]
        problem = BeatProblem(segments, per_layer, lower[i].numpy(), upper[i].numpy())
        weight, bias = segments[-1]
        minima = []
        for j in others[i]:
            c = np.zeros(3)
            c[int(y[i])], c[j] = 1.0, -1.0
            proven, value, point = problem.minimise(weight[int(y[i])] - weight[j], bias[int(y[i])] - bias[j], 30.0)
            exact = _brute_force_minimum(segments, c, lower[i].numpy(), upper[i].numpy())
            assert value == pytest.approx(exact, abs=1e-6) and proven == pytest.approx(exact, abs=1e-6)
            minima.append(exact)
        outcome, margins, counterexample = verify_beat(
            lambda t: forward(network, t), network, segments, per_layer, lower[i].numpy(), upper[i].numpy(),
            int(y[i]), np.full(2, -np.inf), others[i], time_limit=30.0, margin_tol=1e-4)
        expected = 1 if min(minima) > 1e-4 else (-1 if min(minima) < -1e-6 else 0)
        assert outcome == expected
        if outcome == -1:
            assert (counterexample >= lower[i].numpy()).all() and (counterexample <= upper[i].numpy()).all()
            assert int(forward(network, torch.from_numpy(counterexample)[None]).argmax(1)) != int(y[i])
        else:
            assert counterexample is None
        verdicts.append(outcome)
    if eps == 0.05:
        assert 1 in verdicts
    else:
        assert -1 in verdicts


def test_milp_does_not_trust_a_claimed_break_the_model_refutes(tiny_mlps):
    """A 'model' that always answers the label: the MILP's negative margin cannot be confirmed, so unknown."""
    network = tiny_mlps((3, 4, 4, 3), seed=15)
    segments, relus = affine_segments(network)
    x = torch.full((1, 3), 0.5, dtype=torch.float64)
    y = forward(network, x).argmax(1)
    lower, upper = input_box(x, 0.5, (0.0, 1.0), network.input_shape)
    bounds = crown_bounds(network, lower, upper)
    per_layer = [(bounds.node[k][0][0].numpy(), bounds.node[k][1][0].numpy()) for k in relus]

    def loyal(t):
        return torch.nn.functional.one_hot(y.expand(t.shape[0]), 3).to(torch.float64)

    outcome, _, counterexample = verify_beat(loyal, network, segments, per_layer, lower[0].numpy(), upper[0].numpy(),
                                             int(y[0]), np.full(2, -np.inf), other_classes(y, 3)[0].numpy(),
                                             time_limit=30.0, margin_tol=1e-4)
    assert outcome == 0 and counterexample is None
