"""``padding_masking``: the databases of variable-length records (CinC 2017, CPSC 2018) -> splits -> padded
arrays with masks; the steps each database declares with stage ``padding_masking``."""

from kedro.pipeline import Pipeline

from ..data_processing.template import stage_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return stage_pipeline("padding_masking")
