"""Classification metrics, and the robustness summaries of Ma & Liang (seed 001).

All take integer labels and predictions; ``n_classes`` fixes the class set so that a class absent
from a small test set still counts (as zero recall, with a warning-free definition).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecg_pipeline.errors import EcgDataError


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[true, predicted]``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise EcgDataError(f"{y_true.shape[0]} labels but {y_pred.shape[0]} predictions")
    for name, y in (("labels", y_true), ("predictions", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise EcgDataError(f"{name} outside the class set 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def classification_metrics(y_true, y_pred, n_classes: int, class_names: Sequence[str] | None = None) -> dict:
    """Accuracy, balanced accuracy, macro F1 and per-class sensitivity / specificity / F1.

    Balanced accuracy is the mean per-class recall over the classes present in ``y_true``: the
    accuracy on the class-balanced test stream the NSR papers report (reference notes).
    Macro F1 averages F1 over the same classes.
    """
    c = confusion(y_true, y_pred, n_classes).astype(np.float64)
    total = c.sum()
    tp = np.diag(c)
    support = c.sum(axis=1)
    predicted = c.sum(axis=0)
    fp = predicted - tp
    fn = support - tp
    tn = total - tp - fp - fn
    sensitivity = _safe_ratio(tp, support)
    specificity = _safe_ratio(tn, tn + fp)
    precision = _safe_ratio(tp, predicted)
    f1 = _safe_ratio(2 * tp, 2 * tp + fp + fn)
    present = support > 0
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    challenge = {"cinc2017_f1": cinc2017_f1(dict(zip(names, f1.tolist())))} if set(CINC2017_SCORED) <= set(names) else {}
    return {
        **challenge,
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "balanced_accuracy": float(np.mean(sensitivity[present])) if present.any() else float("nan"),
        "macro_f1": float(np.mean(np.nan_to_num(f1[present]))) if present.any() else float("nan"),
        "per_class": {
            name: {"support": int(support[i]), "sensitivity": float(sensitivity[i]), "specificity": float(specificity[i]),
                   "precision": float(precision[i]), "f1": float(f1[i])}
            for i, name in enumerate(names)
        },
        "confusion": c.astype(np.int64).tolist(),
    }


CINC2017_SCORED = ("N", "A", "O")   # the noisy class ~ is not scored


def cinc2017_f1(f1_by_class: dict[str, float]) -> float:
    """The PhysioNet/CinC Challenge 2017 score: ``F1 = (F1_N + F1_A + F1_O) / 3``, each class's
    ``F1 = 2 TP / (2 TP + FP + FN)`` from the 4-class confusion matrix (noisy ~ is predicted and counts in
    the other classes' FP/FN, but its own F1 is not averaged). Source: Clifford et al., "AF classification
    from a short single lead ECG recording: the PhysioNet/Computing in Cardiology Challenge 2017", CinC 2017
    (section "Scoring"); the same score Han et al. (Nature Medicine 2020) report for their CNN.

    ``f1_by_class``: per-class F1 by class name (``classification_metrics``' per-class ``f1``); a class absent
    from both labels and predictions (NaN) counts as 0.
    """
    missing = [c for c in CINC2017_SCORED if c not in f1_by_class]
    if missing:
        raise EcgDataError(f"cinc2017_f1: the classes {missing} are missing; expected per-class F1 of N, A and O "
                           f"(got {sorted(f1_by_class)})")
    return float(np.mean([np.nan_to_num(f1_by_class[c]) for c in CINC2017_SCORED]))


# np.trapezoid is NumPy >= 2; NumPy 1.x (allowed by pyproject) calls it np.trapz.
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201


def robust_score(eps: Sequence[float], score: Sequence[float], eps_max: float) -> dict:
    """ACC_robust of seed 001 eq. (8): sqrt(ACC_clean x AUC), and its AUC.

    AUC is the trapezoid area of score vs eps over [0, eps_max], divided by eps_max (the mean score
    over the noise range). The grid must contain 0 (the clean score) and reach eps_max; points
    beyond eps_max are ignored. The same formula with macro F1 gives F1_robust.
    """
    eps = np.asarray(eps, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if eps.shape != score.shape or eps.size < 2:
        raise EcgDataError(f"robust_score needs matching eps and score lists of >= 2 points, got {eps.size} and {score.size}")
    order = np.argsort(eps)
    eps, score = eps[order], score[order]
    if eps[0] != 0:
        raise EcgDataError(f"robust_score: the eps grid must start at 0 (the clean score), got {eps[0]}")
    if not eps_max > 0 or not np.isclose(eps, eps_max).any():
        raise EcgDataError(f"robust_score: eps_max={eps_max} must be a grid point; grid is {eps.tolist()}")
    inside = eps <= eps_max + 1e-12
    auc = float(_trapezoid(score[inside], eps[inside]) / eps_max)
    return {"clean": float(score[0]), "auc": auc, "robust": float(np.sqrt(score[0] * auc))}
