"""The data template: every declared database (``data.databases``) -> its Kedro nodes, by stage.

One ingestion node per raw folder read (``ingest_<name>``, tagged ``ingestion`` and the database) and one
node per recipe step (named as declared, tagged with its stage and the database); node and dataset names
are the declaration's, so the lineage and the provenance stamps do not depend on this module."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ecg_pipeline.data import databases
from ecg_pipeline.data.databases import Database

from .nodes import IngestNode, StepNode


def ingest_nodes(database: Database) -> list[Node]:
    return [Node(IngestNode(ingest), [f"{ingest.raw}_raw", f"params:{ingest.section}"], ingest.output,
                 name=ingest.name, tags=database.name) for ingest in database.ingests]


def step_nodes(database: Database, stage: str | None = None) -> list[Node]:
    """The database's steps (of ``stage`` only, when given)."""
    return [Node(StepNode(step), [*step.inputs, f"params:{step.section}"],
                 list(step.outputs) if step.parts is not None else step.outputs[0], name=step.name,
                 tags=(step.stage, database.name))
            for step in database.steps if stage is None or step.stage == stage]


def ingestion_pipeline() -> Pipeline:
    """``ingestion``: every database's raw folders -> record tables (a ``standalone`` database's only in its own
    ``data_<name>``)."""
    return Pipeline([n for db in databases.in_data_processing().values() for n in ingest_nodes(db)],
                    tags="ingestion")


def stage_pipeline(stage: str) -> Pipeline:
    """``segmentation``, ``resampling``, ``padding_masking``: that stage's steps, every database together."""
    return Pipeline([n for db in databases.in_data_processing().values() for n in step_nodes(db, stage)], tags=stage)


def database_pipeline(database: Database) -> Pipeline:
    """``data_<name>``: the database's ingestion and recipe, standing alone."""
    return (Pipeline(ingest_nodes(database), tags="ingestion")
            + sum((Pipeline(step_nodes(database, stage), tags=stage) for stage in databases.STAGES), Pipeline([])))
