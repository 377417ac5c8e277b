"""logit_gradient_norms against closed forms: linear models, step functions, masks, an untouched model."""

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.gradients import logit_gradient_norms


def linear_net(seed=0, d=7, k=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()


class SignNet(nn.Module):
    """A step-function forward: sign of a linear layer (zero input gradient everywhere)."""

    def __init__(self, d=7, k=4):
        super().__init__()
        self.linear = nn.Linear(d, k).double()

    def forward(self, x):
        return torch.sign(self.linear(x.flatten(1)))


def test_norms_of_a_linear_model_are_the_l1_norms_of_its_weight_rows():
    net = linear_net()
    w, b = net[1].weight.detach(), net[1].bias.detach()
    x = torch.rand(50, 1, 7, dtype=torch.float64)
    y = torch.randint(0, 4, (50,))
    out = logit_gradient_norms(net, x, y, batch_size=16)  # several batches, one partial
    z = x.flatten(1) @ w.T + b
    j_star = z.scatter(1, y[:, None], float("-inf")).argmax(1)
    np.testing.assert_array_equal(out["other_class"], j_star.numpy())
    m = z.gather(1, y[:, None]).squeeze(1) - z.gather(1, j_star[:, None]).squeeze(1)
    np.testing.assert_allclose(out["margin_value"], m.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["true_logit"], w[y].abs().sum(1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(out["other_logit"], w[j_star].abs().sum(1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(out["margin"], (w[y] - w[j_star]).abs().sum(1).numpy(), rtol=1e-14)
    assert out["ce_grad_zero_fraction"] == 0.0 and not out["ce_grad_zero"].any()
    s = out["summary"]
    assert s["n"] == 50 and s["median_true_logit"] == pytest.approx(np.median(out["true_logit"]))
    assert s["other_to_true_ratio"] == pytest.approx(np.median(out["other_logit"]) / np.median(out["true_logit"]))


def test_a_step_function_model_has_zero_ce_gradient_everywhere():
    torch.manual_seed(1)
    out = logit_gradient_norms(SignNet(), torch.rand(20, 1, 7, dtype=torch.float64), torch.randint(0, 4, (20,)))
    assert out["ce_grad_zero_fraction"] == 1.0 and out["ce_grad_zero"].all()
    assert (out["true_logit"] == 0).all() and (out["other_logit"] == 0).all()
    assert np.isnan(out["summary"]["other_to_true_ratio"])  # 0 / 0


def test_rounding_model_has_zero_ce_gradient():
    torch.manual_seed(2)
    lin = nn.Linear(7, 3).double()
    net = nn.Sequential(nn.Flatten(), lin)
    net.forward = lambda x: torch.round(lin(x.flatten(1)) * 4)  # noqa: E731 (rounding: a step function)
    out = logit_gradient_norms(net, np.random.default_rng(0).random((9, 1, 7)), np.arange(9) % 3)
    assert out["ce_grad_zero_fraction"] == 1.0


def test_the_model_is_left_as_found():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(7, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.ReLU(), nn.Linear(6, 4))
    net.train()
    net[1].weight.requires_grad_(False)  # a frozen layer stays frozen
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    x, y = torch.rand(32, 1, 7), torch.randint(0, 4, (32,))
    first = logit_gradient_norms(net, x, y)
    assert net.training and all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is None for p in net.parameters())
    for key, value in net.state_dict().items():  # BatchNorm running stats included
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    second = logit_gradient_norms(net, x, y, batch_size=5)  # eval mode: no dropout, per-sample, deterministic
    np.testing.assert_allclose(first["true_logit"], second["true_logit"], rtol=1e-5)
    net.eval()
    logit_gradient_norms(net, x, y)
    assert not net.training


def test_mask_limits_the_norm_to_the_perturbable_entries():
    net = linear_net(4)
    w = net[1].weight.detach()
    x, y = torch.rand(6, 1, 7, dtype=torch.float64), torch.zeros(6, dtype=torch.long)
    mask = torch.ones(6, 1, 7, dtype=torch.float64)
    mask[:, :, 4:] = 0
    out = logit_gradient_norms(net, x, y, mask=mask)
    np.testing.assert_allclose(out["true_logit"], np.full(6, w[0, :4].abs().sum().item()), rtol=1e-14)


def test_bad_input_is_refused():
    net = linear_net()
    with pytest.raises(EcgDataError, match="one label per row"):
        logit_gradient_norms(net, torch.rand(4, 1, 7), torch.zeros(3, dtype=torch.long))
    with pytest.raises(EcgDataError, match="batch_size"):
        logit_gradient_norms(net, torch.rand(4, 1, 7), torch.zeros(4, dtype=torch.long), batch_size=0)
    with pytest.raises(EcgDataError, match="labels outside"):
        logit_gradient_norms(net, torch.rand(4, 1, 7), torch.full((4,), 4))
