"""``report``: the robustness report, from stored artifacts only (never recomputes an attack).

Inputs. Kedro builds pipelines before it reads parameters, so the node inputs cannot come from
``params:report``. They come from the pipelines that produce them: every ``<run>.<attack>.metrics`` /
``.examples`` for the attack pipeline's ``model_runs()`` (trained runs and sweep selections) x ``ATTACKS``, and
every trained run's ``<run>.history`` (``RUNS`` of train_ce/nsr/jacob/adv): exactly what a
registered pipeline writes, so every input has a producer in the lineage. ``params:report``
(``conf/base/parameters_report.yml``) then chooses, at run time, which of them the report shows;
a requested run the attack pipeline does not evaluate yet is reported as absent, with the change
that makes it evaluated. A run or attack added to those constants is available to the report with
no change here.

The inputs are read under the transcoded names ``<dataset>@report``
(``ecg_pipeline.datasets.OptionalDataset``, ``conf/base/catalog_report.yml``): the same file as the
producer's dataset, so kedro-viz draws one dataset node between the attack node and the report, but
a file that does not exist yet loads as "absent" instead of stopping the run. The report then lists
it with the command that produces it (``report.strict: true`` makes it an error). One consequence
of transcoding: a single Pipeline object may not contain both the report and the attack or
training pipelines (Kedro refuses a dataset named with and without ``@``); run them one after the
other.

Figures go through ``matplotlib.MatplotlibDataset`` (``report.<set>_figures@matplotlib``, versioned
folders); the HTML node reads them back as ``report.<set>_figures@png``, so ``--from-nodes=report.html``
rebuilds the page from stored figures alone.
"""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from ..attack.pipeline import ATTACKS, model_runs
from ..train_adv.pipeline import RUNS as ADV_RUNS
from ..train_ce.pipeline import RUNS as CE_RUNS
from ..train_jacob.pipeline import RUNS as JACOB_RUNS
from ..train_nsr.pipeline import RUNS as NSR_RUNS
from ..params import bound_node_function
from . import nodes

PRODUCERS = nodes.Producers(
    evaluated_runs=model_runs(),
    trained_runs={run: pipeline for pipeline, runs in (("train_ce", CE_RUNS), ("train_nsr", NSR_RUNS),
                                                       ("train_jacob", JACOB_RUNS), ("train_adv", ADV_RUNS))
                  for run in runs},
    attacks=tuple(ATTACKS),
)


def _stored(names: list[str]) -> dict[str, str]:
    """Node inputs ``{dataset name: its transcoded, absence-tolerant catalog entry}``."""
    return {name: f"{name}@report" for name in names}


def report_inputs(producers: nodes.Producers = PRODUCERS) -> dict[str, list[str]]:
    """Every stored artifact the report can read, by kind: exactly those a registered pipeline writes."""
    runs, attacks = producers.evaluated_runs, producers.attacks
    return {
        "metrics": [f"{run}.{attack}.metrics" for run in runs for attack in attacks],
        "examples": [f"{run}.{attack}.examples" for run in runs for attack in attacks],
        "history": [f"{run}.history" for run in producers.trained_runs],
    }


def _node(func, inputs: dict[str, str], outputs, name: str, *, reads_params: bool = True) -> Node:
    """Node ``report.<name>``; a node that reads params:report also gets the producers (for its commands)."""
    if reads_params:
        func, inputs = bound_node_function(func, producers=PRODUCERS), {"params": "params:report", **inputs}
    with warnings.catch_warnings():
        # The project's dataset names are dotted on purpose (<run>.<attack>.metrics, the namespaces of
        # their producers); Kedro warns about dots in names given to a Node directly.
        warnings.filterwarnings("ignore", message="One or more dataset names contain", category=UserWarning)
        return Node(func, inputs, outputs, name=name, namespace="report", tags=("report",))


def create_pipeline(**kwargs) -> Pipeline:
    stored = report_inputs()
    metrics, examples, history = _stored(stored["metrics"]), _stored(stored["examples"]), _stored(stored["history"])
    return Pipeline([
        _node(nodes.inventory, {**metrics, **examples, **history}, "report.inventory", "inventory"),
        _node(nodes.robustness_curves, metrics, "report.curve_figures@matplotlib", "robustness_curves"),
        _node(nodes.robustness_tables, metrics, ["report.robustness_tables", "report.robustness_tables_md"],
              "robustness_tables"),
        _node(nodes.per_class_tables, metrics, ["report.per_class_tables", "report.per_class_tables_md"],
              "per_class_tables"),
        _node(nodes.adversarial_examples, {**metrics, **examples}, "report.example_figures@matplotlib",
              "adversarial_examples"),
        _node(nodes.training_curves, history, "report.training_figures@matplotlib", "training_curves"),
        _node(nodes.html_report,
              {"params": "params:report", "inventory": "report.inventory", "robustness": "report.robustness_tables",
               "per_class": "report.per_class_tables", "curves": "report.curve_figures@png",
               "examples": "report.example_figures@png", "training": "report.training_figures@png"},
              "report.html", "html", reads_params=False),
    ])
