"""Class balancing of a training beat set. Validation and test sets are never passed here.

- ``upsample``: tile every class to the largest class count (the NSR paper's balanced sampler,
  seed 001); the copies are real beats, so ``synthetic`` stays False.
- ``smote``: imbalanced-learn's SMOTE to a target count per class (ECG-ATK-GAN, seed 002, used
  10,000 for S, V and F); new beats are flagged ``synthetic``.
- ``none``: the set unchanged.
"""

from __future__ import annotations

import logging

import numpy as np

from ecg_pipeline.errors import EcgDataError

from .splits import take

log = logging.getLogger(__name__)

BALANCE_METHODS = ("upsample", "smote", "none")


def upsample_index(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices that tile each present class to the largest class count (all copies whole, the remainder
    drawn without replacement from ``rng``), sorted: seed 001's up-sampling ("balanced sampler")."""
    y = np.asarray(y)
    counts = np.bincount(y) if y.size else np.zeros(0, dtype=np.int64)
    target = counts.max(initial=0)
    index = [np.zeros(0, dtype=np.int64)]
    for c in np.flatnonzero(counts):
        members = np.flatnonzero(y == c)
        reps, rest = divmod(target, members.size)
        index.append(np.concatenate([np.tile(members, reps), rng.choice(members, size=rest, replace=False)]))
    return np.sort(np.concatenate(index), kind="stable")


def extra_copies_index(y: np.ndarray, copies: dict[int, int]) -> np.ndarray:
    """Row indices with every row once plus ``copies[c]`` more copies of each row of class ``c``, sorted: Han et
    al.'s (2020) CinC 2017 training augmentation (5 extra copies of ~, 1 of A; reference notes). Unlike
    :func:`upsample_index` the counts are fixed per class, not tiled to the largest class; nothing is drawn."""
    y = np.asarray(y)
    for c, k in copies.items():
        if not _is_count(c, 0) or not _is_count(k, 0):
            raise EcgDataError(f"extra copies {copies!r}: expected class index -> count >= 0, got {c!r}: {k!r}")
    reps = np.ones(y.shape[0], dtype=np.int64)
    for c, k in copies.items():
        reps[y == c] += k
    return np.repeat(np.arange(y.shape[0]), reps)


def upsample(beats: dict[str, np.ndarray], *, seed: int = 0) -> dict[str, np.ndarray]:
    """Tile each class (all copies whole, the remainder drawn without replacement) to the largest count."""
    return take(beats, upsample_index(beats["y"], np.random.default_rng(seed)))


def _is_count(value, minimum: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


def check_smote_parameters(target_per_class, k_neighbors, *, target_name: str = "target_per_class",
                           k_name: str = "k_neighbors") -> None:
    """Refuse what SMOTE would reject with scikit-learn's words (k <= 0) or ignore silently (a target < 0);
    the ``*_name`` arguments are the names the caller's user wrote (e.g. ``smote_k_neighbors``)."""
    if not _is_count(k_neighbors, 1):
        raise EcgDataError(f"SMOTE {k_name}={k_neighbors!r}: expected an integer >= 1 (the number of same-class "
                           "neighbours a synthetic beat is interpolated towards)")
    targets = target_per_class if isinstance(target_per_class, dict) else {"every class": target_per_class}
    for cls, target in targets.items():
        if not _is_count(target, 0):
            raise EcgDataError(f"SMOTE {target_name}={target_per_class!r}: the target for {cls} is {target!r}; "
                               "expected a beat count >= 0")


def smote(
    beats: dict[str, np.ndarray],
    *,
    target_per_class: int | dict[str, int] = 10000,
    k_neighbors: int = 5,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """SMOTE each class below its target up to it; classes above target are left as they are."""
    from imblearn.over_sampling import SMOTE

    check_smote_parameters(target_per_class, k_neighbors)
    classes = [str(c) for c in beats["classes"]]
    y = beats["y"]
    counts = np.bincount(y, minlength=len(classes))
    if isinstance(target_per_class, dict):
        unknown = sorted(set(target_per_class) - set(classes))
        if unknown:
            raise EcgDataError(f"smote target_per_class names unknown class(es) {unknown}; classes are {classes}")
        targets = {classes.index(c): int(n) for c, n in target_per_class.items()}
    else:
        targets = {i: int(target_per_class) for i in range(len(classes))}
    strategy = {c: n for c, n in targets.items() if counts[c] and n > counts[c]}
    for c in strategy:
        if counts[c] < k_neighbors + 1:
            raise EcgDataError(
                f"SMOTE cannot grow class {classes[c]!r}: it has {counts[c]} training beats, "
                f"k_neighbors={k_neighbors} needs at least {k_neighbors + 1}"
            )
    if not strategy:
        return dict(beats)
    sampler = SMOTE(sampling_strategy=strategy, k_neighbors=k_neighbors, random_state=seed)
    x_res, y_res = sampler.fit_resample(beats["x"], y)
    n_new = y_res.shape[0] - y.shape[0]
    # imblearn appends the synthetic rows after the originals, in class order.
    out = {k: v for k, v in beats.items()}
    out["x"] = x_res.astype(beats["x"].dtype, copy=False)
    out["y"] = y_res.astype(np.int64)
    out["synthetic"] = np.concatenate([beats["synthetic"], np.ones(n_new, dtype=bool)])
    new_y = y_res[y.shape[0]:]
    fill = {"label": np.asarray(classes)[new_y], "symbol": np.full(n_new, ""), "record_id": np.full(n_new, ""),
            "r_sample": np.full(n_new, -1, dtype=np.int64)}
    for key, values in fill.items():
        if key in beats:
            out[key] = np.concatenate([beats[key], values.astype(beats[key].dtype if beats[key].dtype.kind != "U" else str)])
    return out


def balance_training_set(
    train: dict[str, np.ndarray],
    *,
    method: str = "upsample",
    seed: int = 0,
    smote_target_per_class: int | dict[str, int] = 10000,
    smote_k_neighbors: int = 5,
) -> dict[str, np.ndarray]:
    """Balance the training split by ``method`` (one of BALANCE_METHODS)."""
    if method == "smote":  # named as in conf/ (parameters 'resampling')
        check_smote_parameters(smote_target_per_class, smote_k_neighbors,
                               target_name="smote_target_per_class", k_name="smote_k_neighbors")
    if method == "upsample":
        out = upsample(train, seed=seed)
    elif method == "smote":
        out = smote(train, target_per_class=smote_target_per_class, k_neighbors=smote_k_neighbors, seed=seed)
    elif method == "none":
        out = dict(train)
    else:
        raise EcgDataError(f"unknown resampling method {method!r}; expected one of {list(BALANCE_METHODS)}")
    classes = train["classes"]
    log.info(
        "resampling %s: %d -> %d training beats %s (%d synthetic)",
        method, train["y"].shape[0], out["y"].shape[0],
        dict(zip(classes.tolist(), np.bincount(out["y"], minlength=len(classes)).tolist())), int(out["synthetic"].sum()),
    )
    return out


def balanced_subset(y: np.ndarray, per_class: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset with at most ``per_class`` samples of each class (all if None).

    Classes are visited in sorted order; a class with more than ``per_class`` members draws them
    without replacement from one ``np.random.default_rng(seed)``, smaller classes are kept whole
    (and draw nothing). The one selection rule behind :func:`cap_per_class` (beat sets) and the
    evaluation subsets of :func:`ecg_pipeline.evaluation.robustness.evaluate_attack`.
    """
    if per_class is None:
        return np.arange(y.shape[0])
    rng = np.random.default_rng(seed)
    parts = [
        idx if idx.size <= per_class else rng.choice(idx, per_class, replace=False)
        for idx in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return np.sort(np.concatenate(parts))


def cap_per_class(beats: dict[str, np.ndarray], max_per_class: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded subset with at most ``max_per_class`` beats of each class (small runs: tests, CI)."""
    if max_per_class < 1:
        raise EcgDataError(f"max_beats_per_class={max_per_class}: expected a positive count")
    y = beats["y"]
    out = take(beats, balanced_subset(y, max_per_class, seed))
    log.info("capped at %d beats per class: %d -> %d beats", max_per_class, y.shape[0], out["y"].shape[0])
    return out
