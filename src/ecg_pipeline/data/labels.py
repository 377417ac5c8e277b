"""Label sets: the AAMI EC57 beat classes and the challenge label vocabularies."""

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

#: Class orders, by name of the label set. Index in the tuple = integer label.
CLASS_SETS: dict[str, tuple[str, ...]] = {
    "aami5": ("N", "S", "V", "F", "Q"),
    "aami4": ("N", "S", "V", "F"),  # ECG-ATK-GAN (seed 002): no Q
    "cinc2017": ("N", "A", "O", "~"),
    "cpsc2018": ("1", "2", "3", "4", "5", "6", "7", "8", "9"),
}

#: CPSC 2018 class numbers -> names, as in the challenge description.
CPSC2018_CLASS_NAMES = {
    "1": "Normal", "2": "AF", "3": "I-AVB", "4": "LBBB", "5": "RBBB",
    "6": "PAC", "7": "PVC", "8": "STD", "9": "STE",
}


def class_names(label_set: str) -> tuple[str, ...]:
    """The ordered class names of ``label_set``; a clear error for an unknown set."""
    try:
        return CLASS_SETS[label_set]
    except KeyError:
        raise EcgDataError(
            f"unknown label_set {label_set!r}; expected one of {sorted(CLASS_SETS)}"
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
