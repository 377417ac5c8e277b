"""``data_processing``: ingestion -> segmentation -> resampling -> padding_masking, in one run."""

from kedro.pipeline import Pipeline

from ..ingestion import create_pipeline as ingestion
from ..padding_masking import create_pipeline as padding_masking
from ..resampling import create_pipeline as resampling
from ..segmentation import create_pipeline as segmentation


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + segmentation() + resampling() + padding_masking()
