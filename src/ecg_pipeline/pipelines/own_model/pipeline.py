"""``kedro run --pipelines=own_model --params=own_model.source=<file>``: your own model (a TorchScript file, a
state dict of a registry model, or ``zoo:<entry>``) judged on MIT-BIH's test split by the full worst-case
evaluation; ``own_model_wfdb`` judges it on your own records (``wfdb_test``, written by ``data_wfdb``): the
cross-database evaluation. Parameters: ``conf/base/parameters_own_model.yml``; docs/own-model.md."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from ..params import bound_node_function
from .nodes import judge_own_model

#: pipeline name -> (the split it judges on, the prefix of its outputs)
SPLITS = {"own_model": ("mitdb_test", "own_model"), "own_model_wfdb": ("wfdb_test", "own_model_wfdb")}


def create_pipeline(split: str = "mitdb_test", prefix: str = "own_model") -> Pipeline:
    return Pipeline([node(
        bound_node_function(judge_own_model, split=split),
        inputs=[split, "params:own_model", "params:attacks", "params:data.mitdb.attack_defaults", "params:certify"],
        outputs=[f"{prefix}_metrics", f"{prefix}_outcomes", f"{prefix}_headline"],
        name=f"{prefix}.judge", tags=["own_model"])])


def create_pipelines() -> dict[str, Pipeline]:
    """Both: ``own_model`` (MIT-BIH's test split) and ``own_model_wfdb`` (your own records)."""
    return {name: create_pipeline(split, prefix) for name, (split, prefix) in SPLITS.items()}
