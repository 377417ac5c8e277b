"""Typed configuration sections: a frozen dataclass per section, built from a parameters mapping.

``from_mapping`` refuses keys the dataclass does not have (a typo in conf/ is an error naming the
section, not silently ignored), so each default is written once: in the dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ecg_pipeline.errors import EcgDataError

C = TypeVar("C")


def from_mapping(cls: type[C], params: Mapping[str, Any] | None, section: str, *, ignore: Iterable[str] = ()) -> C:
    """``cls(**params)``; unknown keys (other than ``ignore``) and missing required ones name ``section``."""
    params = dict(params or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields) - set(ignore))
    if unknown:
        raise EcgDataError(f"parameters '{section}': unknown key(s) {unknown}; expected some of {sorted(fields)}")
    required = [n for n, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in params]
    if required:
        raise EcgDataError(f"parameters '{section}': missing required key(s) {required}")
    return cls(**{k: v for k, v in params.items() if k in fields})


def positive_int(value: Any, key: str, section: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EcgDataError(f"parameters '{section}.{key}': expected a positive integer{' or null' if allow_none else ''}, "
                           f"got {value!r}")
