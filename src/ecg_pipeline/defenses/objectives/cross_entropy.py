"""Plain cross-entropy, the "CE" baseline of seed 001."""

from __future__ import annotations

import torch.nn.functional as F

from ecg_pipeline.models import logits_of

from ..objective_base import Objective, ObjectiveResult


class CrossEntropy(Objective):
    """Plain cross-entropy on clean inputs: the "CE" baseline of seed 001, which gives it no equation of its own
    (it is the clean half of eq. 10)."""

    name = "ce"

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        logits = logits_of(model, x, mask)
        return F.cross_entropy(logits, y), logits, {}
