"""``resampling``: balance the MIT-BIH training split (upsample / SMOTE / none). Validation and test are untouched."""

from kedro.pipeline import Node, Pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [Node(nodes.balance, ["mitdb_train", "params:resampling"], "mitdb_train_balanced", name="balance_training_set")],
        tags=("resampling", "mitdb"),
    )
