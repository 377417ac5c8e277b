"""TRADES (``defenses.objectives.trades``, Zhang et al. 2019 eq. 5): the KL term by hand, zero with a zero gradient at
x' = x, the inner maximisation against a brute-force grid on a 2-2-2 ReLU net, the loss as the sum of its terms,
and its random start drawn from the objective's own seeded generator."""

import math

import pytest
import torch

from ecg_pipeline.defenses.objectives import build_objective
from ecg_pipeline.defenses.objectives.trades import Trades, trades_kl
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model


def test_the_kl_term_by_hand():
    """p = softmax(0, 0) = (1/2, 1/2), q = softmax(0, ln 3) = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3);
    the batch mean of two rows, one of them 0."""
    clean = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    adversarial = torch.tensor([[0.0, math.log(3.0)], [1.0, 2.0]])
    assert trades_kl(clean, adversarial).item() == pytest.approx(0.25 * math.log(4 / 3), abs=1e-7)
    assert trades_kl(clean[:1], adversarial[:1]).item() == pytest.approx(0.5 * math.log(4 / 3), abs=1e-7)


def test_the_kl_term_at_x_prime_equal_to_x_is_zero_with_a_zero_gradient():
    torch.manual_seed(0)
    model = build_model("mlp")
    x = torch.rand(8, 1, 187)
    x_prime = x.clone().requires_grad_(True)
    kl = trades_kl(model(x).detach(), model(x_prime))
    (grad_x,) = torch.autograd.grad(kl, x_prime)
    assert kl.item() == pytest.approx(0.0, abs=1e-7)
    assert grad_x.abs().max().item() < 1e-7          # a minimum in x': no ascent direction from x' = x itself
    kl = trades_kl(model(x), model(x))                 # and none for the weights either
    grads = torch.autograd.grad(kl, list(model.parameters()))
    assert max(g.abs().max().item() for g in grads) < 1e-7


def test_the_inner_maximisation_reaches_the_grid_maximum_of_the_hand_net(hand_net):
    """At x = (0.55, 0.45), eps 0.1: the margin z0 - z1 = relu(x1 + x2) - 2 relu(x1 - x2) - 0.5 falls fastest towards
    x = (0.65, 0.35) (margin -0.1 against 0.1 at x), where the KL to f(x) is largest; 20 signed steps of 0.02 from
    the algorithm's start reach the largest KL of a 201 x 201 grid over the box."""
    model, x = hand_net(), torch.tensor([[[0.55, 0.45]]])
    objective = Trades(beta=6.0, eps=0.1, steps=20, step_size=0.02, bounds=None, seed=1)
    clean = model(x)
    x_adv = objective.examples(model, x, clean, None, 1)
    axis1, axis2 = torch.linspace(0.45, 0.65, 201), torch.linspace(0.35, 0.55, 201)
    grid = torch.cartesian_prod(axis1, axis2)
    with torch.no_grad():
        log_p = torch.log_softmax(clean, 1)
        best = (log_p.exp() * (log_p - torch.log_softmax(model(grid.view(-1, 1, 2)), 1))).sum(1).max().item()
        found = trades_kl(clean.detach(), model(x_adv)).item()
    assert x_adv.flatten().tolist() == pytest.approx([0.65, 0.35], abs=1e-6)
    assert found == pytest.approx(best, rel=1e-5)


def test_the_loss_is_ce_plus_beta_kl_at_the_examples_drawn_from_its_seed():
    torch.manual_seed(0)
    model = build_model("mlp")
    x, y = torch.rand(16, 1, 187) * 0.9, torch.arange(16) % 5
    objective = build_objective("trades", beta=6.0, eps=0.05, steps=3, step_size=0.02, seed=4)
    loss, logits, stats = objective(model, x, y, None, 1)
    again = Trades(beta=6.0, eps=0.05, steps=3, step_size=0.02, seed=4)
    x_adv = again.examples(model, x, logits, None, 1)
    ce = torch.nn.functional.cross_entropy(logits, y)
    kl = trades_kl(logits, model(x_adv))
    assert loss.item() == pytest.approx(ce.item() + 6.0 * kl.item(), rel=1e-6)
    assert (stats["ce"], stats["kl"]) == (pytest.approx(ce.item()), pytest.approx(kl.item()))
    assert kl.item() > 0
    assert ((x_adv - x).abs().max().item() <= 0.05 + 1e-7) and x_adv.min() >= 0 and x_adv.max() <= 1
    # the next batch draws a new start; another seed another; the batch counter is the checkpointed state
    assert objective.state_dict() == {"epoch": 1, "batch": 1}
    other = Trades(beta=6.0, eps=0.05, steps=0, seed=5).examples(model, x, logits, None, 1)
    same = Trades(beta=6.0, eps=0.05, steps=0, seed=4).examples(model, x, logits, None, 1)
    assert not torch.equal(other, same)
    assert (same - x).abs().max().item() < 0.01       # the 0.001 N(0, 1) start of algorithm 1


def test_invalid_parameters_are_refused_by_name():
    with pytest.raises(EcgDataError, match="beta"):
        Trades(beta=-1.0)
    with pytest.raises(EcgDataError, match="step_size"):
        Trades(step_size=0.0)
