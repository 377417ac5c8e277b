"""``DaskRunner``: a Kedro runner that runs the pipeline's nodes on a ``dask.distributed`` cluster.

``kedro run --runner=ecg_pipeline.runners.DaskRunner`` starts a ``LocalCluster`` on this machine (one worker
process per core, one thread each) and closes it after the run; with a scheduler address, from
``--runner-params=address=tcp://host:8786`` or the environment variable ``ECG_DASK_SCHEDULER``, it submits to
that cluster instead (workers started with ``dask worker tcp://host:8786`` in the project folder, on the same
shared ``data/``). See docs/cluster.md.

The pattern of Kedro's Dask deployment guide: the client walks the pipeline's dependency graph and submits each
node as one Dask task; the workers load their inputs from the catalog and save their outputs to it. What this
runner adds to the guide's:

- **hooks where nodes run**: each worker is bootstrapped with the project's settings and runs the node through
  Kedro's ``Task`` with the project's hooks (``runners.worker``); the stored-output hooks that need the
  session (provenance stamps, run tracking) are called on the client when the node is done;
- **ephemeral datasets** (MemoryDatasets between nodes) travel as task results, worker to worker, never through
  the client;
- **one version per run, never half a version**: every node saves with the session's one save version; a node
  that reads a stored output of this run refuses a version another run wrote meanwhile; a node whose worker died
  is retried by Dask after its partial version folders are removed, and a node the run gives up on has this run's
  version folders of all its outputs removed (``runners.versions``);
- **a failure stops submitting**, lets the nodes already running finish (their versions are complete and
  stamped) and then raises the first error, the node named.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING, Any

from kedro.runner import AbstractRunner

from ecg_pipeline.errors import EcgConfigError, EcgDataError

from . import versions
from .worker import ClientState, ProjectBootstrap, run_node

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

#: the environment variable that names a running scheduler (``tcp://host:8786``); unset: a LocalCluster
SCHEDULER_VARIABLE = "ECG_DASK_SCHEDULER"


class DaskRunner(AbstractRunner):
    """Run a Kedro pipeline on a Dask cluster: a ``LocalCluster`` of ``n_workers`` processes by default, or the
    scheduler at ``address`` (default: ``$ECG_DASK_SCHEDULER``), or an existing ``client``.

    Args:
        address: a running scheduler's address; the run leaves that cluster running.
        n_workers: worker processes of the LocalCluster (default: the CPU count); ignored with an address.
        threads_per_worker: threads of each LocalCluster worker (1: the project's nodes set their own torch
            threads, ``num_threads`` in the parameters).
        client: a ``distributed.Client`` to use as it is (tests, notebooks); the run does not close it.
        return_stored_data: send what each node stored to the client, for the hooks called there (run
            tracking logs metrics and histories from it); default: only when ``ECG_TRACKING=1``.
        is_async: Kedro's asynchronous loading and saving inside each node's task.
    """

    def __init__(self, address: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1,
                 client: Any = None, return_stored_data: bool | None = None, is_async: bool = False):
        super().__init__(is_async=is_async)
        self._address = address or os.environ.get(SCHEDULER_VARIABLE) or None
        if self._address is not None and "://" not in str(self._address):
            raise EcgConfigError(f"DaskRunner address {self._address!r} (from --runner-params=address=... or "
                                 f"{SCHEDULER_VARIABLE}): expected a scheduler address such as tcp://host:8786")
        if n_workers is not None and int(n_workers) < 1:
            raise EcgConfigError(f"DaskRunner n_workers must be >= 1, got {n_workers}")
        self._n_workers = int(n_workers) if n_workers is not None else None
        self._threads_per_worker = int(threads_per_worker)
        self._client = client
        self._return_stored = return_stored_data

    # ---- the cluster ------------------------------------------------------------------------------------------

    def _connect(self):
        """(client, close): the client to submit to, and what closes what this run started."""
        from distributed import Client, LocalCluster

        if self._client is not None:
            return self._client, lambda: None
        if self._address is not None:
            try:
                client = Client(self._address, timeout="30s")
            except OSError as err:
                raise EcgConfigError(f"DaskRunner: no Dask scheduler answers at {self._address} ({err}); start one "
                                     f"(`dask scheduler`) or unset {SCHEDULER_VARIABLE} for a local cluster") from None
            return client, client.close
        workers = self._n_workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=workers, threads_per_worker=self._threads_per_worker, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        self._logger.info("DaskRunner: a LocalCluster of %d worker process(es), %d thread(s) each",
                          workers, self._threads_per_worker)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close

    # ---- AbstractRunner ---------------------------------------------------------------------------------------

    def _get_executor(self, max_workers: int):  # the nodes go to Dask, not to an executor
        return None

    def _run(self, pipeline: Pipeline, catalog, hook_manager=None, run_id: str | None = None) -> None:
        from distributed import wait

        client, close = self._connect()
        try:
            self._submit_all(client, wait, pipeline, catalog, hook_manager, run_id)
        finally:
            close()

    def _submit_all(self, client, wait, pipeline: Pipeline, catalog, hook_manager, run_id) -> None:
        from ecg_pipeline.tracking import tracking_enabled

        state = ClientState.capture()
        client.register_plugin(ProjectBootstrap(state), name=ProjectBootstrap.name)  # idempotent per worker
        return_stored = tracking_enabled() if self._return_stored is None else bool(self._return_stored)
        dependencies = pipeline.node_dependencies
        produced = set(pipeline.all_outputs())
        load_counts = Counter(chain.from_iterable(n.inputs for n in pipeline.nodes))
        todo, done, futures = set(dependencies), set(), {}
        results: dict[str, Any] = {}    # node name -> its (Dask) future, handed to the nodes that read it
        errors: list[tuple[Node, BaseException]] = []
        total = len(dependencies)
        while True:
            ready = set() if errors else {n for n in todo if dependencies[n] <= done}
            todo -= ready
            for node in sorted(ready, key=lambda n: n.name):
                in_run = [i for i in node.inputs if i in produced and versions.is_versioned(catalog.get(i))]
                upstream = [results[d.name] for d in dependencies[node]]
                futures[client.submit(run_node, node, catalog, run_id, self._is_async, state, upstream, in_run,
                                      return_stored, key=f"{node.name}-{run_id or 'run'}", pure=False)] = node
            if not futures:
                break
            finished = wait(list(futures), return_when="FIRST_COMPLETED").done
            for future in finished:
                node = futures.pop(future)
                try:
                    result = future.result()
                except BaseException as error:  # noqa: BLE001 - raised below, after the running nodes finished
                    errors.append((node, error))
                    self._give_up(node, catalog, error)
                    continue
                results[node.name] = future
                done.add(node)
                for name, data in result["stored"].items():  # the session's hooks: provenance stamps, tracking
                    hook_manager.hook.after_dataset_saved(dataset_name=name, data=data, node=node)
                self._logger.info("Completed node: %s (worker pid %s)", node.name, result["worker"])
                self._logger.info("Completed %d out of %d tasks", len(done), total)
                self._release(node, catalog, load_counts, pipeline, results, dependencies)
        if errors:
            self._suggest_resume_scenario(pipeline, done, catalog)
            node, error = errors[0]
            if type(error).__name__ == "KilledWorker":
                raise EcgDataError(f"node {node.name}: every worker that ran it died ({error}); this run's versions "
                                   "of its outputs were removed; run the same command again") from error
            raise error
        if todo:
            self._raise_runtime_error(todo, done, set(), None)

    def _give_up(self, node: Node, catalog, error: BaseException) -> None:
        removed = versions.remove_run_versions(catalog, list(node.outputs))
        self._logger.error("node %s failed (%s: %s)%s", node.name, type(error).__name__, error,
                           f"; removed this run's partial versions {', '.join(map(str, removed))}" if removed else "")

    @staticmethod
    def _release(node: Node, catalog, load_counts: Counter, pipeline: Pipeline, results: dict,
                 dependencies: dict) -> None:
        """Forget what no node still to run reads: Kedro's dataset release, and the Dask results of nodes whose
        readers are all done (the cluster frees their ephemeral outputs)."""
        AbstractRunner._release_datasets(node, catalog, load_counts, pipeline)
        for parent in dependencies[node]:
            if all(load_counts[o] < 1 for o in parent.outputs):
                results.pop(parent.name, None)
