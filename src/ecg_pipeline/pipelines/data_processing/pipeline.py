"""``data_processing``: ingestion -> segmentation -> resampling -> padding_masking for every database, then
every declared data variant; ``data_<database>``: the same stages for one database alone (its nodes carry the
database's tag); ``data_<variant>``: a variant's stages alone."""

from kedro.pipeline import Pipeline

from ecg_pipeline.errors import EcgDataError

from ..declaration import Declaration, DataSplits

from ..ingestion import create_pipeline as ingestion
from ..padding_masking import create_pipeline as padding_masking
from ..resampling import create_pipeline as resampling
from ..segmentation import create_pipeline as segmentation

#: data pipeline -> what it prepares (MIT-BIH brings the NSTDB noise its models are stressed with)
DATABASES = {
    "mitdb": "MIT-BIH beats and NSTDB noise",
    "cinc2017": "PhysioNet/CinC 2017 records, padded and masked",
    "cpsc2018": "CPSC 2018 12-lead records, padded and masked",
}


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + segmentation() + resampling() + padding_masking()


def create_database_pipelines() -> dict[str, Pipeline]:
    """``data_mitdb``, ``data_cinc2017``, ``data_cpsc2018``: each database's data stages, standing alone."""
    every = create_pipeline()
    return {f"data_{name}": every.only_nodes_with_tags(name) for name in DATABASES}

#: database -> its data template after ingestion, which a variant (``data.<name>.variant_of``) instantiates again
VARIANT_TEMPLATES = {"mitdb": lambda: segmentation() + resampling()}
#: the parameter sections the template reads; a variant reads ``<variant>.<section>`` instead
TEMPLATE_PARAMETERS = ("segmentation", "split", "resampling")


def variant_pipeline(variant: DataSplits) -> Pipeline:
    """``data_<variant>``: its base database's template under namespace ``variant.name`` (outputs
    ``<variant>.mitdb_beats``, ... ``<variant>.mitdb_train_balanced``), from the base's ingested records
    and the variant's own parameter sections."""
    template = VARIANT_TEMPLATES.get(variant.variant_of)
    if template is None:
        raise EcgDataError(f"data variant {variant.name!r}: variant_of={variant.variant_of!r}; a variant can "
                           f"instantiate the template of {sorted(VARIANT_TEMPLATES)}")
    base = template()
    return Pipeline(
        base,
        namespace=variant.name,
        inputs={name for name in base.inputs() if not name.startswith("params:")},
        parameters={f"params:{section}": f"params:{variant.name}.{section}" for section in TEMPLATE_PARAMETERS},
        tags=(f"data_{variant.name}",),
    )


def create_variant_pipelines(declaration: Declaration) -> dict[str, Pipeline]:
    """``data_<variant>`` for every declared data variant."""
    return {f"data_{d.name}": variant_pipeline(d) for d in declaration.data.values() if d.variant_of is not None}
