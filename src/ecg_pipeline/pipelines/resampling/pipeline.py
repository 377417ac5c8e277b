"""``resampling``: balance the MIT-BIH training split (upsample / SMOTE / none), the steps each database
declares with stage ``resampling``. Validation and test are untouched."""

from kedro.pipeline import Pipeline

from ..data_processing.template import stage_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return stage_pipeline("resampling")
