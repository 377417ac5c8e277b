"""Feature decorrelation of ensemble members, Wiedeman & Wang (seed 004), section 5.3, eqs. (4)-(6).

A member is trained against the features of the members trained before it, which are computed once on
the training set and held fixed (the paper's sequential scheme). Per batch and per previous member:

- with probability 0.5 the current and the previous features swap roles (regressor / regressand);
- the regressor is projected to ``r`` dimensions by a fresh Gaussian matrix ``R ~ N(0, 1/sqrt(D))``
  (paper r = 50, authors' code 32), and a bias column is appended;
- least squares gives ``SS_res`` and ``SS_tot`` (eq. 4, in evaluation.correlation, shared with the report);
- ``L_R = log(SS_tot + 1e-5) - log(SS_res + 1e-5)`` (eq. 4's loss form), minimised: the current member
  makes its features linearly unpredictable from (and not predictive of) the earlier members'.

eq. (5) averages ``L_R*`` over the previous members; eq. (6) adds ``lambda * L_cor`` (0.2) to the CE.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.correlation import STABILITY, residual_sums
from ecg_pipeline.models import features_of


def check_projection(projection_dim: int | None, feature_dim: int, batch_size: int) -> None:
    """A least-squares fit needs ``r <= D`` (a projection, not an expansion) and more rows than columns
    (``batch > r + 1``, the bias column included); say which one fails."""
    columns = (feature_dim if projection_dim is None else projection_dim) + 1
    if projection_dim is not None and not (isinstance(projection_dim, int) and 0 < projection_dim <= feature_dim):
        raise EcgDataError(f"decorrelation projection_dim {projection_dim!r}: expected an integer in 1..{feature_dim} "
                           f"(the features' dimension; a projection cannot add dimensions)", key="projection_dim")
    if batch_size <= columns:
        raise EcgDataError(f"decorrelation needs more samples per batch than regressor columns for least squares: "
                           f"batch {batch_size} <= {columns} ({columns - 1} projected features + a bias column); "
                           f"use a larger batch_size or a smaller projection_dim", key="projection_dim")


def pairwise_loss(current: torch.Tensor, previous: torch.Tensor, projection_dim: int | None,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_R*`` of section 5.3 (random roles, random projection of the regressor) and the batch's R^2."""
    swap = torch.rand((), generator=generator).item() < 0.5
    regressor, regressand = (previous, current) if swap else (current, previous)
    if projection_dim is not None:
        d = regressor.shape[1]
        # The projection is drawn on the CPU generator, so a seed gives the same draws on any device.
        projection = torch.randn(d, projection_dim, generator=generator) / d ** 0.5
        regressor = regressor @ projection.to(regressor.device, regressor.dtype)
    ss_res, ss_tot = residual_sums(regressor, regressand)
    loss = torch.log(ss_tot + STABILITY) - torch.log(ss_res + STABILITY)
    return loss, 1 - ss_res.detach() / (ss_tot.detach() + STABILITY)


def decorrelation_loss(current: torch.Tensor, previous: torch.Tensor, projection_dim: int | None,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_cor`` of seed 004 eq. (5): ``L_R*`` averaged over the previous members.

    Args:
        current: the training member's features of the batch, [N, D] (with the graph).
        previous: the earlier members' cached features of the same samples, [M, N, D] (held fixed).
        projection_dim: r, or None for no projection.
        generator: draws the roles and projections (seeded by the trainer).

    Returns:
        ``(loss, mean R^2)``; the loss is 0 with no previous member (the ensemble's first, base, model).
    """
    if previous.shape[0] == 0:
        zero = current.sum() * 0
        return zero, zero.detach()
    losses, r2 = zip(*(pairwise_loss(current, prev.detach(), projection_dim, generator) for prev in previous))
    return torch.stack(losses).mean(), torch.stack(r2).mean()


def training_features(model: nn.Module, train_set: dict, *, batch_size: int = 1024) -> np.ndarray:
    """A trained member's features on every training sample, in order, in eval mode: ``[n, D]`` float32, the
    fixed reference that later members decorrelate from (computed once: section 5.3's sequential scheme)."""
    data = Batches(train_set)
    model.eval()
    out = []
    with torch.no_grad():
        for x, _, mask in data.epoch(batch_size, shuffle=False):
            out.append(features_of(model, x, mask).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
