"""``train_nsr``: NSR-regularised training (seed 001 eq. 7) of the MIT-BIH MLP (beta 0.4) and CNN (beta 0.3),
and of both with the authors' code reduction (``nsr_mlp_code``, ``nsr_cnn_code``)."""

from kedro.pipeline import Pipeline

from ..training import training_pipeline

RUNS = ("nsr_mlp", "nsr_cnn", "nsr_mlp_code", "nsr_cnn_code")  # *_code: the authors' code reduction of eq. (7)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([training_pipeline(run, tags=("train_nsr",)) for run in RUNS])
