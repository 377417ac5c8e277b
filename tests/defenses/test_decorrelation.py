"""The decorrelation objective of seed 004, eqs. (4)-(5), and the R^2 it rests on."""

from __future__ import annotations

import pytest
import torch

from ecg_pipeline.defenses.decorrelation import check_projection, decorrelation_loss
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.correlation import r_squared


def test_r_squared_is_one_for_an_affine_map_and_near_d_over_n_for_independent_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 8, generator=g, dtype=torch.float64)
    y = x @ torch.randn(8, 5, generator=g, dtype=torch.float64) + 3.0
    assert float(r_squared(x, y)) == pytest.approx(1.0, abs=1e-9)
    noise = torch.randn(500, 5, generator=g, dtype=torch.float64)
    assert 0 < float(r_squared(x, noise)) < 0.05       # expected about 8 / 500
    half = y + noise * y.std(0)                          # half the variance explained
    assert 0.4 < float(r_squared(x, half)) < 0.6


def test_same_seed_same_loss_and_the_roles_and_projection_are_drawn_per_call():
    g = torch.Generator().manual_seed(1)
    current, previous = torch.randn(64, 16, generator=g), torch.randn(2, 64, 16, generator=g)
    first = [decorrelation_loss(current, previous, 8, torch.Generator().manual_seed(5))[0] for _ in range(2)]
    assert torch.equal(first[0], first[1])
    g = torch.Generator().manual_seed(5)
    draws = {round(float(decorrelation_loss(current, previous, 8, g)[0]), 6) for _ in range(6)}
    assert len(draws) > 1


def test_minimising_it_decorrelates_a_member_from_a_fixed_earlier_one():
    """A linear 'member' W trained on the loss alone loses its correlation with a fixed member's features."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 12, generator=g)
    previous = (x @ torch.randn(12, 6, generator=g))[None]
    weight = (torch.randn(12, 6, generator=g) * 0.1 + previous.new_tensor(0)).requires_grad_(True)
    with torch.no_grad():
        weight.copy_(torch.linalg.lstsq(x, previous[0]).solution + 0.05 * torch.randn(12, 6, generator=g))
    before = float(r_squared(x @ weight.detach(), previous[0]))
    opt = torch.optim.Adam([weight], lr=1e-2)
    draws = torch.Generator().manual_seed(3)
    for _ in range(300):
        loss, _ = decorrelation_loss(x @ weight, previous, 4, draws)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float(r_squared(x @ weight.detach(), previous[0]))
    assert before > 0.99 and after < 0.5 * before


def test_the_first_member_has_no_loss_but_keeps_the_graph():
    current = torch.randn(8, 4, requires_grad=True)
    loss, r2 = decorrelation_loss(current, torch.empty(0, 8, 4), 2, torch.Generator())
    assert float(loss.detach()) == 0 and float(r2) == 0
    loss.backward()
    assert current.grad is not None


def test_gradient_flows_and_is_finite_with_dead_features():
    g = torch.Generator().manual_seed(2)
    current = torch.randn(64, 10, generator=g)
    current[:, :4] = 0                                  # dead ReLU units: a rank-deficient regressor
    current.requires_grad_(True)
    previous = torch.randn(1, 64, 10, generator=g)
    for seed in range(4):
        loss, _ = decorrelation_loss(current, previous, None, torch.Generator().manual_seed(seed))
        (grad,) = torch.autograd.grad(loss, current)
        assert torch.isfinite(grad).all() and torch.isfinite(loss)


def test_projection_and_batch_limits_name_what_fails():
    check_projection(32, 64, 64)
    with pytest.raises(EcgDataError, match="expected an integer in 1..64"):
        check_projection(65, 64, 128)
    with pytest.raises(EcgDataError, match=r"batch 32 <= 33 \(32 projected features \+ a bias column\)"):
        check_projection(32, 64, 32)
    with pytest.raises(EcgDataError, match="batch 64 <= 65"):
        check_projection(None, 64, 64)
