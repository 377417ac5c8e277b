"""The per-sample worst case over every attack evaluated for a model: the robustness number to read.

A beat is robust at eps only if it is classified correctly clean AND under every attack evaluated on it
at that eps. An adversarial example found at a smaller eps' <= eps also lies in the eps-ball, so a
break at eps' counts at eps too: the worst-case curve is monotone by construction and never above any
single attack's curve, nor above clean accuracy. The minimum over attacks of each attack's ACC_robust
is only an upper bound of this number (different beats break under different attacks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ecg_pipeline.errors import EcgDataError

from .metrics import classification_metrics, robust_score


@dataclass(frozen=True)
class Outcomes:
    """One attack's per-beat outcome on one split (the ``subset``/``pred``/``grid`` of its stored examples)."""

    grid: np.ndarray          # eps values
    subset: np.ndarray        # indices into the split
    y: np.ndarray             # true labels of ``subset``
    pred: np.ndarray          # [len(grid), len(subset)] predictions, clean-wrong beats kept wrong

    @classmethod
    def from_examples(cls, examples: Mapping[str, np.ndarray], name: str = "evaluation") -> Outcomes:
        missing = [k for k in ("grid", "subset", "subset_y", "pred") if k not in examples]
        if missing:
            raise EcgDataError(f"{name}: stored examples lack {missing} (evaluated before per-beat outcomes were "
                               "stored): re-run that evaluation")
        return cls(np.asarray(examples["grid"], dtype=np.float64), np.asarray(examples["subset"]),
                   np.asarray(examples["subset_y"]), np.asarray(examples["pred"]))


def worst_case(outcomes: Mapping[str, Outcomes], grid: Sequence[float], classes: Sequence[str], *,
               population: str | None = None, eps_max: float | None = None) -> dict:
    """The worst-case curve over ``outcomes`` (attack name -> Outcomes, eps grids) on ``grid``.

    ``population``: the attack whose evaluated beats are scored (default: the one covering the most
    beats); attacks evaluated on other beats contribute where they overlap. Returns the curve (per eps:
    n, accuracy, balanced accuracy, macro F1, per-class metrics, and which attack broke how many beats
    first), ACC_robust / F1_robust of seed 001 eq. (8) up to ``eps_max`` when given, and the per-beat
    worst-case predictions.
    """
    if not outcomes:
        raise EcgDataError("worst case: no attack outcomes to combine")
    population = population or max(outcomes, key=lambda a: outcomes[a].subset.size)
    beats, y = outcomes[population].subset, outcomes[population].y
    position = {int(b): i for i, b in enumerate(beats)}
    clean_wrong = np.zeros(beats.size, dtype=bool)
    grid = [float(e) for e in grid]
    # worst[g, i]: the prediction beat i is counted with at grid[g] (the true label while unbroken).
    worst = np.broadcast_to(y, (len(grid), y.size)).copy()
    first_breaker = np.full((len(grid), y.size), -1, dtype=np.int64)
    names = list(outcomes)
    for a, name in enumerate(names):
        out = outcomes[name]
        rows = np.array([position.get(int(b), -1) for b in out.subset])
        here = rows >= 0
        if not here.any():
            continue
        cols = rows[here]
        if not np.array_equal(out.y[here], y[cols]):
            raise EcgDataError(f"worst case: {name} and {population} disagree on the labels of the same beats "
                               "(evaluated on different versions of the split?)")
        zero = np.flatnonzero(np.isclose(out.grid, 0.0))
        if zero.size:
            clean_wrong[cols] |= out.pred[zero[0], here] != y[cols]
        for g, eps in enumerate(grid):
            for k in np.flatnonzero(out.grid <= eps + 1e-12):
                pred = out.pred[k, here]
                broken = (pred != y[cols]) & (worst[g, cols] == y[cols])
                worst[g, cols[broken]] = pred[broken]
                first_breaker[g, cols[broken]] = np.where(first_breaker[g, cols[broken]] < 0, a,
                                                          first_breaker[g, cols[broken]])
    rows_out = []
    for g, eps in enumerate(grid):
        m = classification_metrics(y, worst[g], len(classes), classes)
        counts = np.bincount(first_breaker[g][first_breaker[g] >= 0], minlength=len(names))
        rows_out.append({"eps": eps, **{k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")},
                         "per_class": m["per_class"], "broken_first_by": {n: int(c) for n, c in zip(names, counts) if c}})
    result = {"population": population, "attacks": names, "n": int(beats.size), "grid": grid, "curve": rows_out,
              "clean_wrong": int(clean_wrong.sum())}
    if eps_max is not None:
        for metric, label in (("balanced_accuracy", "acc_robust_balanced"), ("accuracy", "acc_robust"),
                              ("macro_f1", "f1_robust")):
            result[label] = robust_score(grid, [r[metric] for r in rows_out], eps_max)["robust"]
        result["eps_max"] = eps_max
    return result
