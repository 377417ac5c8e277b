"""Kedro runners of the project: :class:`DaskRunner` runs the pipeline's nodes on a ``dask.distributed`` cluster
(``kedro run --runner=ecg_pipeline.runners.DaskRunner``; docs/cluster.md).

- :mod:`.dask_runner`: the runner (the client side: the dependency graph, submission, the session's hooks);
- :mod:`.worker`: what a Dask worker runs for one node (the project bootstrapped, the node's hooks);
- :mod:`.versions`: this run's version folders of a node's outputs, checked and removed (no half version).

``dask[distributed]`` is an optional dependency (the ``cluster`` extra): importing this package without it fails
with that hint, only when the runner is asked for.
"""

from __future__ import annotations

import importlib.util

from ecg_pipeline.errors import EcgConfigError

if importlib.util.find_spec("distributed") is None:  # pragma: no cover - the extra is installed in CI
    raise EcgConfigError("--runner=ecg_pipeline.runners.DaskRunner needs Dask: "
                         "python -m pip install -e \".[cluster]\"")

from .dask_runner import SCHEDULER_VARIABLE, DaskRunner  # noqa: E402

__all__ = ["SCHEDULER_VARIABLE", "DaskRunner"]
