"""Sweep nodes: read the sweep definitions, and pick the winner from the members' stored evaluations."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.selection import check_sweep, selection_table

log = logging.getLogger(__name__)


def read_sweeps(conf_dir: Path | str | None = None, env: str | None = None) -> dict[str, dict]:
    """The ``sweeps`` section of the project's parameters, as the configured loader merges it.

    Pipelines are registered before a session loads its configuration, so this reads the
    project's ``conf`` folder itself: ``./conf`` (Kedro runs from the project root), environment
    ``$KEDRO_ENV`` over ``base`` when that variable is set.
    """
    from kedro.framework.project import settings

    conf_dir = Path(conf_dir) if conf_dir is not None else Path.cwd() / settings.CONF_SOURCE
    if not (conf_dir / "base").is_dir():
        log.warning("no %s/base folder here (run kedro from the project root): no sweeps registered", conf_dir)
        return {}
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(conf_dir), env=env or os.getenv("KEDRO_ENV"),
                                          **settings.CONFIG_LOADER_ARGS)
    sweeps = dict(loader["parameters"].get("sweeps") or {})
    for name, spec in sweeps.items():
        if "." in name:
            raise EcgDataError(f"sweep '{name}': a sweep name may not contain '.' (Kedro namespaces are dot-separated)")
        check_sweep(name, spec)
    return sweeps


def select_member(*members, sweep: str, names: list[str], values: dict[str, float], vary: str, criterion: str):
    """``members`` = each member's validation metrics, then each member's model (in ``names`` order).

    Returns the selection table (best first) and the winning model, re-saved as ``<sweep>.model``
    with the sweep, the member and its validation score in its ``meta``.
    """
    if len(members) != 2 * len(names):
        raise EcgDataError(f"sweep '{sweep}': expected metrics and a model for each of {names}")
    scores = dict(zip(names, members[: len(names)]))
    models = dict(zip(names, members[len(names):]))
    table = selection_table(scores, values, vary=vary, criterion=criterion)
    best = table.loc[0, "member"]
    model = models[best]
    meta = {**getattr(model, "meta", {}), "sweep": sweep, "selected_member": f"{sweep}.{best}", "vary": vary,
            "value": values[best], "selection": {criterion: float(table.loc[0, criterion]), "split": "validation"}}
    log.info("%s: selected %s (%s = %s) with validation %s %.4f (runner-up %s)", sweep, best, vary, values[best],
             criterion, table.loc[0, criterion],
             f"{table.loc[1, 'member']} {table.loc[1, criterion]:.4f}" if len(table) > 1 else "none")
    return pd.DataFrame(table), {"model": model, "meta": meta}
