"""``train_jacob``: Jacobian-regularised training (seed 001 eq. 12) of the MIT-BIH MLP (lambda 0.9) and CNN (0.7)."""

from kedro.pipeline import Pipeline

from ..training import training_pipeline

RUNS = ("jacob_mlp", "jacob_cnn")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([training_pipeline(run, tags=("train_jacob",)) for run in RUNS])
