"""The sweep node: pick the winner from the members' stored validation evaluations."""

from __future__ import annotations

import logging

import pandas as pd

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.selection import selection_table

log = logging.getLogger(__name__)


def select_member(*members, sweep: str, names: list[str], values: dict[str, float], vary: str, criterion: str,
                  attack: str, evaluation: str):
    """``members`` = each member's validation metrics, then each member's model (in ``names`` order); ``attack``:
    the model-selection attack that scored them, stored as ``evaluation`` (``<attack>_validation``).

    Returns the selection table (best first) and the winning model, re-saved as ``<sweep>.model``
    with the sweep, the member, its validation score and the attack behind it in its ``meta``.
    """
    if len(members) != 2 * len(names):
        raise EcgDataError(f"sweep '{sweep}': expected metrics and a model for each of {names}")
    scores = dict(zip(names, members[: len(names)]))
    models = dict(zip(names, members[len(names):]))
    table = selection_table(scores, values, vary=vary, criterion=criterion, scored_by=evaluation)
    best = table.loc[0, "member"]
    model = models[best]
    meta = {**getattr(model, "meta", {}), "sweep": sweep, "selected_member": f"{sweep}.{best}", "vary": vary,
            "value": values[best], "selection": {criterion: float(table.loc[0, criterion]), "split": "validation",
                                                  "attack": attack}}
    log.info("%s: selected %s (%s = %s) with validation %s %.4f under %s (runner-up %s)", sweep, best, vary,
             values[best], criterion, table.loc[0, criterion], attack,
             f"{table.loc[1, 'member']} {table.loc[1, criterion]:.4f}" if len(table) > 1 else "none")
    return pd.DataFrame(table), {"model": model, "meta": meta}
