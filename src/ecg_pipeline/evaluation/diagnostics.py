"""Gradient-masking diagnostics (Carlini et al. 2019, "On Evaluating Adversarial Robustness", sec. 5;
AutoAttack's automatic flags, Croce & Hein 2020): signs that a robustness number measures the weakness
of the attack rather than the strength of the model.

Each flag is a dict ``{"flag", "raised", "value", "threshold", "detail", "casts_doubt_on"}`` stored in
the evaluation's metrics JSON and shown in the report beside the number it casts doubt on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecg_pipeline.attacks.registry import GRADIENT_FREE

#: Thresholds (fractions of beats, i.e. points of accuracy / 100).
GRADIENT_FREE_MARGIN = 0.02     # Square breaks > 2 points more than the white-box attacks
LARGEST_EPS_ACCURACY = 0.05     # accuracy at the largest eps should be near 0 on [0, 1] beats
MONOTONE_TOLERANCE = 0.01       # accuracy may not rise with eps by more than 1 point
EFFORT_TOLERANCE = 0.01         # doubling steps and restarts may not move the worst case by more than 1 point
ZERO_GRADIENT_FRACTION = 0.05   # at most 5 % of beats with an all-zero input gradient
TRANSFER_MARGIN = 0.01          # a transfer attack may not beat the white-box attacks by more than 1 point


def _flag(name: str, raised: bool, value, threshold, detail: str, casts_doubt_on: str = "acc_robust_balanced") -> dict:
    return {"flag": name, "raised": bool(raised), "value": value, "threshold": threshold, "detail": detail,
            "casts_doubt_on": casts_doubt_on}


def curve_flags(grid: Sequence[float], accuracy: Sequence[float]) -> list[dict]:
    """Flags read off one robustness curve (accuracy vs eps): not monotone; not near 0 at the largest eps."""
    grid, accuracy = np.asarray(grid, dtype=float), np.asarray(accuracy, dtype=float)
    order = np.argsort(grid)
    rises = np.diff(accuracy[order])
    worst_rise = float(rises.max()) if rises.size else 0.0
    at_largest = float(accuracy[order][-1])
    return [
        _flag("accuracy_not_monotone", worst_rise > MONOTONE_TOLERANCE, worst_rise, MONOTONE_TOLERANCE,
              f"accuracy rises by {worst_rise:.3f} between consecutive eps (a stronger attack should never help)"),
        _flag("accuracy_not_near_zero_at_largest_eps", at_largest > LARGEST_EPS_ACCURACY, at_largest,
              LARGEST_EPS_ACCURACY, f"accuracy {at_largest:.3f} at eps {grid[order][-1]:g}, where an unbounded-looking "
              "perturbation should break nearly every beat"),
    ]


def gradient_free_flag(n: int, broken_by_gradient_free: Sequence[int], grid: Sequence[float]) -> dict:
    """Square (no gradients) breaking beats that APGD-CE and APGD-T both left standing, per eps."""
    fractions = np.asarray(broken_by_gradient_free, dtype=float) / max(n, 1)
    worst = int(np.argmax(fractions)) if fractions.size else 0
    value = float(fractions[worst]) if fractions.size else 0.0
    return _flag("gradient_free_beats_white_box", value > GRADIENT_FREE_MARGIN, value, GRADIENT_FREE_MARGIN,
                 f"Square broke {value:.3f} of the beats the white-box attacks could not, at eps {grid[worst]:g}"
                 if fractions.size else "no eps evaluated")


def effort_flag(accuracy: float, accuracy_more_effort: float, eps: float) -> dict:
    """Doubling steps and restarts should not change the worst case: if it does, the attack had not converged."""
    drop = float(accuracy - accuracy_more_effort)
    return _flag("more_effort_moves_worst_case", drop > EFFORT_TOLERANCE, drop, EFFORT_TOLERANCE,
                 f"at eps {eps:g}: {accuracy:.3f} with the configured effort, {accuracy_more_effort:.3f} with steps "
                 "and restarts doubled")


def escalation_flag(record: dict) -> dict:
    """With escalation (:mod:`.escalation`), the effort check is its verdict: raised only when its last round
    still moved the accuracy by the tolerance or more (it stopped at ``max_doublings``, not converged)."""
    from .escalation import in_words

    return _flag("more_effort_moves_worst_case", not record["converged"], record["last_move"], record["tolerance"],
                 f"escalation: {in_words(record)}")


def zero_gradient_flag(fraction: float) -> dict:
    return _flag("zero_input_gradients", fraction > ZERO_GRADIENT_FRACTION, float(fraction), ZERO_GRADIENT_FRACTION,
                 f"{fraction:.3f} of the beats have an all-zero input gradient of the loss (shattered or saturated "
                 "gradients make gradient attacks blind)")


def transfer_flag(grid: Sequence[float], white_box: Sequence[float], transfer: Sequence[float], source: str) -> dict:
    """A black-box transfer attack from another model should never beat attacking the model itself."""
    gap = np.asarray(white_box, dtype=float) - np.asarray(transfer, dtype=float)
    worst = int(np.argmax(gap)) if gap.size else 0
    value = float(gap[worst]) if gap.size else 0.0
    return _flag("transfer_beats_white_box", value > TRANSFER_MARGIN, value, TRANSFER_MARGIN,
                 f"APGD-CE examples crafted on {source} leave {value:.3f} less accuracy than the white-box ensemble "
                 f"at eps {grid[worst]:g}" if gap.size else "no eps evaluated")


def raised(flags: Sequence[dict]) -> list[str]:
    return [f["flag"] for f in flags if f["raised"]]


def white_box_beaten_by_gradient_free(outcomes: dict, attack_of: dict[str, str]) -> dict[str, dict]:
    """White-box evaluations of one model that a gradient-free one beats by more than
    :data:`GRADIENT_FREE_MARGIN` at some eps, compared on the beats both evaluated.

    ``outcomes``: evaluation name -> :class:`~.worst_case.Outcomes`; ``attack_of``: evaluation name -> its
    attack function. Returns {white-box evaluation: {"gap", "eps", "by"}} for each doubted one: its
    numbers measure the attack's weakness (gradient masking), not the model's robustness.
    """
    free = [n for n in outcomes if attack_of.get(n) in GRADIENT_FREE]
    doubted = {}
    for name, out in outcomes.items():
        if name in free or attack_of.get(name) in ("autoattack", "white_noise"):
            continue
        for other in free:
            ref = outcomes[other]
            shared, mine, theirs = np.intersect1d(out.subset, ref.subset, return_indices=True)
            if shared.size == 0:
                continue
            for g, eps in enumerate(out.grid):
                k = np.flatnonzero(np.isclose(ref.grid, eps))
                if eps == 0 or not k.size:
                    continue
                y = out.y[mine]
                gap = float(np.mean(out.pred[g, mine] == y) - np.mean(ref.pred[k[0], theirs] == y))
                if gap > GRADIENT_FREE_MARGIN and gap > doubted.get(name, {}).get("gap", 0):
                    doubted[name] = {"gap": gap, "eps": float(eps), "by": other}
    return doubted
