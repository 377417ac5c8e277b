"""``report``: the robustness report, from stored artifacts only (never recomputes an attack).

Inputs are three collections (``conf/base/catalog.yml``): ``attack_evaluations`` and
``attack_examples`` (every stored ``<run>.<attack>`` of the attack template) and
``training_histories`` (every stored ``<run>.history``), each globbing its producer's own path
pattern. The declared model runs (labels, data, model, the attacks that judge them) are bound to the
nodes when pipelines are registered, so a run or attack added to the declaration appears with no
change here; ``params:report`` (``conf/base/parameters_report.yml``) narrows and lays out the page.

Figures go through ``matplotlib.MatplotlibDataset`` (``report.<set>_figures@matplotlib``, versioned
folders); the HTML node reads them back as ``report.<set>_figures@png``, so ``--from-nodes=report.html``
rebuilds the page from stored figures alone.
"""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from ecg_pipeline.reporting.spec import ModelRun

from ..declaration import Declaration
from ..params import bound_node_function
from . import nodes

EVALUATIONS, EXAMPLES, HISTORIES = "attack_evaluations", "attack_examples", "training_histories"


def model_runs(declaration: Declaration) -> tuple[ModelRun, ...]:
    """What the report needs to know of every declared model run."""
    runs = []
    for run in declaration.model_runs.values():
        if run.sweep is not None:
            train = f"kedro run --pipelines=sweep --namespaces={run.name}"
        else:
            train = f"kedro run --pipelines={declaration.families[run.family].pipeline} --namespaces={run.name}"
        runs.append(ModelRun(run.name, run.label, run.data.name, run.data.title, run.model,
                             declaration.attacks_for(run), train))
    return tuple(runs)


def _node(func, inputs: dict[str, str], outputs, name: str, runs: tuple[ModelRun, ...]) -> Node:
    with warnings.catch_warnings():
        # Dataset names are dotted on purpose (report.<output>); Kedro warns about dots in names given to a Node.
        warnings.filterwarnings("ignore", message="One or more dataset names contain", category=UserWarning)
        return Node(bound_node_function(func, model_runs=runs), {"params": "params:report", **inputs}, outputs,
                    name=name, namespace="report", tags=("report",))


def create_pipeline(declaration: Declaration) -> Pipeline:
    runs = model_runs(declaration)
    return Pipeline([
        _node(nodes.inventory, {"evaluations": EVALUATIONS, "histories": HISTORIES}, "report.inventory", "inventory", runs),
        _node(nodes.headline, {"evaluations": EVALUATIONS, "examples": EXAMPLES},
              ["report.headline", "report.headline_md"], "headline", runs),
        _node(nodes.robustness_curves, {"evaluations": EVALUATIONS, "examples": EXAMPLES},
              "report.curve_figures@matplotlib", "robustness_curves", runs),
        _node(nodes.robustness_tables, {"evaluations": EVALUATIONS, "examples": EXAMPLES},
              ["report.robustness_tables", "report.robustness_tables_md"], "robustness_tables", runs),
        _node(nodes.per_class_tables, {"evaluations": EVALUATIONS},
              ["report.per_class_tables", "report.per_class_tables_md"], "per_class_tables", runs),
        _node(nodes.adversarial_examples, {"evaluations": EVALUATIONS, "examples": EXAMPLES},
              "report.example_figures@matplotlib", "adversarial_examples", runs),
        _node(nodes.training_curves, {"histories": HISTORIES}, "report.training_figures@matplotlib",
              "training_curves", runs),
        _node(nodes.html_report,
              {"inventory": "report.inventory", "headline": "report.headline", "robustness": "report.robustness_tables",
               "per_class": "report.per_class_tables", "curves": "report.curve_figures@png",
               "examples": "report.example_figures@png", "training": "report.training_figures@png"},
              "report.html", "html", runs),
    ])
