"""``segmentation``: R peaks -> AAMI-labelled beats, the train/validation/test split; ``rpeak_diagnostics``:
the XQRS detector's agreement with the reference annotations."""

from kedro.pipeline import Node, Pipeline

from ..data_processing.template import stage_pipeline
from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """The steps each database declares with stage ``segmentation`` (MIT-BIH: ``segment_beats``, ``split_beats``)."""
    return stage_pipeline("segmentation")


def create_diagnostics_pipeline(**kwargs) -> Pipeline:
    """``rpeak_diagnostics``: the XQRS detector against the reference annotations (minutes on all 48
    records), off the data path: the beats are cut at the reference annotations."""
    return Pipeline(
        [Node(nodes.measure_detector, ["mitdb_records", "params:rpeak_detector"], "rpeak_detector_agreement",
              name="measure_rpeak_detector")],
        tags="rpeak_diagnostics",
    )
