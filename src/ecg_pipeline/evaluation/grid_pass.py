"""How an evaluation runs an attack over its eps grid: the nested pass of an attack that has one
(``attack.over_grid``), the parameters that pass takes, and batches in threads. Shared by the evaluation
(:mod:`.robustness`) and the escalation (:mod:`.escalation`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ecg_pipeline.attacks.autoattack import INDEPENDENT  # noqa: F401 (the nested pass's key, read by .robustness)
from ecg_pipeline.runtime import torch_threads


def nested_form(attack: Callable, params: dict) -> Callable | None:
    """The attack's nested pass over an eps grid (``attack.over_grid``, e.g. ``attacks.autoattack``) when its params
    say ``nested: true``; otherwise (the default) every eps is attacked independently. The nested pass replays the
    per-eps calls bit for bit and carries their breaks upward, so it is never weaker (``attacks.autoattack``)."""
    over_grid = getattr(attack, "over_grid", None)
    return over_grid if over_grid is not None and params.get("nested", False) else None


def grid_call(params: dict) -> dict:
    """``params`` without the evaluation-level settings (``nested``, ``workers``) the nested pass does not take."""
    return {k: v for k, v in params.items() if k not in ("nested", "workers")}


def in_threads(work: Callable, items: Sequence, workers: int):
    """``work(item)`` for every item, in order: in ``workers`` threads each with one torch thread (the tiny models'
    fastest setting, ecg_pipeline.runtime) when ``workers`` > 1. Each item is seeded by its own position, so the
    results do not depend on ``workers``; the caller holds the model ``frozen`` (nested ``frozen`` in threads would
    restore each other's flags)."""
    if workers <= 1 or len(items) <= 1:
        yield from (work(item) for item in items)
        return
    with torch_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(work, items)
