"""The input contract of a model brought from outside the project: the beats it was trained on (beat scheme and
length) and what its outputs mean (the class list, in output order).

The contract is checked against the beats before anything runs (:meth:`InputContract.check_beats`): a model
trained on 187-sample Kachuee beats evaluated on 280-sample centred ones, or with its classes in another order,
would be scored on numbers that mean nothing, so both are refused naming the parameter and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecg_pipeline.data.beats import BEAT_SCHEMES, CenteredScheme, KachueeScheme
from ecg_pipeline.errors import EcgConfigError, EcgDataError, did_you_mean

#: The model's input domain: every beat scheme scales its beats into [0, 1] (data.beats).
INPUT_BOUNDS = (0.0, 1.0)
SCHEME_LENGTH = {"kachuee": KachueeScheme.length, "centered": CenteredScheme.length}
SCHEME_FS = {"kachuee": KachueeScheme.fs, "centered": CenteredScheme.fs}
KEYS = ("scheme", "length", "classes")


@dataclass(frozen=True)
class InputContract:
    """What the model takes and returns: beats ``[n, 1, length]`` of ``scheme`` in [0, 1]; logits ``[n, K]``,
    column ``k`` the score of ``classes[k]``."""

    scheme: str
    length: int
    classes: tuple[str, ...]
    section: str = "own_model.contract"

    def __post_init__(self) -> None:
        where = f"parameters '{self.section}"
        if self.scheme not in BEAT_SCHEMES:
            raise EcgConfigError(f"{where}.scheme': expected one of {list(BEAT_SCHEMES)}, got {self.scheme!r}"
                                 f"{did_you_mean(str(self.scheme), BEAT_SCHEMES)}")
        length_ok = isinstance(self.length, int) and not isinstance(self.length, bool)
        if not length_ok or self.length != SCHEME_LENGTH[self.scheme]:
            raise EcgConfigError(f"{where}.length': beat scheme {self.scheme!r} cuts beats of "
                                 f"{SCHEME_LENGTH[self.scheme]} samples; got {self.length!r}")
        classes = tuple(str(c) for c in self.classes or ())
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise EcgConfigError(f"{where}.classes': expected at least two distinct class names in the model's output "
                                 f"order (e.g. [N, S, V, F, Q]), got {list(self.classes or ())}")
        object.__setattr__(self, "classes", classes)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, section: str = "own_model.contract") -> InputContract:
        params = dict(params or {})
        unknown = sorted(set(params) - set(KEYS))
        if unknown:
            raise EcgConfigError(f"parameters '{section}.{unknown[0]}': unknown key"
                                 f"{did_you_mean(unknown[0], KEYS)} (expected {list(KEYS)})")
        missing = [k for k in KEYS if params.get(k) is None]
        if missing:
            raise EcgConfigError(f"parameters '{section}.{missing[0]}': not set; the contract needs {list(KEYS)} "
                                 "(e.g. {scheme: kachuee, length: 187, classes: [N, S, V, F, Q]})")
        return cls(params["scheme"], params["length"], tuple(params["classes"]), section)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def as_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "length": self.length, "classes": list(self.classes)}

    def check_beats(self, beats: Mapping[str, np.ndarray], name: str) -> None:
        """Refuse beats (a model-input split) the model was not made for: another length or rate, other classes."""
        x = np.asarray(beats["x"])
        length = x.shape[-1]
        if length != self.length:
            raise EcgDataError(f"{name}: the beats are {length} samples long, the contract "
                               f"('{self.section}.length') declares {self.length} ({self.scheme})")
        fs = float(beats["fs"]) if "fs" in beats else None
        if fs is not None and not np.isclose(fs, SCHEME_FS[self.scheme]):
            raise EcgDataError(f"{name}: the beats are at {fs:g} Hz, the contract's scheme {self.scheme!r} "
                               f"('{self.section}.scheme') cuts them at {SCHEME_FS[self.scheme]:g} Hz")
        classes = [str(c) for c in beats["classes"]] if "classes" in beats else None
        if classes is not None and classes != list(self.classes):
            raise EcgDataError(f"{name}: the beats are labelled {classes}, the contract ('{self.section}.classes') "
                               f"lists {list(self.classes)}: give the model's classes in its output order, and beats "
                               "of that label set (segmentation.label_set)")

