"""The MIT-BIH baseline MLP of Ma & Liang (seed 001, section II-D).

Structure, exactly as the paper's code: ``(187-128)-ReLU-(128-128)-ReLU-(128-128)-ReLU-(128-32)-(32-5)``.
There is no activation between the 32-unit layer and the output layer, so the last two linear maps
compose to one linear map of rank <= 32; the split is kept because the paper's regularisers and the
weight-normalisation option act on each layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError


class MLP(nn.Module):
    """Five linear layers on a flattened heartbeat.

    Args:
        input_length: samples per beat (187 for the Kachuee et al. beats).
        n_classes: number of outputs (5 AAMI classes N/S/V/F/Q).

    Input ``[n, 1, input_length]`` (``[n, input_length]`` is accepted too); output logits
    ``[n, n_classes]``. ``features(x)`` is the 32-d input of the final layer, and
    ``head(features(x)) == forward(x)``.
    """

    uses_mask = False

    def __init__(self, input_length: int = 187, n_classes: int = 5) -> None:
        super().__init__()
        if int(input_length) < 1 or int(n_classes) < 1:
            raise EcgDataError(
                f"MLP: input_length={input_length} and n_classes={n_classes} must both be >= 1"
            )
        self.model_config = {"input_length": int(input_length), "n_classes": int(n_classes)}
        self.input_length = int(input_length)
        self.body = nn.Sequential(
            nn.Linear(self.input_length, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 32),
        )
        self.head = nn.Linear(32, int(n_classes))

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1) if x.dim() >= 2 else x
        if x.dim() not in (2, 3) or flat.shape[1] != self.input_length:
            raise EcgDataError(
                f"MLP: input of shape {tuple(x.shape)}; expected [n, 1, {self.input_length}] "
                f"(or [n, {self.input_length}])"
            )
        return flat

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 32-d output of the 128->32 layer (no activation), the final layer's input."""
        return self.body(self._flatten(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
