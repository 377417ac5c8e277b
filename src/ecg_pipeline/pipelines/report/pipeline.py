"""``report``: the robustness report, from stored artifacts only (never recomputes an attack).

Inputs are three collections (``conf/base/catalog.yml``): ``attack_evaluations`` and
``attack_examples`` (every stored ``<run>.<attack>`` of the attack template) and
``training_histories`` (every stored ``<run>.history``), each globbing its producer's own path
pattern. The declared model runs (labels, data, model, the attacks that judge them) are bound to the
nodes when pipelines are registered, so a run or attack added to the declaration appears with no
change here; ``params:report`` (``conf/base/parameters_report.yml``) narrows and lays out the page.

With ensembles declared (``train_ens``), ``report.ensemble_figures`` also reads ``ensemble_transfers`` (every
stored ``<ensemble>.transfer``) and draws seed 004's Figs. 3-6 per (data, member model) group, and each
ensemble's transferred vs adaptive accuracy; it belongs here, not in ``train_ens``, because the adaptive curves
come from the attack pipeline, which runs after the ensembles are assembled, and the report is where stored
artifacts of several pipelines meet.

Each model's stored certification (``certify_evaluations``: every ``<run>.certify``) and its worst case make the
bracket (node ``report.bracket``: ``bracket.csv``, ``bracket.md`` and one figure per model): the certified lower
bound, the attacks' upper bound and the width between them; models without a certify result are absent.

Each model's per-beat worst case is computed once (node ``report.worst_cases``, versioned JSON with its bootstrap
intervals) and read by the headline, the curves and the tables.

The benchmark table (node ``report.benchmark_table``, :mod:`ecg_pipeline.reporting.table`) aggregates the worst
cases over the seeds and splits each ``runs`` block declares (``pipelines.declaration.expansion``): one row per
defense x model x split, its mean over seeds with an interval, and its paired comparison with CE; beside them, each
run's stored SAP and white-noise ACC_robust (``attack_evaluations``), record-level noise at 12 / 0 dB
(``record_noise_evaluations``) and certified ACC_robust (``certify_evaluations``) as means over seeds with intervals
and paired differences from CE, drawn from their per-beat outcomes (``attack_examples``, ``record_noise_examples``,
``certify_examples``, at the metrics' own version); empty where none is stored. From the same worst cases, node ``report.ranking`` orders
the defenses of each model and split by mean worst-case ACC_robust, with the seed-paired comparison of each neighbour
pair and of each defense against the best, and each defense's rank per split. The page shows both tables.

Figures go through ``matplotlib.MatplotlibDataset`` (``report.<set>_figures@matplotlib``, versioned
folders); the HTML node reads them back as ``report.<set>_figures@png``, so ``--from-nodes=report.html``
rebuilds the page from stored figures alone.
"""

from __future__ import annotations

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from ecg_pipeline.reporting.spec import EnsembleRun, ModelRun
from ecg_pipeline.reporting.table import RunDimensions

from ..declaration import Declaration, MainStudy
from ..params import bound_node_function
from . import nodes

EVALUATIONS, EXAMPLES, HISTORIES = "attack_evaluations", "attack_examples", "training_histories"
TRANSFERS = "ensemble_transfers"
CERTIFIED, CERTIFIED_EXAMPLES = "certify_evaluations", "certify_examples"
RECORD_NOISE, RECORD_NOISE_EXAMPLES = "record_noise_evaluations", "record_noise_examples"


def model_runs(declaration: Declaration, study: MainStudy | None = None) -> tuple[ModelRun, ...]:
    """What the report needs to know of every declared model run (or of ``study``'s runs and attacks only)."""
    runs = []
    for run in declaration.model_runs.values():
        if study is not None and run.name not in study.runs:
            continue
        if run.sweep is not None:
            train = f"kedro run --pipelines=sweep --namespaces={run.name}"
        elif run.name in declaration.ensembles:  # its members, features and assembly carry the ensemble's tag
            train = f"kedro run --pipelines=train_ens --tags={run.name}"
        else:
            train = f"kedro run --pipelines={declaration.families[run.family].pipeline} --namespaces={run.name}"
        attacks = declaration.attacks_for(run)
        if study is not None:
            attacks = tuple(a for a in attacks if a in study.attacks)
        # the evaluation declared with the gradient-masking diagnostics (AutoAttack's): the worst case's beats
        reference = next((a for a in attacks if declaration.attacks[a].diagnostics), None)
        runs.append(ModelRun(run.name, run.label, run.data.name, run.data.title, run.model, attacks, train,
                             split=declaration.judging_data(run).test, reference=reference))
    return tuple(runs)


def run_dimensions(declaration: Declaration, study: MainStudy | None = None) -> dict[str, RunDimensions]:
    """Per reported model run: the ``runs`` (or ``ensembles``) block it expands, the block's label (an ensemble's:
    ``<label> ensemble``), family, model (an ensemble's: its members' architecture, so it is ranked beside the single
    models), split and seed (what the benchmark table groups and pairs by), in declaration order."""
    runs = declaration.model_runs
    return {name: RunDimensions(run.declared_as, declaration.defense_label(run), run.family,
                                declaration.architecture(run), run.split, run.data.name, run.seed)
            for name, run in runs.items() if study is None or name in study.runs}


def ensemble_runs(declaration: Declaration) -> tuple[EnsembleRun, ...]:
    """What the report's ensemble figures need to know of every declared ensemble."""
    runs = declaration.model_runs
    return tuple(EnsembleRun(e.name, e.label, runs[e.name].data.name, runs[e.name].data.title,
                             declaration.runs[e.base].model, e.combine, e.members_of,
                             declaration.attacks_for(runs[e.name]))
                 for e in declaration.ensembles.values())


def _after_inputs(func, *, after=None, **inputs):
    """``func`` on its own inputs; ``after`` is there only to order the node (see :func:`create_pipeline`)."""
    return func(**inputs)


def _stored(*datasets) -> bool:
    return True


GATE = "report.after"


#: The parts of ``params:report`` the worst cases depend on: a figure setting changes no stored worst case (the
#: provenance stamp of ``report.worst_cases`` covers these only).
WORST_CASE_PARAMS = ("runs", "attacks", "pin", "groups", "bootstrap")


def _node(func, inputs: dict[str, str], outputs, name: str, runs: tuple[ModelRun, ...], gated: bool,
          params: dict[str, str] | None = None) -> Node:
    func = bound_node_function(func, model_runs=runs)
    inputs = {**(params or {"params": "params:report"}), **inputs}
    if gated and {EVALUATIONS, EXAMPLES, HISTORIES} & set(inputs.values()):
        func, inputs = update_wrapper(partial(_after_inputs, func), func), {**inputs, "after": GATE}
    return _report_node(func, inputs, outputs, name)


def _report_node(func, inputs, outputs, name: str) -> Node:
    with warnings.catch_warnings():
        # Dataset names are dotted on purpose (report.<output>); Kedro warns about dots in names given to a Node.
        warnings.filterwarnings("ignore", message="One or more dataset names contain", category=UserWarning)
        return Node(func, inputs, outputs, name=name, namespace="report", tags=("report",))


def create_pipeline(declaration: Declaration, study: MainStudy | None = None) -> Pipeline:
    """The report of every declared run; with ``study`` (``main``), the report of its runs and attacks,
    gated on their ``<run>.<attack>.metrics`` (stored before any collection is read), so that one
    ``kedro run`` can train, evaluate and then report."""
    ensembles = ensemble_runs(declaration) if study is None else ()   # the main study has no ensembles
    pipeline = _create_report(model_runs(declaration, study), gated=study is not None, ensembles=ensembles,
                              dimensions=run_dimensions(declaration, study))
    if study is None:
        return pipeline
    after = [f"{evaluation}.metrics" for evaluation in study.evaluations]
    after += [f"{run}.certify.metrics" for run in study.runs if declaration.certified(declaration.model_runs[run])]
    after += [f"{run}.record_noise.metrics" for run in study.runs
              if declaration.records_stressed(declaration.model_runs[run])]
    return Pipeline([_report_node(_stored, list(after), GATE, "wait_for_evaluations"), pipeline])


def _create_report(runs: tuple[ModelRun, ...], gated: bool, ensembles: tuple[EnsembleRun, ...] = (),
                   dimensions: dict[str, RunDimensions] | None = None) -> Pipeline:
    html_inputs = {"inventory": "report.inventory", "headline": "report.headline", "worst_cases": "report.worst_cases",
                   "robustness": "report.robustness_tables",
                   "per_class": "report.per_class_tables", "curves": "report.curve_figures@png",
                   "examples": "report.example_figures@png", "training": "report.training_figures@png",
                   "bracket": "report.bracket", "bracket_figures": "report.bracket_figures@png",
                   "benchmark_table": "report.benchmark_table", "ranking": "report.ranking"}
    extra = []
    if ensembles:  # seed 004 Figs. 3-6 and transfer vs adaptive, from the stored transfer studies and evaluations
        extra.append(_node(bound_node_function(nodes.ensemble_figures, ensembles=ensembles),
                           {"transfers": TRANSFERS, "evaluations": EVALUATIONS},
                           "report.ensemble_figures@matplotlib", "ensemble_figures", runs, gated))
        html_inputs["ensembles"] = "report.ensemble_figures@png"
    return Pipeline([*extra,
        _node(nodes.inventory, {"evaluations": EVALUATIONS, "histories": HISTORIES}, "report.inventory", "inventory", runs, gated),
        _node(nodes.worst_cases, {"evaluations": EVALUATIONS, "examples": EXAMPLES}, "report.worst_cases",
              "worst_cases", runs, gated, params={key: f"params:report.{key}" for key in WORST_CASE_PARAMS}),
        _node(nodes.headline, {"worst_cases": "report.worst_cases", "bracket": "report.bracket"},
              ["report.headline", "report.headline_md"], "headline", runs, gated),
        _node(bound_node_function(nodes.benchmark_table, dimensions=dimensions or {}),
              {"worst_cases": "report.worst_cases", "evaluations": EVALUATIONS, "certified": CERTIFIED,
               "record_noise": RECORD_NOISE, "examples": EXAMPLES, "certified_examples": CERTIFIED_EXAMPLES,
               "record_noise_examples": RECORD_NOISE_EXAMPLES},
              ["report.benchmark_table", "report.benchmark_table_md"], "benchmark_table", runs, gated),
        _node(bound_node_function(nodes.ranking, dimensions=dimensions or {}), {"worst_cases": "report.worst_cases"},
              ["report.ranking", "report.ranking_md"], "ranking", runs, gated),
        _node(nodes.bracket, {"worst_cases": "report.worst_cases", "certified": CERTIFIED},
              ["report.bracket", "report.bracket_md", "report.bracket_figures@matplotlib"], "bracket", runs, gated),
        _node(nodes.robustness_curves, {"worst_cases": "report.worst_cases", "evaluations": EVALUATIONS},
              "report.curve_figures@matplotlib", "robustness_curves", runs, gated),
        _node(nodes.robustness_tables, {"worst_cases": "report.worst_cases", "evaluations": EVALUATIONS},
              ["report.robustness_tables", "report.robustness_tables_md"], "robustness_tables", runs, gated),
        _node(nodes.per_class_tables, {"evaluations": EVALUATIONS},
              ["report.per_class_tables", "report.per_class_tables_md"], "per_class_tables", runs, gated),
        _node(nodes.adversarial_examples, {"evaluations": EVALUATIONS, "examples": EXAMPLES},
              "report.example_figures@matplotlib", "adversarial_examples", runs, gated),
        _node(nodes.training_curves, {"histories": HISTORIES}, "report.training_figures@matplotlib",
              "training_curves", runs, gated),
        _node(nodes.html_report, html_inputs, "report.html", "html", runs, gated),
    ])
