"""An ensemble of trained members as deployed: one model that attacks can run end to end.

``combine="mean_logits"`` averages the members' logits (differentiable: white-box attacks go through every
member and every member's Fourier stage). ``combine="vote"`` returns the majority vote as scores: the vote
count of each class plus ``1e-3`` times the mean softmax, which only breaks ties (so the argmax is the vote,
ties going to the more confident class). The vote is piecewise constant, so gradient attacks see almost no
signal through it; the score-based Square attack is what judges it (the evaluation says so).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError

from .forward import logits_of

COMBINES = ("mean_logits", "vote")
TIE_BREAK = 1e-3


class Ensemble(nn.Module):
    def __init__(self, members: Sequence[nn.Module], combine: str = "mean_logits") -> None:
        super().__init__()
        if combine not in COMBINES:
            raise EcgDataError(f"ensemble combine must be one of {list(COMBINES)}, got {combine!r}", key="combine")
        if len(members) < 1:
            raise EcgDataError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.combine = combine
        self.uses_mask = any(getattr(m, "uses_mask", False) for m in members)

    def member_logits(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """[members, n, classes]."""
        return torch.stack([logits_of(m, x, mask) for m in self.members])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.member_logits(x, mask)
        if self.combine == "mean_logits":
            return logits.mean(0)
        votes = nn.functional.one_hot(logits.argmax(2), logits.shape[2]).sum(0).to(logits.dtype)
        return votes + TIE_BREAK * logits.softmax(2).mean(0)
