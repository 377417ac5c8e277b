"""Shared pieces of the defenses' tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecg_pipeline.models.mlp import MLP


@pytest.fixture
def hand_net():
    """A builder of the hand-worked 2-2-2 ReLU net of the TRADES and certified-training tests."""
    return build_hand_net


def build_hand_net() -> MLP:
    """``z = W2 relu(W1 x) + b2``, W1 = [[1, 1], [1, -1]], W2 = [[2, -1], [1, 1]], b2 = [0, 0.5], as the registry's MLP
    class (its body and head replaced), so every code path that reads an MLP reads it."""
    model = MLP(input_length=2, n_classes=2)
    model.body = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    model.head = nn.Linear(2, 2)
    with torch.no_grad():
        model.body[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
        model.body[0].bias.zero_()
        model.head.weight.copy_(torch.tensor([[2.0, -1.0], [1.0, 1.0]]))
        model.head.bias.copy_(torch.tensor([0.0, 0.5]))
    return model


