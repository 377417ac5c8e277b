"""Paired comparisons of two defenses on the same beats, and summaries across training seeds (issue 28, item 2).

Two models judged on the same test beats are compared beat by beat, from their per-beat worst-case outcomes
(``correct[g, i]``: beat ``i`` still classified correctly at ``grid[g]`` under every attack; see
:mod:`.worst_case`):

- :func:`mcnemar_exact`, per eps (:func:`mcnemar_per_eps`): the exact (conditional, binomial) McNemar test on the
  discordant beats;
- :func:`paired_difference`: the difference in class-balanced accuracy per eps and in ACC_robust (seed 001
  eq. 8, :func:`~ecg_pipeline.evaluation.metrics.robust_score`) with a paired stratified bootstrap interval: each
  resample draws the same beats for both models (within class, :mod:`.intervals`), so the interval is that of the
  difference, narrower than the two intervals side by side whenever the models fail on the same beats;
- :func:`seed_summary`: across training seeds, the mean, the sample standard deviation and Student's t-interval
  of the mean (the training seed's spread, which no bootstrap over beats sees).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ecg_pipeline.errors import EcgDataError

from .intervals import Bootstrap, Interval, balanced_accuracy, interval
from .metrics import robust_score


@dataclass(frozen=True)
class McNemar:
    """One 2x2 table of paired outcomes, by its discordant cells, and its exact two-sided p-value."""

    a_only: int          # beats model A gets right and model B wrong (b)
    b_only: int          # beats model B gets right and model A wrong (c)
    both: int            # beats both get right
    neither: int         # beats both get wrong
    p_value: float

    def as_dict(self) -> dict:
        return asdict(self)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """The exact two-sided p-value of McNemar's test (McNemar 1947, Psychometrika 12:153; its exact conditional
    form as in Fagerland, Lydersen & Laake 2013, BMC Med. Res. Methodol. 13:91, "The McNemar exact conditional
    test"): under H0 (both models equally accurate) the ``n = b + c``
    discordant beats split as Binomial(n, 1/2), so ``p = min(1, 2 * P[X <= min(b, c)])``, ``X ~ Bin(n, 1/2)``;
    ``p = 1`` when no beat is discordant."""
    b, c = int(a_only), int(b_only)
    if b < 0 or c < 0:
        raise EcgDataError(f"McNemar: discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))


def mcnemar_table(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemar:
    """The paired 2x2 table of two models' per-beat outcomes on the same beats, and its exact McNemar p-value."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise EcgDataError(f"McNemar: outcomes of shapes {a.shape} and {b.shape}; expected the same beats")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    return McNemar(a_only, b_only, int((a & b).sum()), int((~a & ~b).sum()), mcnemar_exact(a_only, b_only))


def mcnemar_per_eps(correct_a: np.ndarray, correct_b: np.ndarray, grid: Sequence[float]) -> list[dict]:
    """Per grid point: the McNemar table of the two models' worst-case outcomes (``correct[g, i]``) and its p."""
    correct_a, correct_b = _check_pair(correct_a, correct_b, grid)
    return [{"eps": float(eps), **mcnemar_table(correct_a[g], correct_b[g]).as_dict()} for g, eps in enumerate(grid)]


def align(beats_a: Sequence[int], correct_a: np.ndarray, beats_b: Sequence[int], correct_b: np.ndarray,
          y_a: Sequence[int], y_b: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two models' outcomes restricted to the beats both scored (indices into the same test split), in the order
    of ``beats_a``: (beats, y, correct_a, correct_b). Labels that disagree on a common beat mean two versions of
    the split: refused."""
    beats_a, beats_b = np.asarray(beats_a), np.asarray(beats_b)
    correct_a, correct_b = np.atleast_2d(np.asarray(correct_a, dtype=bool)), np.atleast_2d(np.asarray(correct_b, dtype=bool))
    common = np.isin(beats_a, beats_b)
    if not common.any():
        raise EcgDataError("paired comparison: the two models scored no beat in common")
    where_b = {int(beat): i for i, beat in enumerate(beats_b)}
    rows_b = np.array([where_b[int(beat)] for beat in beats_a[common]])
    y = np.asarray(y_a)[common]
    if not np.array_equal(y, np.asarray(y_b)[rows_b]):
        raise EcgDataError("paired comparison: the two models' labels of the same beats differ (evaluated on "
                           "different versions of the split?)")
    return beats_a[common], y, correct_a[:, common], correct_b[:, rows_b]


def paired_difference(y: Sequence[int], correct_a: np.ndarray, correct_b: np.ndarray, grid: Sequence[float],
                      bootstrap: Bootstrap, eps_max: float | None = None) -> dict:
    """Model A minus model B on the same beats: the class-balanced accuracy per eps and (with ``eps_max``)
    ACC_robust of seed 001 eq. (8), each with its paired stratified bootstrap interval (:func:`.intervals.interval`:
    every resample scores both models on the same resampled beats). Returns ``{"curve": [Interval per eps],
    "acc_robust": Interval | None}`` of the differences."""
    y = np.asarray(y)
    correct_a, correct_b = _check_pair(correct_a, correct_b, grid)
    if y.size != correct_a.shape[1]:
        raise EcgDataError(f"paired comparison: {y.size} labels for {correct_a.shape[1]} beats")
    grid = [float(e) for e in grid]

    def per_eps(rows: np.ndarray, g: int) -> np.ndarray:
        return balanced_accuracy(y, correct_a[g][rows]) - balanced_accuracy(y, correct_b[g][rows])

    curve = [interval(lambda rows, g=g: per_eps(rows, g), y, bootstrap) for g in range(len(grid))]
    acc_robust = None
    if eps_max is not None:
        def statistic(rows: np.ndarray) -> np.ndarray:
            scores = [balanced_accuracy(y, c[:, rows].transpose(1, 0, 2)) for c in (correct_a, correct_b)]  # [k, grid]
            return np.array([robust_score(grid, sa, eps_max)["robust"] - robust_score(grid, sb, eps_max)["robust"]
                             for sa, sb in zip(*scores)])

        acc_robust = interval(statistic, y, bootstrap)
    return {"curve": curve, "acc_robust": acc_robust}


@dataclass(frozen=True)
class SeedSummary:
    """A score across training seeds: mean, sample sd (ddof 1) and the t-interval of the mean (None below 2 seeds)."""

    n: int
    mean: float
    sd: float | None
    low: float | None
    high: float | None
    level: float

    def as_dict(self) -> dict:
        return asdict(self)


def seed_summary(values: Sequence[float], level: float = 0.95) -> SeedSummary:
    """Mean, sample standard deviation and Student's t-interval of the mean of one score over ``n`` training seeds
    (Student 1908): ``mean +- t_{(1 + level) / 2, n - 1} * sd / sqrt(n)``, ``sd`` with ``n - 1`` in the
    denominator. It treats the seeds as independent draws of the training randomness; with one seed there is no
    spread to estimate (sd and interval None)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise EcgDataError(f"seed summary: expected one finite score per seed, got {values.tolist()}")
    if not 0 < level < 1:
        raise EcgDataError(f"seed summary: level must lie in (0, 1), got {level}")
    n, mean = values.size, float(values.mean())
    if n < 2:
        return SeedSummary(n, mean, None, None, None, level)
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return SeedSummary(n, mean, sd, mean - half, mean + half, level)


def _check_pair(correct_a: np.ndarray, correct_b: np.ndarray, grid: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape or correct_a.ndim != 2 or correct_a.shape[0] != len(grid):
        raise EcgDataError(f"paired comparison: outcomes of shapes {correct_a.shape} and {correct_b.shape}; expected "
                           f"both ({len(grid)} eps, beats) on the same beats (align them first)")
    return correct_a, correct_b


__all__ = ["McNemar", "SeedSummary", "Interval", "align", "mcnemar_exact", "mcnemar_per_eps", "mcnemar_table",
           "paired_difference", "seed_summary"]
