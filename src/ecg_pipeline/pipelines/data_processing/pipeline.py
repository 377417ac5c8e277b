"""``data_processing``: ingestion -> segmentation -> resampling -> padding_masking for every database, then
every declared data variant; ``data_<database>``: the same stages for one database alone (its nodes carry the
database's tag); ``data_<variant>``: a variant's stages alone. The databases are declared in ``data/<name>/``
(``data.databases``); nothing here names one."""

from kedro.pipeline import Pipeline

from ecg_pipeline.data import databases
from ecg_pipeline.errors import EcgDataError

from ..declaration import Declaration, DataSplits
from .template import database_pipeline, ingestion_pipeline, stage_pipeline, step_nodes


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion_pipeline() + sum((stage_pipeline(stage) for stage in databases.STAGES), Pipeline([]))


def create_database_pipelines() -> dict[str, Pipeline]:
    """``data_<name>`` for every declared database (``data_mitdb``, ``data_cinc2017``, ``data_cpsc2018``)."""
    return {db.pipeline: database_pipeline(db) for db in databases.declared().values()}


def variant_pipeline(variant: DataSplits) -> Pipeline:
    """``data_<variant>``: its base database's steps under namespace ``variant.name`` (MIT-BIH: outputs
    ``<variant>.mitdb_beats``, ... ``<variant>.mitdb_train_balanced``), from the base's ingested records
    and the variant's own parameter sections (``<variant>.segmentation``, ...)."""
    templates = {name: db for name, db in databases.declared().items() if db.variant_template}
    database = templates.get(variant.variant_of)
    if database is None:
        raise EcgDataError(f"data variant {variant.name!r}: variant_of={variant.variant_of!r}; a variant can "
                           f"instantiate the template of {sorted(templates)}")
    base = Pipeline(step_nodes(database))
    return Pipeline(
        base,
        namespace=variant.name,
        inputs={name for name in base.inputs() if not name.startswith("params:")},
        parameters={f"params:{section}": f"params:{variant.name}.{section}" for section in database.step_sections()},
        tags=(f"data_{variant.name}",),
    )


def create_variant_pipelines(declaration: Declaration) -> dict[str, Pipeline]:
    """``data_<variant>`` for every declared data variant."""
    return {f"data_{d.name}": variant_pipeline(d) for d in declaration.data.values() if d.variant_of is not None}
