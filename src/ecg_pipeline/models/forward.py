"""The one forward pass every caller uses (attacks, training, evaluation): mask-aware models get the mask."""

from __future__ import annotations

import torch
from torch import nn


def logits_of(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Forward pass; mask-aware models (``model.uses_mask``, e.g. the CPSC ResNet) also get the mask."""
    if mask is not None and getattr(model, "uses_mask", False):
        return model(x, mask)
    return model(x)


def features_of(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The input of the model's final linear layer (``model.head``); mask-aware models also get the mask."""
    if mask is not None and getattr(model, "uses_mask", False):
        return model.features(x, mask)
    return model.features(x)
