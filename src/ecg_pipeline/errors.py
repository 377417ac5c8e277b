"""The project's exception types: one base (:class:`EcgDataError`, also reachable as :data:`EcgError`), so a
caller catches every project error with one ``except``, and a subclass per kind (issue 25) for callers that
want to tell them apart: bad configuration, bad model, bad attack input. Bad input data raises the base."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EcgDataError(ValueError):
    """Bad input: the message names the record, file, class or parameter and what was expected.

    ``key``: the parameter at fault (e.g. ``beta``), set where the raiser knows it, so a caller that
    knows where the parameters came from can name the full key (``runs.nsr_mlp.objective.beta``).
    """

    def __init__(self, message: str = "", *, key: str | None = None):
        super().__init__(message)
        self.key = key


#: The one base class of every project error (the historical name ``EcgDataError`` is the same class).
EcgError = EcgDataError


class EcgConfigError(EcgDataError):
    """Bad configuration: a parameter (``conf/`` or ``--params``), a run, attack or namespace name. Raised before
    any node runs; the message names the parameter path and, for a misspelling, the closest valid name."""


class EcgModelError(EcgDataError):
    """A model that does not fit what it is used for (its classes, its input shape, a stored checkpoint)."""


class EcgAttackError(EcgDataError):
    """Bad attack input (a tensor, a hyper-parameter value) found when an attack is called."""


def did_you_mean(name: str, candidates: Iterable[str], *, quote: bool = True) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``candidates`` to ``name`` (difflib), else ``""``."""
    match = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    if not match:
        return ""
    return f"; did you mean {match[0]!r}?" if quote else f"; did you mean {match[0]}?"
