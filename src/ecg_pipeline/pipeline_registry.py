"""Project pipelines: each database's data stages, and the families, attacks, sweeps and report of the one
declaration (``conf/base/parameters_training.yml``, ``parameters_attack.yml``, ``parameters_sweeps.yml``),
and ``main`` (``parameters_main.yml``), what a bare ``kedro run`` runs."""

from __future__ import annotations

from kedro.pipeline import Pipeline

DEFAULT_PIPELINE = "main"


def build_pipelines(declaration=None) -> dict[str, Pipeline]:
    """Every pipeline of the project, built from ``declaration`` (default: the project's configuration)."""
    from ecg_pipeline.pipelines import attack, attack_generation, data_processing, ensemble, evaluate_atk_gan, ingestion
    from ecg_pipeline.pipelines import padding_masking
    from ecg_pipeline.pipelines import report, resampling
    from ecg_pipeline.pipelines import own_model, segmentation, sweep, training, zoo_check
    from ecg_pipeline.pipelines.declaration import load_declaration

    declaration = declaration or load_declaration()
    variants = data_processing.create_variant_pipelines(declaration)
    pipelines = {
        "ingestion": ingestion.create_pipeline(),
        "segmentation": segmentation.create_pipeline(),
        "resampling": resampling.create_pipeline(),
        "padding_masking": padding_masking.create_pipeline(),
        "data_processing": sum(variants.values(), data_processing.create_pipeline()),
        **data_processing.create_database_pipelines(),
        **variants,
        "rpeak_diagnostics": segmentation.create_diagnostics_pipeline(),
        **training.create_pipelines(declaration),
        **({"train_ens": ensemble.create_pipeline(declaration)} if declaration.ensembles else {}),
        "sweep": sweep.create_pipeline(declaration),
        "attack": attack.create_pipeline(declaration),
        "report": report.create_pipeline(declaration),
        "attack_generation": attack_generation.create_pipeline(declaration),
        "evaluate_atk_gan": evaluate_atk_gan.create_pipeline(declaration),
        "report_atk_gan": evaluate_atk_gan.create_report_pipeline(declaration),
        "zoo_check": zoo_check.create_pipeline(),  # the zoo's re-check (python -m ecg_pipeline.zoo check)
        **own_model.create_pipelines(),  # your own model judged: own_model (mitdb_test), own_model_wfdb (wfdb_test)
    }
    if declaration.main is not None:
        pipelines["main"] = main_pipeline(declaration, pipelines)
    return pipelines


def main_pipeline(declaration, pipelines: dict[str, Pipeline]) -> Pipeline:
    """The declared main study end to end: its runs' data, their training (an ensemble's: its members, their cached
    features and its assembly, not its transfer study), their attacks, then the report (ordered after the
    evaluations it shows)."""
    from ecg_pipeline.pipelines import report

    main = declaration.main
    runs = [declaration.model_runs[name] for name in main.runs]
    data = Pipeline([])
    for name in dict.fromkeys(run.data.name for run in runs):
        data += pipelines.get(f"data_{name}", Pipeline([]))
    train = Pipeline([])
    for run in runs:
        if run.name in declaration.ensembles:
            train += pipelines["train_ens"].to_outputs(f"{run.name}.model")
        else:
            train += pipelines[declaration.families[run.family].pipeline].only_nodes(f"{run.name}.train")
    certified = [f"{run.name}.certify.certify" for run in runs if declaration.certified(run)]
    judged = {n.name for n in pipelines["attack"].nodes}
    noise = [name for run in runs if (name := f"{run.name}.record_noise.record_noise") in judged]
    attack = pipelines["attack"].only_nodes(*(f"{e}.evaluate" for e in main.evaluations), *certified, *noise)
    return data + train + attack + report.create_pipeline(declaration, main)


class ProjectPipelines(dict):
    """The registry; a name that is not in it is a KeyError listing every name there is (Kedro adds its
    close matches, and `kedro registry list` shows them too)."""

    def __missing__(self, name: str):
        names = ", ".join(sorted(n for n in self if not n.startswith("__")))
        raise KeyError(f"no pipeline named {name!r}; this project's pipelines are: {names}")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = ProjectPipelines(build_pipelines())
    pipelines["__default__"] = pipelines.get(DEFAULT_PIPELINE, pipelines["data_processing"])
    return pipelines
