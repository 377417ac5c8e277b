"""Seed 001's weight-row renormalisation, as the authors' code trains (reference notes, "Models"): every weight row
(one output unit of a linear layer, one filter of a convolution) rescaled to unit L2 norm at the start and after
every batch, and the rows that received no gradient during an epoch re-drawn. The paper does not state it; it is a
declared training option (``renorm_rows``), off by default, so that its effect can be measured against the
method as written.
"""

from __future__ import annotations

import torch
from torch import nn

#: The layers whose weight rows are renormalised.
ROW_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
#: Offsets the re-draw generator of an epoch from the run's seed (its own stream: the batch order is untouched).
REDRAW_STREAM = 7_919


def unit_rows_(weight: torch.Tensor) -> None:
    """Rescale each row of ``weight`` (its first dimension) to unit L2 norm, in place (a zero row stays zero)."""
    norms = weight.flatten(1).norm(dim=1).clamp_min(torch.finfo(weight.dtype).tiny)
    weight.div_(norms.view(-1, *([1] * (weight.dim() - 1))))


class RowRenorm:
    """The option on one model: :meth:`start` once, :meth:`after_step` after each optimiser step (the weights'
    gradients still in place), :meth:`end_epoch` at each epoch's end. Which rows had a gradient this epoch is the
    ``seen`` list, kept with the epoch's running sums (a mid-epoch checkpoint resumes it); the re-draw of an epoch
    comes from a generator seeded by ``(seed, epoch)``, so a resumed run draws the same rows."""

    def __init__(self, model: nn.Module, seed: int) -> None:
        self.weights = [m.weight for m in model.modules() if isinstance(m, ROW_LAYERS)]
        self.seed = int(seed)

    @torch.no_grad()
    def start(self) -> None:
        for weight in self.weights:
            unit_rows_(weight)

    def fresh_seen(self) -> list[torch.Tensor]:
        return [torch.zeros(w.shape[0], dtype=torch.bool, device=w.device) for w in self.weights]

    @torch.no_grad()
    def after_step(self, seen: list[torch.Tensor]) -> None:
        """Mark the rows that received a gradient in this step, then rescale every row to unit norm."""
        for weight, rows in zip(self.weights, seen):
            if weight.grad is not None:
                rows |= weight.grad.flatten(1).abs().sum(1) > 0
            unit_rows_(weight)

    @torch.no_grad()
    def end_epoch(self, epoch: int, seen: list[torch.Tensor]) -> int:
        """Re-draw (a uniform direction, unit norm) every row no step of ``epoch`` gave a gradient; their count."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + REDRAW_STREAM + int(epoch))
        redrawn = 0
        for weight, rows in zip(self.weights, seen):
            dead = (~rows).nonzero().flatten().cpu()
            if dead.numel():
                fresh = torch.randn((dead.numel(), *weight.shape[1:]), generator=generator, dtype=weight.dtype)
                unit_rows_(fresh)
                weight[dead.to(weight.device)] = fresh.to(weight.device)
                redrawn += int(dead.numel())
        return redrawn
