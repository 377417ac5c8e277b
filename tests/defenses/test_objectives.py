"""The robust objectives against closed forms, finite differences and the eps-ball."""

import pytest
import torch
from torch import nn

from ecg_pipeline.defenses.objectives import NSR, Adversarial, Jacobian, build_objective, logit_jacobian
from ecg_pipeline.errors import EcgDataError


def tiny_relu_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double()


def test_nsr_regulariser_equals_the_closed_form_of_the_active_linear_piece():
    net = tiny_relu_net()
    x = torch.rand(4, 1, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    lin1, lin2 = net[1], net[3]
    nsr = NSR(beta=1.0, eps_max=1.0)
    xg = x.clone().requires_grad_(True)
    z = net(xg)
    z_y = z.gather(1, y[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(z_y.sum(), xg)
    r = nsr.regulariser(z_y.detach(), grad)
    for n in range(4):
        active = (lin1(x[n].flatten()) > 0).double()
        w = lin2.weight @ torch.diag(active) @ lin1.weight  # z = W x + b on this piece, eq. (1)
        expected = w[y[n]].abs().sum() / (z_y[n].abs() + 0.01)
        torch.testing.assert_close(r[n], expected.detach())


def test_nsr_loss_is_finite_when_no_sample_is_correct():
    net = tiny_relu_net()
    x = torch.rand(8, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        wrong = (net(x).argmax(1) + 1) % 3
    loss, _, stats = NSR(beta=0.4)(net, x, wrong, None, epoch=1)
    assert torch.isfinite(loss)
    assert stats["margin"] == 0 and stats["log1p_nsr"] == 0
    loss.backward()  # and differentiable
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_nsr_warm_up_uses_mse_alone():
    net = tiny_relu_net()
    x, y = torch.rand(8, 1, 6, dtype=torch.float64), torch.randint(0, 3, (8,))
    loss, _, stats = NSR(beta=0.4, start_epoch=11)(net, x, y, None, epoch=10)
    assert set(stats) == {"mse"} and loss.item() == pytest.approx(stats["mse"])


def test_batched_jacobian_equals_k_separate_passes_and_finite_differences():
    net = tiny_relu_net(1)
    x = torch.rand(3, 1, 6, dtype=torch.float64)
    _, jac = logit_jacobian(net, x, create_graph=False)
    xs = x.clone().requires_grad_(True)
    z = net(xs)
    rows = [torch.autograd.grad(z[:, k].sum(), xs, retain_graph=True)[0] for k in range(3)]
    torch.testing.assert_close(jac, torch.stack(rows, 1))
    h = 1e-6
    fd = torch.zeros_like(jac)
    with torch.no_grad():
        for d in range(6):
            e = torch.zeros_like(x)
            e[..., d] = h
            fd[..., d] = ((net(x + e) - net(x - e)) / (2 * h))[:, :, None]
    torch.testing.assert_close(jac, fd, atol=1e-6, rtol=1e-6)
    penalty = Jacobian(lam=1.0, form="eq12").penalty(jac)
    torch.testing.assert_close(penalty, fd.pow(2).sum().sqrt(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(Jacobian(lam=1.0, form="eq13").penalty(jac), penalty / (3 * 3))


def test_adversarial_examples_lie_in_the_eps_ball_and_bounds():
    net = tiny_relu_net().float()
    x, y = torch.rand(16, 1, 6), torch.randint(0, 3, (16,))
    objective = Adversarial(eps=0.1, steps=5, step_size=0.03)
    x_adv = objective.examples(net, x, y, None, epoch=1)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    loss, _, stats = objective(net, x, y, None, epoch=1)
    assert torch.isfinite(loss) and stats["ce_adv"] >= stats["ce_clean"] - 1e-6
    ramp = Adversarial(eps=0.01, start_epoch=11, ramp=True, epochs=70)
    assert ramp.eps_at(11) == pytest.approx(0.01 / 60) and ramp.eps_at(70) == pytest.approx(0.01)  # eq. (11)


def test_negative_strengths_and_unknown_names_are_refused():
    with pytest.raises(EcgDataError, match="beta must be >= 0"):
        NSR(beta=-0.1)
    with pytest.raises(EcgDataError, match="lam must be >= 0"):
        Jacobian(lam=-1)
    with pytest.raises(EcgDataError, match="eps must be >= 0"):
        Adversarial(eps=-0.1)
    with pytest.raises(EcgDataError, match="unknown training objective 'trades'"):
        build_objective("trades")
