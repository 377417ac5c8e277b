"""``segmentation``: R peaks -> AAMI-labelled beats, the train/validation/test split; ``rpeak_diagnostics``:
the XQRS detector's agreement with the reference annotations."""

from kedro.pipeline import Node, Pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.segment, ["mitdb_records", "params:segmentation"], "mitdb_beats", name="segment_beats"),
            Node(
                nodes.split,
                ["mitdb_beats", "params:split"],
                ["mitdb_train", "mitdb_validation", "mitdb_test"],
                name="split_beats",
            ),
        ],
        tags=("segmentation", "mitdb"),
    )


def create_diagnostics_pipeline(**kwargs) -> Pipeline:
    """``rpeak_diagnostics``: the XQRS detector against the reference annotations (minutes on all 48
    records), off the data path: the beats are cut at the reference annotations."""
    return Pipeline(
        [Node(nodes.measure_detector, ["mitdb_records", "params:rpeak_detector"], "rpeak_detector_agreement",
              name="measure_rpeak_detector")],
        tags="rpeak_diagnostics",
    )
