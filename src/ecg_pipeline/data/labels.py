"""Label sets: the AAMI EC57 beat classes, and every label set by name (the databases declare their own)."""

from __future__ import annotations

import numpy as np

from ecg_pipeline.errors import EcgDataError

#: MIT-BIH beat annotation symbol -> AAMI EC57 class (de Chazal et al. 2004, Table 1).
AAMI_OF_SYMBOL: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}

#: The AAMI EC57 label sets, by name; index in the tuple = integer label. A database's own label sets
#: (``cinc2017``, ``cpsc2018``) are declared with it (``data.databases``).
AAMI_CLASS_SETS: dict[str, tuple[str, ...]] = {
    "aami5": ("N", "S", "V", "F", "Q"),
    "aami4": ("N", "S", "V", "F"),  # ECG-ATK-GAN (seed 002): no Q
}


def class_sets() -> dict[str, tuple[str, ...]]:
    """Every label set: the AAMI ones and those the databases declare."""
    from . import databases

    return {**AAMI_CLASS_SETS, **databases.class_sets()}


def class_names(label_set: str) -> tuple[str, ...]:
    """The ordered class names of ``label_set``; a clear error for an unknown set."""
    if label_set in AAMI_CLASS_SETS:
        return AAMI_CLASS_SETS[label_set]
    every = class_sets()
    try:
        return every[label_set]
    except KeyError:
        raise EcgDataError(
            f"unknown label_set {label_set!r}; expected one of {sorted(every)}"
        ) from None


def encode(labels, label_set: str, *, source: str = "labels") -> np.ndarray:
    """Class names -> integer indices in ``label_set`` order; names outside the set are an error."""
    names = class_names(label_set)
    index = {name: i for i, name in enumerate(names)}
    labels = np.asarray(labels).astype(str)
    unknown = sorted(set(np.unique(labels).tolist()) - set(index))
    if unknown:
        raise EcgDataError(
            f"{source}: label(s) {unknown} are not in label_set {label_set!r} {list(names)}"
        )
    return np.fromiter((index[s] for s in labels), dtype=np.int64, count=len(labels))
