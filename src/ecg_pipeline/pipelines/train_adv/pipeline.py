"""``train_adv``: 10-step PGD adversarial training (seed 001 eq. 10) of the MIT-BIH MLP and CNN (eps 0.1)."""

from kedro.pipeline import Pipeline

from ..training import training_pipeline

RUNS = ("adv_mlp", "adv_cnn")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([training_pipeline(run, tags=("train_adv",)) for run in RUNS])
