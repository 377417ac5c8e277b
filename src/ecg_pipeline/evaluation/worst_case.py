"""The per-sample worst case over every attack evaluated for a model: the robustness number to read.

A beat is robust at eps only if it is classified correctly clean AND under every attack evaluated on it
at that eps. An adversarial example found at a smaller eps' <= eps also lies in the eps-ball, so a
break at eps' counts at eps too: the worst-case curve is monotone by construction and never above any
single attack's curve, nor above clean accuracy. The minimum over attacks of each attack's ACC_robust
is only an upper bound of this number (different beats break under different attacks), and only when
both are scored on the same beats: attacks evaluated on other beat subsets (e.g. the costly gradient-free
ones on fewer beats per class) are compared on the beats every one of them scored (:func:`common_beats`,
:func:`min_over_attacks`), where the bound holds by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ecg_pipeline.errors import EcgDataError

from .intervals import Bootstrap, robustness_intervals
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


def common_beats(outcomes: Mapping[str, Outcomes]) -> np.ndarray:
    """The beats (indices into the split) that every attack in ``outcomes`` scored, sorted."""
    subsets = [np.asarray(out.subset) for out in outcomes.values()]
    if not subsets:
        return np.zeros(0, dtype=np.int64)
    common = subsets[0]
    for subset in subsets[1:]:
        common = np.intersect1d(common, subset)
    return np.sort(common)


def min_over_attacks(outcomes: Mapping[str, Outcomes], grid: Sequence[float], classes: Sequence[str], *,
                     eps_max: float, bootstrap: Bootstrap | None = None) -> dict | None:
    """The worst case over ``outcomes`` and each attack's own ACC_robust, all on the beats every attack scored
    and on one ``grid`` (a break at a smaller eps counted at larger ones, as the worst case counts it): each
    attack's number is then >= the worst case, never below it. None when no beat is common to all."""
    beats = common_beats(outcomes)
    if beats.size == 0:
        return None
    combined = worst_case(outcomes, grid, classes, beats=beats, eps_max=eps_max, bootstrap=bootstrap)
    own = {name: worst_case({name: out}, grid, classes, beats=beats, eps_max=eps_max)["acc_robust_balanced"]
           for name, out in outcomes.items()}
    strongest = min(own, key=own.get)
    return {"n": int(beats.size), "per_class": {str(c): int(k) for c, k in zip(*np.unique(
                combined["y"], return_counts=True))},
            "worst_case_acc_robust": combined["acc_robust_balanced"], "by_attack": own, "min": own[strongest],
            "strongest": strongest, "intervals": combined.get("intervals")}


def worst_case(outcomes: Mapping[str, Outcomes], grid: Sequence[float], classes: Sequence[str], *,
               population: str | None = None, eps_max: float | None = None, beats: np.ndarray | None = None,
               bootstrap: Bootstrap | None = None, per_beat: bool = False) -> dict:
    """The worst-case curve over ``outcomes`` (attack name -> Outcomes, eps grids) on ``grid``.

    ``population``: the attack whose evaluated beats are scored (default: the one covering the most
    beats); attacks evaluated on other beats contribute where they overlap. Returns the curve (per eps:
    n, accuracy, balanced accuracy, macro F1, per-class metrics, and which attack broke how many beats
    first), ACC_robust / F1_robust of seed 001 eq. (8) up to ``eps_max`` when given, the scored beats'
    labels (``y``) and how many beats each attack scored of them (``coverage``). ``beats``: score only
    these beats of the population (e.g. :func:`common_beats`). ``bootstrap``: add ``intervals`` (stratified
    bootstrap, :mod:`.intervals`) of the class-balanced accuracy per eps and of ACC_robust.
    """
    if not outcomes:
        raise EcgDataError("worst case: no attack outcomes to combine")
    population = population or max(outcomes, key=lambda a: outcomes[a].subset.size)
    scored = np.isin(outcomes[population].subset, beats) if beats is not None else slice(None)
    beats, y = outcomes[population].subset[scored], outcomes[population].y[scored]
    if beats.size == 0:
        raise EcgDataError(f"worst case: none of the requested beats is among {population}'s")
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
    coverage = {name: int(np.isin(outcomes[name].subset, beats).sum()) for name in names}
    result = {"population": population, "attacks": names, "n": int(beats.size), "grid": grid, "curve": rows_out,
              "clean_wrong": int(clean_wrong.sum()), "coverage": coverage, "y": y}
    if eps_max is not None:
        for metric, label in (("balanced_accuracy", "acc_robust_balanced"), ("accuracy", "acc_robust"),
                              ("macro_f1", "f1_robust")):
            result[label] = robust_score(grid, [r[metric] for r in rows_out], eps_max)["robust"]
        result["eps_max"] = eps_max
    if per_beat:   # the beats and their outcome per eps: paired comparisons of two models (evaluation.paired)
        result["beats"], result["correct"] = beats, worst == y[None, :]
    if bootstrap is not None:
        found = robustness_intervals(y, worst == y[None, :], grid, bootstrap, eps_max)
        result["intervals"] = {"curve": [i.as_dict() | {"eps": e} for i, e in zip(found["curve"], grid)],
                               "acc_robust": found["acc_robust"].as_dict() if found["acc_robust"] else None}
    return result


def certified_metrics(record: dict, examples: dict) -> dict:
    """The verifier's ``record`` (:func:`ecg_pipeline.verification.grid.certify_grid`) with its certified curve scored
    from the per-beat ``examples`` by the attacks' own worst-case code (an uncertified beat counts as wrong): per eps
    accuracy, balanced accuracy, macro F1 and per-class metrics, the lower bounds; ACC_robust / F1_robust of seed
    001 eq. (8) up to ``eps_max``; the beats per class."""
    scored = worst_case({"certify": Outcomes.from_examples(examples, record.get("run", "certify"))}, record["grid"],
                        record["classes"], eps_max=record.get("eps_max"))
    curve = [{**{k: v for k, v in point.items() if k != "broken_first_by"}, **counts}
             for point, counts in zip(scored["curve"], record["curve"])]
    per_class = {str(record["classes"][int(c)]): int(k) for c, k in zip(*np.unique(scored["y"], return_counts=True))}
    robust = {k: scored[k] for k in ("acc_robust_balanced", "acc_robust", "f1_robust") if k in scored}
    return {**record, "per_class": per_class, "curve": curve, **robust}
