"""The context of the Kedro session now running: its env, runtime parameters and configuration folder.

Recorded by the project hook when a session's context is created, so that code far from the session
(a printed command, a provenance record) can repeat ``--env`` and ``--params`` without reaching into
Kedro. Outside a session (a notebook that builds nothing, a plain test) the context is empty.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunContext:
    env: str | None = None
    runtime_params: Mapping[str, Any] = field(default_factory=dict)
    conf_source: str | None = None

    def flags(self, *, params: bool = True) -> str:
        """The command-line flags that select this context: `` --env=quick --params=data_root=..``
        (empty outside a session, or for the default env with no runtime parameters)."""
        parts = []
        if self.env and self.env != "base":
            parts.append(f"--env={self.env}")
        if params and self.runtime_params:
            pairs = ",".join(f"{k}={v}" for k, v in _flatten(self.runtime_params))
            parts.append(f"--params={pairs}")
        return "".join(f" {shlex.quote(p)}" for p in parts)


def _flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value, f"{name}."))
        else:
            out.append((name, value))
    return out


_current = RunContext()


def set_current(env: str | None, runtime_params: Mapping[str, Any] | None, conf_source: str | None) -> None:
    global _current
    _current = RunContext(env=env, runtime_params=dict(runtime_params or {}), conf_source=conf_source)


def current() -> RunContext:
    return _current


def kedro_command(*args: str) -> str:
    """``kedro run <args>`` plus the active session's ``--env`` and ``--params``: a command printed for the
    user to copy must rebuild or rerun within the same configuration, not the base one."""
    return " ".join(("kedro run", *args)) + _current.flags()
