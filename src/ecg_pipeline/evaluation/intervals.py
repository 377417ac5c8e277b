"""Stratified bootstrap intervals of class-balanced scores: one definition, used by the report's headline
(clean accuracy, worst-case accuracy per eps, ACC_robust) and meant for any table that puts an uncertainty
on a score computed from per-beat outcomes.

A resample draws, within every class, as many beats as that class has, with replacement: the class counts
of every resample equal those of the sample (a stratified bootstrap), so class-balanced accuracy keeps its
meaning and a rare class never vanishes from a resample. The interval is the percentile interval of the
statistic over ``resamples`` resamples drawn from ``np.random.default_rng(seed)`` (the same seed gives the
same interval), widened where needed so that it always contains the point estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ecg_pipeline.errors import EcgDataError

from .metrics import robust_score


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn (``report.bootstrap`` in conf/base/parameters_report.yml)."""

    resamples: int = 1000
    seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        if int(self.resamples) < 1:
            raise EcgDataError(f"bootstrap: resamples must be >= 1, got {self.resamples}")
        if not 0 < float(self.level) < 1:
            raise EcgDataError(f"bootstrap: level must lie in (0, 1), got {self.level}")

    @classmethod
    def from_params(cls, params: dict | None) -> Bootstrap:
        params = dict(params or {})
        unknown = sorted(set(params) - {"resamples", "seed", "level"})
        if unknown:
            raise EcgDataError(f"parameters 'report.bootstrap': unknown key(s) {unknown}; expected resamples, seed, level")
        return cls(int(params.get("resamples", 1000)), int(params.get("seed", 0)), float(params.get("level", 0.95)))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    resamples: int

    def as_dict(self) -> dict:
        return asdict(self)


def stratified_resamples(y: Sequence[int], resamples: int, seed: int) -> np.ndarray:
    """``[resamples, len(y)]`` positions into ``y``: each row draws, within every class, as many positions as
    the class holds (with replacement), so every row has the class counts of ``y``."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = np.empty((int(resamples), y.size), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        out[:, members] = members[rng.integers(0, members.size, size=(int(resamples), members.size))]
    return out


def balanced_accuracy(y: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Mean over the classes present in ``y`` of the fraction of their beats ``correct``; ``correct``
    ``[..., len(y)]`` (leading axes kept)."""
    y = np.asarray(y)
    correct = np.asarray(correct, dtype=np.float64)
    recalls = [correct[..., y == c].mean(axis=-1) for c in np.unique(y)]
    return np.mean(recalls, axis=0)


def interval(statistic: Callable[[np.ndarray], np.ndarray], y: Sequence[int], bootstrap: Bootstrap) -> Interval:
    """The interval of ``statistic(positions)`` (``positions``: ``[k, n]`` rows of positions into the sample,
    returning ``k`` values; position ``j`` of every row holds a beat of class ``y[j]``); its estimate is the
    statistic of the sample itself."""
    y = np.asarray(y)
    if y.size == 0:
        raise EcgDataError("bootstrap: no beats to resample")
    estimate = float(np.asarray(statistic(np.arange(y.size)[None, :])).reshape(-1)[0])
    values = np.asarray(statistic(stratified_resamples(y, bootstrap.resamples, bootstrap.seed)), dtype=np.float64)
    alpha = (1 - bootstrap.level) / 2
    low, high = (float(v) for v in np.quantile(values, [alpha, 1 - alpha]))
    return Interval(estimate, min(low, estimate), max(high, estimate), bootstrap.level, bootstrap.resamples)


def balanced_accuracy_interval(y: Sequence[int], correct: Sequence[bool], bootstrap: Bootstrap) -> Interval:
    """Class-balanced accuracy of per-beat ``correct`` outcomes, with its stratified bootstrap interval."""
    y, correct = np.asarray(y), np.asarray(correct, dtype=bool)
    # a stratified resample puts a beat of class c at every position of class c: y itself labels every row
    return interval(lambda rows: balanced_accuracy(y, correct[rows]), y, bootstrap)


def robustness_intervals(y: Sequence[int], correct: np.ndarray, grid: Sequence[float], bootstrap: Bootstrap,
                         eps_max: float | None = None) -> dict:
    """Intervals of a robustness curve from per-beat outcomes: ``correct[g, i]`` (beat ``i`` counted correct at
    ``grid[g]``). Returns ``{"curve": [Interval per grid point], "acc_robust": Interval | None}``: the
    class-balanced accuracy per eps and ACC_robust of seed 001 eq. (8) up to ``eps_max`` (sqrt of clean
    accuracy times the normalised area under the curve), each resample scoring all of them on the same beats."""
    y, correct = np.asarray(y), np.asarray(correct, dtype=bool)
    grid = [float(e) for e in grid]
    if correct.shape != (len(grid), y.size):
        raise EcgDataError(f"bootstrap: outcomes of shape {correct.shape}, expected {(len(grid), y.size)}")
    curve = [balanced_accuracy_interval(y, correct[g], bootstrap) for g in range(len(grid))]
    acc_robust = None
    if eps_max is not None:
        def statistic(rows: np.ndarray) -> np.ndarray:
            per_eps = balanced_accuracy(y, correct[:, rows].transpose(1, 0, 2))   # [k, grid]
            return np.array([robust_score(grid, scores, eps_max)["robust"] for scores in per_eps])

        acc_robust = interval(statistic, y, bootstrap)
    return {"curve": curve, "acc_robust": acc_robust}
