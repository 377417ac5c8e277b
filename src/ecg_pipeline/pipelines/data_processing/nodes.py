"""The node functions of every database's data stages: one callable per declared ingest or step
(``data.databases``), so a new database brings no node code.

They are small classes, not closures or partials: they pickle (``ParallelRunner``), and the ProvenanceHook
stamps a partial's bound keywords as configuration, which a declaration is not."""

from __future__ import annotations

from pathlib import Path

from ecg_pipeline.data.databases import Ingest, Step
from ecg_pipeline.data.provenance import stamp
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.params import call_with_params


class IngestNode:
    """``(raw folder, params) -> record table``, stamped with the folder it came from (``data.provenance``)."""

    def __init__(self, ingest: Ingest):
        self.ingest = ingest
        self.__name__ = self.__qualname__ = ingest.function.__name__  # logs and kedro-viz show the reader
        self.__annotations__ = {}  # Kedro's type validation reads a node function's hints: none to check here

    def __call__(self, source: Path, params: dict):
        ingest = self.ingest
        where = ingest.locate(source) if ingest.locate is not None else source
        return stamp(call_with_params(ingest.function, where, params=params, section=ingest.section), source)


class StepNode:
    """``(*inputs, params) -> output(s)``: the step's function with its parameter section (and the keywords
    the step fixes); a split's parts in the declared output order."""

    def __init__(self, step: Step):
        self.step = step
        self.__name__ = self.__qualname__ = step.function.__name__
        self.__annotations__ = {}

    def __call__(self, *inputs):
        step = self.step
        *data, params = inputs
        params = dict(params or {})
        for key, purpose in step.required.items():
            if params.get(key) is None:
                raise EcgDataError(f"parameters '{step.section}.{key}': expected {purpose}, got none")
        result = call_with_params(step.function, *data, params={**params, **step.fixed}, section=step.section)
        if step.parts is None:
            return result
        return tuple(result[part] for part in step.parts)
