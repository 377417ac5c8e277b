"""``TrainingProgressHook``: a line as each training run of a ``kedro run`` starts, saying which of how many.

Each run's progress bar shows the ETA of that run; this line says how many runs are left after it.
With ``ParallelRunner`` the nodes run (and their hooks are called) in other processes, which never
saw the pipeline: there the line is left out.
"""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from .nodes import invocation, train

log = logging.getLogger(__name__)


def is_training_node(node: Node) -> bool:
    return getattr(node.func, "func", node.func) is train  # the template binds it with functools.partial


class TrainingProgressHook:
    def __init__(self) -> None:
        self._total = self._started = 0

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._total = sum(is_training_node(node) for node in pipeline.nodes)
        self._started = 0
        invocation.clear()
        invocation.update(env=run_params.get("env"), runtime_params=run_params.get("runtime_params"))

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        if self._total and is_training_node(node):
            self._started += 1
            log.info("training run %d of %d: %s", self._started, self._total, node.namespace)
