"""Linear correlation of two feature sets, Wiedeman & Wang (seed 004) eq. (4): the measure that the
decorrelation objective (defenses.decorrelation) trains down and that the ensemble report (Fig. 6) shows."""

from __future__ import annotations

import torch

STABILITY = 1e-5  # the paper's epsilon


def residual_sums(regressor: torch.Tensor, regressand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(SS_res, SS_tot)`` of the least-squares fit of ``regressand`` [N, D2] on ``[regressor, 1]`` [N, D1 + 1]
    (seed 004 eq. 4). ``SS_tot`` is centred, as in the authors' code (eq. 4 prints ``||Z_2||^2``, which a bias
    column makes the wrong reference). The pseudo-inverse, as in that code, keeps rank-deficient features
    (dead ReLUs) well defined."""
    design = torch.cat([regressor, torch.ones_like(regressor[:, :1])], dim=1)
    fitted = design @ (torch.linalg.pinv(design) @ regressand)
    ss_res = (regressand - fitted).pow(2).sum()
    ss_tot = (regressand - regressand.mean(0, keepdim=True)).pow(2).sum()
    return ss_res, ss_tot


def r_squared(regressor: torch.Tensor, regressand: torch.Tensor) -> torch.Tensor:
    """``R^2 = 1 - SS_res / SS_tot`` of eq. (4): the share of ``regressand``'s variance linear in ``regressor``."""
    ss_res, ss_tot = residual_sums(regressor, regressand)
    return 1 - ss_res / (ss_tot + STABILITY)
