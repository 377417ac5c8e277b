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
    with pytest.raises(EcgDataError, match="unknown training objective 'trade'"):
        build_objective("trade")


# --- NSR target="margin" (the project's variant: R of the margin z_y - max_{j != y} z_j) ---------------

def tiny_linear_net(seed=0, d=6, k=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()


def test_nsr_margin_gradient_and_regulariser_equal_the_closed_form_of_a_linear_model():
    net = tiny_linear_net()
    w, b = net[1].weight.detach(), net[1].bias.detach()
    x = torch.rand(8, 1, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
    nsr = NSR(beta=1.0, eps_max=0.7, target="margin")
    xg = x.clone().requires_grad_(True)
    s = nsr.regularised(net(xg), y)
    (grad,) = torch.autograd.grad(s.sum(), xg)
    z = x.flatten(1) @ w.T + b
    others = z.scatter(1, y[:, None], float("-inf"))
    j_star = others.argmax(1)
    m = z.gather(1, y[:, None]).squeeze(1) - others.max(1).values
    torch.testing.assert_close(s.detach(), m)
    torch.testing.assert_close(grad.flatten(1), w[y] - w[j_star])  # dm/dx = w_y - w_j*, exactly
    expected = (w[y] - w[j_star]).abs().sum(1) * 0.7 / (m.abs() + 0.01)
    torch.testing.assert_close(nsr.regulariser(s.detach(), grad), expected)
    relu = NSR(beta=1.0, eps_max=0.7, signal="relu", target="margin")  # the signal option applies to m
    torch.testing.assert_close(relu.regulariser(s.detach(), grad),
                               (w[y] - w[j_star]).abs().sum(1) * 0.7 / (torch.relu(m) + 0.01))
    # central finite differences of m agree too (no tie among the other logits at these points)
    h, fd = 1e-6, torch.zeros(8, 6, dtype=torch.float64)
    with torch.no_grad():
        for d in range(6):
            e = torch.zeros_like(x)
            e[..., d] = h
            fd[:, d] = (nsr.regularised(net(x + e), y) - nsr.regularised(net(x - e), y)) / (2 * h)
    torch.testing.assert_close(grad.flatten(1), fd, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("reduction", ["paper", "code"])
def test_nsr_margin_loss_adds_beta_times_the_closed_form_regulariser_on_correct_samples(reduction):
    net = tiny_linear_net(2)
    w = net[1].weight.detach()
    x = torch.rand(16, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        z = net(x)
    y = z.argmax(1)
    y[:5] = (y[:5] + 1) % 3  # five misclassified samples: no regulariser for them
    base, _, _ = NSR(beta=0.0, target="margin", reduction=reduction)(net, x, y, None, epoch=1)
    loss, _, stats = NSR(beta=0.4, eps_max=1.0, target="margin", reduction=reduction)(net, x, y, None, epoch=1)
    correct = z.argmax(1) == y
    others = z.scatter(1, y[:, None], float("-inf"))
    m = z.gather(1, y[:, None]).squeeze(1) - others.max(1).values
    r = (w[y] - w[others.argmax(1)]).abs().sum(1) / (m.abs() + 0.01)
    log_r = torch.log1p(r)[correct].sum() / (16 if reduction == "paper" else int(correct.sum()))
    assert stats["log1p_nsr"] == pytest.approx(log_r.item(), rel=1e-12)
    torch.testing.assert_close(loss.detach(), base.detach() + 0.4 * log_r)


def test_nsr_margin_with_beta_zero_equals_the_logit_variant_with_beta_zero():
    net = tiny_relu_net(3)
    x, y = torch.rand(12, 1, 6, dtype=torch.float64), torch.randint(0, 3, (12,))
    for reduction in ("paper", "code"):
        a, logits_a, stats_a = NSR(beta=0.0, target="logit", reduction=reduction)(net, x, y, None, epoch=1)
        b, logits_b, stats_b = NSR(beta=0.0, target="margin", reduction=reduction)(net, x, y, None, epoch=1)
        assert a.item() == b.item() and stats_a == stats_b
        torch.testing.assert_close(logits_a, logits_b)


def test_nsr_margin_is_selectable_from_configuration_and_an_unknown_target_is_refused():
    objective = build_objective(**{"name": "nsr", "beta": 0.4, "eps_max": 1.0, "reduction": "code", "target": "margin"})
    assert isinstance(objective, NSR) and objective.target == "margin" and objective.reduction == "code"
    assert NSR().target == "logit"  # eq. (7) by default
    with pytest.raises(EcgDataError, match="NSR target must be 'logit' or 'margin', got 'rival'"):
        NSR(target="rival")
    with pytest.raises(EcgDataError, match="target"):
        build_objective("nsr", target="logits")


@pytest.mark.parametrize("target", ["logit", "margin"])
@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh])
def test_nsr_double_backprop_gradient_to_the_weights_is_exact(target, activation):
    """The weight gradient of the whole loss (through the input gradient in R) against finite differences."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), activation(), nn.Linear(5, 3)).double()
    x = torch.rand(6, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        y = net(x).argmax(1)
    y[0] = (y[0] + 1) % 3  # one misclassified sample
    objective = NSR(beta=0.4, eps_max=1.0, target=target)
    names = [name for name, _ in net.named_parameters()]

    def loss_of(*params):
        state = dict(zip(names, params))
        return objective(lambda inp: torch.func.functional_call(net, state, (inp,)), x, y, None, 1)[0]

    params = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())
    assert torch.autograd.gradcheck(loss_of, params, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_nsr_double_backprop_through_the_kachuee_cnn_is_exact():
    """The weight gradient of the NSR loss of the Kachuee CNN (fast pooling path, the trainer's) against
    central finite differences along random directions of all its weights, in float64."""
    from ecg_pipeline.models import KachueeCNN

    torch.manual_seed(5)
    net = KachueeCNN(input_length=125).double()
    x = torch.rand(4, 1, 125, dtype=torch.float64)
    with torch.no_grad():
        y = net(x).argmax(1)
    y[0] = (y[0] + 1) % 5  # one misclassified sample
    objective = NSR(beta=0.3, eps_max=1.0)
    names = [name for name, _ in net.named_parameters()]
    params = [p.detach() for p in net.parameters()]

    def loss_at(values):
        state = dict(zip(names, values))
        return objective(lambda inp: torch.func.functional_call(net, state, (inp,)), x, y, None, 1)[0]

    leaves = [p.clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(loss_at(leaves), leaves)
    h = 1e-6
    for _ in range(3):
        direction = [torch.randn_like(p) for p in params]
        norm = torch.sqrt(sum((d ** 2).sum() for d in direction))
        direction = [d / norm for d in direction]  # a unit step: h stays within one linear piece
        plus = loss_at([p + h * d for p, d in zip(params, direction)])
        minus = loss_at([p - h * d for p, d in zip(params, direction)])
        analytic = sum((g * d).sum() for g, d in zip(grads, direction))
        torch.testing.assert_close(analytic, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-9)


def test_adversarial_step_follows_the_eps_ramp_with_step_ratio(monkeypatch):
    """Seed 001's CPSC adversarial training: 20 PGD steps of 4 eps_t / 20, eps_t of eq. (11)."""
    import ecg_pipeline.attacks.pgd as pgd_module

    seen = []
    real = pgd_module.pgd

    def spy(model, x, y, eps, **kwargs):
        seen.append((eps, kwargs["step_size"], kwargs["step_ratio"]))
        return real(model, x, y, eps, **kwargs)

    monkeypatch.setattr(pgd_module, "pgd", spy)
    net = tiny_relu_net().float()
    x, y = torch.rand(8, 1, 6) * 2 - 1, torch.randint(0, 3, (8,))
    objective = Adversarial(eps=0.01, steps=20, step_ratio=0.2, bounds=(-1.0, 1.0), start_epoch=11, ramp=True, epochs=70)
    for epoch in (11, 40, 70):
        x_adv = objective.examples(net, x, y, None, epoch=epoch)
        assert (x_adv - x).abs().max() <= objective.eps_at(epoch) + 1e-7
    assert [(round(e, 6), s, r) for e, s, r in seen] == [(round(0.01 / 60, 6), None, 0.2), (round(0.01 * 30 / 60, 6), None, 0.2),
                                                         (0.01, None, 0.2)]
    assert Adversarial().step_size == 0.01  # MIT-BIH default: a fixed step of 0.01
    with pytest.raises(EcgDataError, match="step_size .* or step_ratio .*, not both"):
        Adversarial(step_size=0.01, step_ratio=0.2)
    with pytest.raises(EcgDataError, match="step_ratio must be > 0"):
        Adversarial(step_ratio=0)


def test_the_jacobian_of_a_mask_aware_model_equals_k_separate_gradients():
    """The masked ResNet takes the per-class path (no vmap batching rule for its backward)."""
    from ecg_pipeline.models import MaskedResNet

    torch.manual_seed(0)
    model = MaskedResNet(width=2, n_classes=3).double()
    x = torch.randn(2, 8, 4096, dtype=torch.float64)
    mask = torch.ones(2, 1, 4096, dtype=torch.float64)
    mask[1, :, :1000] = 0
    logits, jac = logit_jacobian(model, x, mask, create_graph=False)
    assert jac.shape == (2, 3, 8, 4096)
    for k in range(3):
        xk = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(xk, mask)[:, k].sum(), xk)
        torch.testing.assert_close(jac[:, k], grad)


@pytest.mark.parametrize("objective", [NSR(beta=0.3), NSR(beta=0.3, reduction="code", target="margin"),
                                       Jacobian(lam=0.7)], ids=["nsr", "nsr_code_margin", "jacobian"])
def test_double_backprop_objectives_on_the_kachuee_cnn_equal_its_reference_layers(objective):
    """The Kachuee CNN's fast paths under double backprop (NSR: ``models.double_backprop`` with its custom
    autograd functions; Jacobian: vmapped, channels-last) give the loss and weight gradients of the
    layers as first written (``reference_forward``), in float64."""
    from ecg_pipeline.models import KachueeCNN

    torch.manual_seed(3)
    model = KachueeCNN().double()
    x, y = torch.rand(8, 1, 187, dtype=torch.float64), torch.randint(0, 5, (8,))

    class Reference(nn.Module):
        def forward(self, inputs):
            return model.reference_forward(inputs)

    results = []
    for path in (model, Reference()):
        loss = objective(path, x, y, None, 1)[0]
        results.append((loss, *torch.autograd.grad(loss, list(model.parameters()))))
    assert results[0][0].item() > 0
    for fast, reference in zip(*results):
        torch.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-12)
    if isinstance(objective, Jacobian):  # row by row (the Frobenius norm would not see rows swapped)
        (logits, jac), (ref_logits, ref_jac) = logit_jacobian(model, x), logit_jacobian(Reference(), x)
        assert jac.shape == (8, 5, 1, 187)
        torch.testing.assert_close(logits, ref_logits, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(jac, ref_jac, rtol=1e-9, atol=1e-12)
