"""kedro-viz draws the attack pipeline: one collapsed modular pipeline per model, not ~900 loose elements.

kedro-viz draws a namespace's unconsumed outputs outside its box; the attack pipeline closes each model's namespace
with ``<run>.judged``, which reads the run's metrics and examples. Counted with kedro-viz's own modular-pipeline
tree (what ``kedro viz build`` exports as ``api/pipelines/attack``): its frontend asks for a click before drawing
a graph whose visible nodes + 1.5 x edges exceed 1,000 (parameters are hidden by default). Before the change:
934 top-level elements, 1,007 edges.
"""

from __future__ import annotations

import pytest

from ecg_pipeline.pipelines import attack as attack_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration

pytest.importorskip("kedro_viz")


def top_level(pipeline) -> tuple[set[str], set[tuple[str, str]]]:
    from kedro_viz.data_access.repositories.modular_pipelines import ModularPipelinesRepository
    from kedro_viz.utils import _hash_input_output  # the ids kedro-viz draws

    repo = ModularPipelinesRepository()
    repo.parameters = {_hash_input_output(d) for d in pipeline.datasets() if d.startswith("params:") or d == "parameters"}
    repo.populate_tree(pipeline)
    tree = repo.as_dict()
    visible = {c.id for c in tree["__root__"].children if c.type.value != "parameters" and c.id not in repo.parameters}
    edges = {(i, m) for m in visible if m in tree for i in tree[m].inputs if i not in repo.parameters}
    edges |= {(m, o) for m in visible if m in tree for o in tree[m].outputs}
    return visible, edges


def test_attack_pipeline_collapses_per_model(base_parameters):
    declaration = read_declaration(base_parameters)
    attack = attack_pipelines.create_pipeline(declaration)
    visible, edges = top_level(attack)
    runs = {node.namespace.split(".")[0] for node in attack.nodes}
    assert {f"{run}" for run in runs} <= visible  # one box per model
    assert len(visible) < 3 * len(runs) + 20, len(visible)
    assert len(visible) + 1.5 * len(edges) < 1000, (len(visible), len(edges))
    # dataset names unchanged: the report and the other pipelines read them
    assert "ce_mlp.pgd_nsr.metrics" in attack.all_outputs() and "ce_mlp.pgd_nsr.examples" in attack.all_outputs()
    assert {"ce_mlp.judged", "nsr_mlp.judged"} <= attack.outputs()


def test_judged_summarises_acc_robust():
    from ecg_pipeline.pipelines.attack.pipeline import judged

    assert judged("ce_mlp", pgd__metrics={"acc_robust_balanced": 0.4}, pgd__examples={},
                  square__metrics={}, square__examples={}) == {"pgd": 0.4, "square": None}


def test_judged_node_runs_on_the_run_instances(base_parameters):
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    attack = attack_pipelines.create_pipeline(read_declaration(base_parameters))
    node = attack.only_nodes("ce_mlp.judged")
    inputs = node.inputs()
    assert "ce_mlp.pgd_nsr.metrics" in inputs and "ce_mlp.pgd_nsr.examples" in inputs
    assert not [name for name in inputs if not name.startswith("ce_mlp.")]
    catalog = DataCatalog({name: MemoryDataset({"acc_robust_balanced": 0.5} if name.endswith(".metrics") else {})
                           for name in inputs})
    catalog["ce_mlp.judged"] = MemoryDataset()
    SequentialRunner().run(node, catalog)
    summary = catalog.load("ce_mlp.judged")
    assert summary["pgd_nsr"] == 0.5 and len(summary) == len(inputs) // 2
