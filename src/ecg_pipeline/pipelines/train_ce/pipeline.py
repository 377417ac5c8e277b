"""``train_ce``: plain cross-entropy training of the MIT-BIH MLP and Kachuee CNN (the "CE" baselines)."""

from kedro.pipeline import Pipeline

from ..training import training_pipeline

RUNS = ("ce_mlp", "ce_cnn")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([training_pipeline(run, tags=("train_ce",)) for run in RUNS])
