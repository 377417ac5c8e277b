"""Calling domain functions with a parameter section from conf/, with errors that name the key."""

from __future__ import annotations

import copy
import inspect
from functools import partial, update_wrapper
from collections.abc import Callable, Mapping
from typing import Any

from ecg_pipeline.errors import EcgConfigError, EcgDataError


def call_with_params(func: Callable[..., Any], *args: Any, params: Mapping[str, Any] | None, section: str) -> Any:
    """``func(*args, **params)``, refusing keys ``func`` does not take (a typo in conf/ is an error, not ignored);
    an :class:`EcgDataError` that names one of ``func``'s arguments as its ``key`` is re-raised naming the
    full parameter (``section.key``) and how to change it."""
    params = dict(params or {})
    accepted = inspect.signature(func).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            options = [n for n, p in accepted.items() if p.kind is p.KEYWORD_ONLY]
            raise EcgDataError(f"parameters '{section}': unknown key(s) {unknown}; {func.__name__} accepts {options}")
    try:
        return func(*args, **params)
    except EcgDataError as err:
        if err.key is None or err.key not in accepted:
            raise
        # the domain code knows which of its arguments is at fault; here we know where it came from
        full = f"{section}.{err.key}"
        raise EcgDataError(f"{err} [parameter '{full}': change it in conf/ or with --params={full}=...]",
                           key=full) from None


def bound_node_function(func: Callable[..., Any], **bound: Any) -> Callable[..., Any]:
    """``func`` with keyword arguments fixed, for a Node: a ``functools.partial`` of a module-level
    function (unlike a closure it pickles, which ``ParallelRunner`` needs) that keeps ``func``'s name
    for logs and kedro-viz."""
    return update_wrapper(partial(func, **bound), func)


def with_overrides(params: Mapping, overrides: Mapping | None, run_name: str) -> dict:
    """``params`` with dotted keys of ``overrides`` replaced (``{"objective.beta": 0.2}``); a key that
    does not address an existing entry is an error naming the run."""
    params = copy.deepcopy(dict(params))
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            if not isinstance(section.get(key), dict):
                raise EcgConfigError(f"{run_name}: cannot set '{dotted}': the base parameters have no section '{key}'")
            section = section[key]
        if leaf not in section:
            raise EcgConfigError(f"{run_name}: cannot set '{dotted}': the base parameters have no key '{leaf}' there "
                                 f"(it has {sorted(section)})")
        section[leaf] = value
    return params
