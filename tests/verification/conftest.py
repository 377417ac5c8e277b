"""Tiny random networks in the verifier's own op form (``verification.network``): small enough to sample densely,
attack, and (the MLP) enumerate exactly."""

from __future__ import annotations

import pytest
import torch

from ecg_pipeline.verification.network import DTYPE, AddSaved, Conv, Dense, Flatten, MaxPool, Network, ReLU, Save


def tiny_mlp(sizes=(6, 8, 8, 3), seed: int = 0) -> Network:
    """Dense-ReLU-...-Dense with Gaussian weights (scaled so that some ReLUs are unstable on a 0.1 box)."""
    gen = torch.Generator().manual_seed(seed)
    ops = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        ops.append(Dense(torch.randn(n_out, n_in, generator=gen, dtype=DTYPE) / n_in ** 0.5,
                         0.3 * torch.randn(n_out, generator=gen, dtype=DTYPE)))
        if i < len(sizes) - 2:
            ops.append(ReLU())
    return Network("tiny_mlp", tuple(ops), (sizes[0],), sizes[-1])


def tiny_cnn(seed: int = 0, channels: int = 3, length: int = 16, n_classes: int = 3) -> Network:
    """Conv stem, one residual block ``relu(conv(relu(conv(x))) + x)``, MaxPool(5, 2), Flatten, Dense-ReLU-Dense:
    the Kachuee CNN's layer kinds at toy size."""
    gen = torch.Generator().manual_seed(seed)

    def conv(c_in, c_out):
        return Conv(torch.randn(c_out, c_in, 5, generator=gen, dtype=DTYPE) / (5 * c_in) ** 0.5,
                    0.1 * torch.randn(c_out, generator=gen, dtype=DTYPE), 2)

    pooled = (length - 5) // 2 + 1
    ops = (conv(1, channels), Save(), conv(channels, channels), ReLU(), conv(channels, channels), AddSaved(), ReLU(),
           MaxPool(5, 2), Flatten(), Dense(torch.randn(8, channels * pooled, generator=gen, dtype=DTYPE) / 3,
                                           0.1 * torch.randn(8, generator=gen, dtype=DTYPE)),
           ReLU(), Dense(torch.randn(n_classes, 8, generator=gen, dtype=DTYPE) / 3, torch.zeros(n_classes, dtype=DTYPE)))
    return Network("tiny_cnn", ops, (1, length), n_classes)


@pytest.fixture(scope="session")
def tiny_mlps():
    """``tiny_mlp(sizes, seed)`` as a fixture."""
    return tiny_mlp


@pytest.fixture(scope="session")
def tiny_cnns():
    """``tiny_cnn(seed, ...)`` as a fixture."""
    return tiny_cnn
