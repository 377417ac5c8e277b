"""Jacobian regularisation with random projections (Hoffman et al. 2019, Algorithm 1): the estimator's
expectation on a case worked by hand, its exactness on a basis, and the option as a run declares it."""

import math

import pytest
import torch
from torch import nn

from ecg_pipeline.defenses.objectives import Jacobian, build_objective, logit_jacobian
from ecg_pipeline.defenses.objectives.jacobian import frobenius_sq_estimate, projected_jacobian, unit_directions
from ecg_pipeline.errors import EcgConfigError
from ecg_pipeline.models import build_model

# z = W x for x in R^2, K = 2 classes: J = W at every x, ||W||_F^2 = 1 + 4 + 0 + 9 = 14. For v = (cos t, sin t),
# v^T W = (cos t, 2 cos t + 3 sin t) and ||v^T W||^2 = 5 cos^2 t + 9 sin^2 t + 12 sin t cos t = 7 - 2 cos 2t + 6 sin 2t,
# whose mean over t is 7; times K = 2 it is 14 = ||W||_F^2: the estimator's expectation.
W = torch.tensor([[1.0, 2.0], [0.0, 3.0]], dtype=torch.float64)


def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False)).double()
    with torch.no_grad():
        model[1].weight.copy_(W)
    return model


def estimate(model, x, directions: torch.Tensor) -> torch.Tensor:
    """(K / k) sum_m ||v_m^T J||^2 for the given directions [n, k, K]."""
    _, projected = projected_jacobian(model, x, None, directions.shape[1], lambda n, k, n_classes: directions)
    return frobenius_sq_estimate(projected, 2)


def angles(*t: float) -> torch.Tensor:
    t = torch.tensor(t, dtype=torch.float64)
    return torch.stack([t.cos(), t.sin()], dim=1)[None]  # [1, k, 2]


def test_each_projection_is_the_hand_computed_vector_jacobian_product():
    x = torch.rand(1, 1, 2, dtype=torch.float64)
    # v = e1: ||(1, 2)||^2 = 5, times K/k = 2; v = e2: ||(0, 3)||^2 = 9; v = (1, 1)/sqrt 2: ||(1, 5)||^2 / 2 = 13
    for t, by_hand in ((0.0, 10.0), (math.pi / 2, 18.0), (math.pi / 4, 26.0)):
        assert estimate(linear_model(), x, angles(t)).item() == pytest.approx(by_hand, rel=1e-12)


def test_the_estimate_averaged_over_the_circle_is_the_squared_frobenius_norm():
    x = torch.rand(1, 1, 2, dtype=torch.float64)
    # eight equally spaced directions integrate a trigonometric polynomial of degree 2 exactly: the expectation
    circle = angles(*(2 * math.pi * j / 8 for j in range(8)))
    assert estimate(linear_model(), x, circle).item() == pytest.approx(14.0, rel=1e-12)
    # and the sampler's directions (uniform on the circle): the Monte Carlo mean of one projection each, over 4,000
    # samples (the estimate's standard deviation is 12.6 / sqrt 2 = 8.9, so the mean's is 0.14)
    v = unit_directions(4000, 1, 2, torch.Generator().manual_seed(0)).double()
    assert v.norm(dim=2).sub(1).abs().max() < 1e-6
    x = torch.rand(4000, 1, 2, dtype=torch.float64)
    assert (estimate(linear_model(), x, v) / 4000).item() == pytest.approx(14.0, abs=0.6)


@pytest.mark.parametrize("name", ["mlp", "kachuee_cnn"])
def test_projections_on_the_class_basis_give_the_exact_jacobian(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.rand(3, 1, 187)
    logits, exact = logit_jacobian(model, x)
    basis = torch.eye(5).expand(3, 5, 5)  # v_nm = e_m: P[n, m] = J[n, m], the estimate is ||J||_F^2 itself
    logits_p, projected = projected_jacobian(model, x, None, 5, lambda n, k, n_classes: basis)
    torch.testing.assert_close(logits_p, logits)
    torch.testing.assert_close(projected, exact, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(frobenius_sq_estimate(projected, 5), exact.pow(2).sum(), rtol=1e-5, atol=1e-6)


def test_the_projected_objective_trains_and_keeps_its_generator_in_the_checkpoint():
    torch.manual_seed(0)
    model = build_model("mlp")
    x, y = torch.rand(16, 1, 187), torch.randint(0, 5, (16,))
    objective = build_objective("jacobian", lam=0.7, projections=2, seed=3)
    state = objective.state_dict()
    first = objective(model, x, y, None, 1)
    objective.load_state_dict(state)  # a resumed run draws the same directions
    again = objective(model, x, y, None, 1)
    assert first[0].item() == again[0].item() and math.isfinite(first[0].item()) and first[2]["jacobian"] > 0
    assert objective(model, x, y, None, 1)[0].item() != first[0].item()  # new directions each batch
    torch.autograd.backward(first[0], inputs=list(model.parameters()))
    assert all(p.grad is not None for p in model.parameters())
    # the penalty estimates the exact one: 64 projections of each of 16 beats land within a few per cent
    exact = Jacobian(lam=0.7).penalty(logit_jacobian(model, x)[1]).item()
    many = Jacobian(lam=0.7, projections=64)
    _, projected = projected_jacobian(model, x, None, 64, lambda n, k, c: unit_directions(n, k, c, many.generator))
    assert many.projected_penalty(projected, 5).item() == pytest.approx(exact, rel=0.05)
    assert Jacobian(lam=0.7).state_dict() is None  # the exact objective: checkpoints as before


@pytest.mark.parametrize("kwargs, message", [
    ({"projections": 0}, "projections must be a count >= 1"),
    ({"projections": True}, "projections must be a count >= 1"),
    ({"projections": "2"}, "projections must be a count >= 1"),
    ({"projections": 2, "form": "l1_code"}, "form 'l1_code' sums .J. and needs the exact Jacobian"),
])
def test_bad_projections_are_configuration_errors_naming_the_key(kwargs, message):
    with pytest.raises(EcgConfigError, match=message) as caught:
        Jacobian(lam=0.7, **kwargs)
    assert caught.value.key == "projections"
