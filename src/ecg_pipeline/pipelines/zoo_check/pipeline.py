"""``kedro run --pipelines=zoo_check [--params=data_root=../shared/data]``: every zoo model, every stored evaluation,
re-run and compared per beat; the run fails naming each mismatch. A thin wrapper: the work is
:func:`ecg_pipeline.zoo.check_zoo` (``python -m ecg_pipeline.zoo check`` runs the same code with --entries and
--attacks)."""

from __future__ import annotations

import logging

from kedro.pipeline import Pipeline, node

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.zoo import check_zoo

log = logging.getLogger(__name__)


def check_the_zoo(data_root: str) -> None:
    """Re-check the whole zoo on the raw data under ``data_root``; raise naming every mismatch."""
    outcomes = check_zoo(data_root=data_root, report=log.info)
    bad = [o.line for o in outcomes if not o.ok]
    if bad:
        raise EcgDataError(f"zoo check: {len(bad)} of {len(outcomes)} evaluations did not reproduce:\n" + "\n".join(bad))


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(check_the_zoo, inputs="params:data_root", outputs=None, name="zoo_check")])
