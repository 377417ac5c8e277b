"""Project pipelines: the data stages, and the families, attacks, sweeps and report of the one declaration
(``conf/base/parameters_training.yml``, ``parameters_attack.yml``, ``parameters_sweeps.yml``)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

DEFAULT_PIPELINE = "data_processing"


def build_pipelines(declaration=None) -> dict[str, Pipeline]:
    """Every pipeline of the project, built from ``declaration`` (default: the project's configuration)."""
    from ecg_pipeline.pipelines import attack, data_processing, ingestion, padding_masking, report, resampling
    from ecg_pipeline.pipelines import segmentation, sweep, training
    from ecg_pipeline.pipelines.declaration import load_declaration

    declaration = declaration or load_declaration()
    return {
        "ingestion": ingestion.create_pipeline(),
        "segmentation": segmentation.create_pipeline(),
        "resampling": resampling.create_pipeline(),
        "padding_masking": padding_masking.create_pipeline(),
        "data_processing": data_processing.create_pipeline(),
        **training.create_pipelines(declaration),
        "sweep": sweep.create_pipeline(declaration),
        "attack": attack.create_pipeline(declaration),
        "report": report.create_pipeline(declaration),
    }


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = build_pipelines()
    pipelines["__default__"] = pipelines[DEFAULT_PIPELINE]
    return pipelines
