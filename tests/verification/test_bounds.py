"""IBP, CROWN and alpha-CROWN on tiny random networks: sound (every sampled and every attacked point's margins lie
above the lower bounds), ordered (IBP <= CROWN <= alpha-CROWN), and CROWN equal to the per-beat reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.verification.bounds import (
    alpha_crown_margins, crown_bounds, crown_margins, ibp_margins, input_box, margin_spec)
from ecg_pipeline.verification.network import forward
from ecg_pipeline.verification.reference import crown_margins_one

NETWORKS = {"mlp-6-8-8-3": lambda mlp, cnn: mlp(), "mlp-4-10-10-10-5": lambda mlp, cnn: mlp((4, 10, 10, 10, 5), seed=3),
            "conv-residual-maxpool": lambda mlp, cnn: cnn()}
EPS = 0.1


def _beats(network, n=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *network.input_shape), generator=gen, dtype=torch.float64)
    y = forward(network, x).argmax(1)
    return x, y


def _margins(network, points, spec):
    """``spec @ logits`` for points ``[m, B, *shape]``: ``[m, B, K-1]``."""
    m, batch = points.shape[:2]
    logits = forward(network, points.reshape(m * batch, *network.input_shape)).reshape(m, batch, -1)
    return torch.einsum("bsk,mbk->mbs", spec, logits)


def _attacked(network, lower, upper, spec, steps=60):
    """Signed-gradient descent on each margin row separately, from random starts, projected into the box."""
    rows = spec.shape[1]
    gen = torch.Generator().manual_seed(2)
    x = (lower + (upper - lower) * torch.rand(lower.shape, generator=gen, dtype=torch.float64)).unsqueeze(0)
    x = x.repeat(rows, *([1] * lower.dim())).requires_grad_(True)   # [rows, B, *shape]
    step = (upper - lower).max() / 10
    for _ in range(steps):
        own = torch.stack([_margins(network, x[r : r + 1], spec)[0, :, r] for r in range(rows)])
        (grad,) = torch.autograd.grad(own.sum(), x)
        with torch.no_grad():
            x = torch.minimum(torch.maximum(x - step * grad.sign(), lower), upper).requires_grad_(True)
    return x.detach()


@pytest.mark.parametrize("which", list(NETWORKS))
def test_bounds_contain_sampled_and_attacked_margins(which, tiny_mlps, tiny_cnns):
    network = NETWORKS[which](tiny_mlps, tiny_cnns)
    x, y = _beats(network)
    lower, upper = input_box(x, EPS, (0.0, 1.0), network.input_shape)
    spec = margin_spec(y, network.n_classes)
    ibp = ibp_margins(network, lower, upper, spec)
    crown = crown_margins(network, lower, upper, spec)
    alpha = alpha_crown_margins(network, lower, upper, spec, steps=30)
    gen = torch.Generator().manual_seed(0)
    sampled = lower + (upper - lower) * torch.rand((4000, *lower.shape), generator=gen, dtype=torch.float64)
    corners = torch.where(torch.rand((500, *lower.shape), generator=gen) < 0.5, lower, upper)
    seen = _margins(network, torch.cat([sampled, corners]), spec).min(0).values
    attacked = _attacked(network, lower, upper, spec)
    for r in range(spec.shape[1]):
        seen[:, r] = torch.minimum(seen[:, r], _margins(network, attacked[r : r + 1], spec)[0, :, r])
    for name, bound in (("ibp", ibp), ("crown", crown), ("alpha_crown", alpha)):
        assert (bound <= seen).all(), f"{name} lower bound above a reached margin by {(bound - seen).max():.3g}"
    assert (crown >= ibp - 1e-9).all()
    assert (alpha >= crown).all()
    assert (alpha - crown).max() > 0 or (crown == seen).all()   # the slopes moved the bound somewhere
    assert (crown > ibp + 1e-6).any()                            # CROWN is not just IBP here
    # the attack itself is worth having: it reaches below the sampled minimum on some row
    assert (seen < _margins(network, sampled, spec).min(0).values - 1e-9).any()


def test_intermediate_bounds_contain_sampled_preactivations(tiny_cnns):
    network = tiny_cnns(seed=4)
    x, _ = _beats(network, n=3)
    lower, upper = input_box(x, EPS, (0.0, 1.0), network.input_shape)
    bounds = crown_bounds(network, lower, upper)
    gen = torch.Generator().manual_seed(5)
    points = lower + (upper - lower) * torch.rand((3000, *lower.shape), generator=gen, dtype=torch.float64)
    h = points.reshape(-1, *network.input_shape)
    from ecg_pipeline.verification.network import activations
    for k, h in enumerate(activations(network, h)):   # h: the activation before op k
        if k in bounds.node:
            low, up = bounds.node[k]
            values = h.reshape(3000, *low.shape)
            assert (values >= low - 1e-12).all() and (values <= up + 1e-12).all(), f"op {k}"
    assert len(bounds.node) == 4   # the block's two ReLUs and its MaxPool, the hidden ReLU


def test_batched_crown_matches_the_per_beat_reference(tiny_mlps):
    network = tiny_mlps((6, 8, 8, 8, 3), seed=7)
    x, y = _beats(network, n=20)
    lower, upper = input_box(x, 0.05, (0.0, 1.0), network.input_shape)
    spec = margin_spec(y, network.n_classes)
    batched = crown_margins(network, lower, upper, spec).numpy()
    reference = np.stack([crown_margins_one(network, lower[i].numpy(), upper[i].numpy(), spec[i].numpy())
                          for i in range(20)])
    # the batched bound may only be tighter (IBP intersection) and is widened by ~1e-9 relative for rounding
    assert (batched >= reference - 1e-7).all()
    same = np.abs(batched - reference) < 1e-7
    assert same.mean() > 0.5, f"only {same.mean():.0%} of the margins agree with the reference"


def test_margin_spec_rows_and_box_clipping():
    spec = margin_spec(torch.tensor([2, 0]), 4)
    assert spec[0].tolist() == [[-1, 0, 1, 0], [0, -1, 1, 0], [0, 0, 1, -1]]
    assert spec[1].tolist() == [[1, -1, 0, 0], [1, 0, -1, 0], [1, 0, 0, -1]]
    lower, upper = input_box(torch.tensor([[0.005, 0.5, 0.999]], dtype=torch.float64), 0.01, (0.0, 1.0), (3,))
    np.testing.assert_allclose(lower.numpy(), [[0.0, 0.49, 0.989]], atol=1e-15)
    np.testing.assert_allclose(upper.numpy(), [[0.015, 0.51, 1.0]], atol=1e-15)
