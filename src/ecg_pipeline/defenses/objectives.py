"""Training objectives, one definition each, behind one call shape.

``objective(model, x, y, mask, epoch) -> (loss, logits, stats)``: ``loss`` a scalar to minimise,
``logits`` of the clean batch (for running accuracy), ``stats`` floats to log per epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.attacks.base import logits_of
from ecg_pipeline.data.errors import EcgDataError

ObjectiveResult = tuple[torch.Tensor, torch.Tensor, dict[str, float]]


class CrossEntropy:
    """Plain cross-entropy on clean inputs (the "CE" baseline of seed 001)."""

    name = "ce"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, epoch: int) -> ObjectiveResult:
        logits = logits_of(model, x, mask)
        return F.cross_entropy(logits, y), logits, {}


OBJECTIVES: dict[str, Callable[..., Callable]] = {"ce": CrossEntropy}


def build_objective(name: str, **params) -> Callable:
    """The objective called ``name`` with its parameters; unknown names or keys are errors."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise EcgDataError(f"unknown training objective {name!r}; expected one of {sorted(OBJECTIVES)}") from None
    try:
        return cls(**params)
    except TypeError as err:
        raise EcgDataError(f"objective {name!r}: {err}") from None
