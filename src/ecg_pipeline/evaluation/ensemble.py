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


def transfer_study(ensemble, data: dict, *, grid: Sequence[float], attacks: dict[str, dict], bounds=None,
                   per_class: int | None = None, seed: int = 0, batch_size: int = 256) -> dict:
    """Seed 004's protocol: each attack crafted on the base model (member 0) at every eps of ``grid`` and
    transferred to every member; a sample counts only where the base model classified it correctly clean.

    ``attacks``: ``{name: {"attack": <registry name>, **its parameters}}`` (seed 004's step of eps / 10 is PGD's
    ``step_ratio: 0.1`` and SAP's default). Returns per attack and eps the
    :func:`member_agreement` of the members and the deployed ensemble's accuracy, on the counted samples.

    A transfer study should craft full-confidence examples: ``confidence: .inf`` in an attack's parameters runs
    every step and keeps the strongest iterate (:mod:`ecg_pipeline.attacks.pgd`), where the default (0) stops at
    the first iterate that fools the base, just across its boundary, which transfers badly. Every attack's
    parameters are checked (registry.check_attack_params) before anything is attacked.
    """
    from ecg_pipeline.attacks.registry import check_attack_params, get_attack
    from ecg_pipeline.data.balance import balanced_subset
    from ecg_pipeline.data.batches import Batches

    for name, spec in attacks.items():
        spec = dict(spec)
        check_attack_params(spec.pop("attack", name), spec, f"ensemble_transfer.attacks.{name}")
    batches = Batches(data)
    index = balanced_subset(batches.y.numpy(), per_class, seed)
    base = ensemble.members[0]
    ensemble.eval()

    def scored(x, y, mask):
        with torch.no_grad():
            logits = ensemble.member_logits(x, mask)
            combined = ensemble(x, mask)
        return correct_by_member(logits, y.numpy()), combined.argmax(1).numpy() == y.numpy()

    parts = [batches.take(index[i:i + batch_size]) for i in range(0, len(index), batch_size)]
    clean = [scored(*p) for p in parts]
    counted = np.concatenate([c[0][0] for c in clean])
    out = {"n": int(len(index)), "counted": int(counted.sum()),
           "clean": {**member_agreement(np.concatenate([c[0] for c in clean], 1), counted),
                     "ensemble_accuracy": float(np.concatenate([c[1] for c in clean])[counted].mean())},
           "attacks": {}}
    for name, spec in attacks.items():
        spec = dict(spec)
        attack = get_attack(spec.pop("attack", name))
        rows = []
        for eps in grid:
            members, deployed = [], []
            for x, y, mask in parts:
                x_adv = attack(base, x, y, float(eps), mask=mask, bounds=bounds, seed=seed, **spec) if eps > 0 else x
                if isinstance(x_adv, tuple):
                    x_adv = x_adv[0]
                m, d = scored(x_adv, y, mask)
                members.append(m)
                deployed.append(d)
            rows.append({"eps": float(eps), **member_agreement(np.concatenate(members, 1), counted),
                         "ensemble_accuracy": float(np.concatenate(deployed)[counted].mean()) if counted.any() else float("nan")})
        out["attacks"][name] = rows
    return out
