"""Ensemble metrics of Wiedeman & Wang (seed 004), section 2 and Figs. 3-6.

- average member accuracy;
- ``P(at least k of M members correct)`` for ``k = 1 .. M`` (Fig. 4 reads ``k = 1``: "at least one correct arm");
- the pairwise linear correlation ``R^2`` of the members' features on the training set (Fig. 6), eq. (4) with the
  full feature set as regressor (no projection).
Under the paper's protocol a sample counts only where the base model (member 0) classified it correctly clean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .correlation import r_squared


def correct_by_member(member_logits: torch.Tensor | np.ndarray, y) -> np.ndarray:
    """[members, n] booleans: member m's prediction of sample i is its label."""
    predictions = np.asarray(torch.as_tensor(member_logits).argmax(-1))
    return predictions == np.asarray(y)[None, :]


def member_agreement(correct: np.ndarray, counted: np.ndarray | None = None) -> dict:
    """Average member accuracy and ``P(>= k correct)`` over the counted samples (all when ``counted`` is None).

    Returns ``{"n": counted samples, "member_accuracy": [per member], "mean_member_accuracy": float,
    "p_at_least": {k: float}}``; NaN rates when nothing is counted.
    """
    correct = np.asarray(correct, dtype=bool)
    if counted is not None:
        correct = correct[:, np.asarray(counted, dtype=bool)]
    members, n = correct.shape
    per_member = correct.mean(1) if n else np.full(members, np.nan)
    hits = correct.sum(0)
    p_at_least = {k: (float((hits >= k).mean()) if n else float("nan")) for k in range(1, members + 1)}
    return {"n": int(n), "member_accuracy": [float(a) for a in per_member],
            "mean_member_accuracy": float(per_member.mean()), "p_at_least": p_at_least}


def feature_r2_matrix(features: Sequence[torch.Tensor | np.ndarray]) -> np.ndarray:
    """``R2[i, j]``: the share of member j's feature variance linear in member i's features (eq. 4), 1 on the diagonal."""
    feats = [torch.as_tensor(np.asarray(f), dtype=torch.float64) for f in features]
    m = len(feats)
    out = np.eye(m)
    for i in range(m):
        for j in range(m):
            if i != j:
                out[i, j] = float(r_squared(feats[i], feats[j]))
    return out
