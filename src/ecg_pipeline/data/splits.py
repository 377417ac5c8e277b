"""Train / validation / test splits of a beat set.

- ``random``: stratified, seeded beat-level split; default = the NSR paper's protocol (seed 001):
  80/20 train/test, then 80/20 of train into train/validation. Beats of one patient land on both
  sides, so accuracy is optimistic.
- ``inter_patient``: de Chazal et al. (2004) DS1 (train) / DS2 (test) record lists, paced records
  excluded; validation is a seeded choice of whole DS1 records whose per-class beat shares are
  closest to ``validation_fraction``, so no record is in two splits and no class is starved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ecg_pipeline.errors import EcgDataError

log = logging.getLogger(__name__)

SPLIT_NAMES = ("random", "inter_patient")
SPLIT_KEYS = ("train", "validation", "test")

DS1_RECORDS = (
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124",
    "201", "203", "205", "207", "208", "209", "215", "220", "223", "230",
)
DS2_RECORDS = (
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212",
    "213", "214", "219", "221", "222", "228", "231", "232", "233", "234",
)


def take(beats: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """The beats at ``index``; per-set arrays (``classes``) are carried over unchanged."""
    n = beats["y"].shape[0]
    return {k: (v[index] if v.shape[:1] == (n,) and k != "classes" else v) for k, v in beats.items()}


def _stratified(y: np.ndarray, index: np.ndarray, fraction: float, seed: int, name: str):
    if not 0.0 < fraction < 1.0:
        raise EcgDataError(f"split parameter {name}={fraction}: expected a fraction in (0, 1)")
    counts = np.bincount(y[index])
    stratify = y[index] if counts[counts > 0].min() >= 2 else None
    from sklearn.model_selection import train_test_split  # here: ~1.5 s to import, at every kedro start
    return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)


def _balanced_record_choice(records, y, candidates, n_val, fraction, seed, tries: int = 500):
    """``n_val`` whole records for validation, among seeded random draws the one whose per-class beat
    shares are closest to ``fraction`` (worst class first): a plain random draw can put most of a
    rare class (e.g. the F beats of record 208) into validation and starve training of it."""
    rng = np.random.default_rng(seed)
    n_classes = int(y.max()) + 1
    per_record = np.stack([np.bincount(y[records == r], minlength=n_classes) for r in candidates])
    total = per_record.sum(axis=0)
    present = total > 0
    best, best_score = None, np.inf
    for _ in range(tries):
        pick = rng.choice(candidates.size, size=n_val, replace=False)
        share = per_record[pick].sum(axis=0)[present] / total[present]
        score = np.abs(share - fraction).max()
        if score < best_score:
            best, best_score = pick, score
    return candidates[np.sort(best)]


def split_beats(
    beats: dict[str, np.ndarray],
    *,
    method: str = "random",
    test_fraction: float = 0.2,
    validation_fraction: float = 0.2,
    seed: int = 0,
    ds1: Sequence[str] = DS1_RECORDS,
    ds2: Sequence[str] = DS2_RECORDS,
) -> dict[str, dict[str, np.ndarray]]:
    """Split a beat set into ``train``, ``validation`` and ``test`` beat sets."""
    y = beats["y"]
    all_index = np.arange(y.shape[0])
    if method == "random":
        train_val, test = _stratified(y, all_index, test_fraction, seed, "test_fraction")
        train, val = _stratified(y, np.sort(train_val), validation_fraction, seed, "validation_fraction")
    elif method == "inter_patient":
        overlap = sorted(set(ds1) & set(ds2))
        if overlap:
            raise EcgDataError(f"inter_patient split: records {overlap} are in both DS1 and DS2")
        records = beats["record_id"]
        present = set(np.unique(records))
        missing = sorted((set(ds1) | set(ds2)) - present)
        if missing:
            log.warning("inter_patient split: records %s are not in the beat set", missing)
        ds1_present = np.array(sorted(set(ds1) & present))
        if ds1_present.size < 2:
            raise EcgDataError(f"inter_patient split needs at least two DS1 records, found {list(ds1_present)}")
        n_val = max(1, int(round(validation_fraction * ds1_present.size)))
        val_records = _balanced_record_choice(records, y, ds1_present, n_val, validation_fraction, seed)
        train = all_index[np.isin(records, ds1_present) & ~np.isin(records, val_records)]
        val = all_index[np.isin(records, val_records)]
        test = all_index[np.isin(records, list(ds2))]
    else:
        raise EcgDataError(f"unknown split method {method!r}; expected one of {list(SPLIT_NAMES)}")
    out = {name: take(beats, np.sort(idx)) for name, idx in zip(SPLIT_KEYS, (train, val, test))}
    classes = beats["classes"]
    log.info(
        "%s split (seed %d): %s",
        method, seed,
        "; ".join(f"{k} {v['y'].shape[0]} {dict(zip(classes.tolist(), np.bincount(v['y'], minlength=len(classes)).tolist()))}" for k, v in out.items()),
    )
    return out
