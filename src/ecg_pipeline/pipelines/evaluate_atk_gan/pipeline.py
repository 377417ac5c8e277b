"""``evaluate_atk_gan``: ECG-ATK-GAN judged on the paper's protocol (seed 002 Tables 1 and 3), and
``report_atk_gan``: its report. Both are built from ``evaluate_atk_gan`` in conf (the declaration's
``atk_gan_evaluation``).

Why a pipeline of its own and not nodes of ``train_atk_gan``: it judges the GAN together with baseline runs of
other families (``train_ce``, ``train_adv``), on the test union that ``attack_generation`` writes; evaluating
must not retrain anything, and one run's evaluation reruns alone (``--pipelines=evaluate_atk_gan --tags=<run>``).

Outputs (versioned): ``atk_gan_eval.<run>.protocol`` (Table 1 rows of each judged run),
``atk_gan_eval.detection`` (the GAN's attack head per set), ``atk_gan_eval.fidelity`` (Table 3 rows of its
generator) with ``atk_gan_eval.examples`` (one beat per set: clean, attacked, generated),
``atk_gan_eval.evasion`` (the detector-evasion PGD). ``report_atk_gan`` reads those and the attack template's
``<run>.<attack>`` evaluations of the judged runs (``kedro run --pipelines=attack --tags=<run>`` first) and
writes ``atk_gan_report.table1``, ``atk_gan_report.table3`` (CSV), ``atk_gan_report.markdown`` and
``atk_gan_report.beats_figure`` (PNG, seed 002 Fig. 3 style).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..declaration import Declaration
from ..params import bound_node_function
from . import nodes

PIPELINE, REPORT = "evaluate_atk_gan", "report_atk_gan"
NAMESPACE, REPORT_NAMESPACE = "atk_gan_eval", "atk_gan_report"
SETTINGS = "params:evaluate_atk_gan"


def create_pipeline(declaration: Declaration) -> Pipeline:
    spec = declaration.atk_gan_evaluation
    if spec is None:
        return Pipeline([])
    gan = spec.gan
    parts = [
        Pipeline([Node(bound_node_function(nodes.paper_protocol, run=run), [f"{run}.model", spec.test_set, SETTINGS],
                       f"{NAMESPACE}.{run}.protocol", name=f"{NAMESPACE}_protocol_{run}")], tags=(PIPELINE, run))
        for run in spec.runs
    ]
    parts.append(Pipeline([
        Node(bound_node_function(nodes.detection, run=gan), [f"{gan}.model", spec.test_set, SETTINGS],
             f"{NAMESPACE}.detection", name=f"{NAMESPACE}_detection"),
        Node(bound_node_function(nodes.generator_fidelity, run=gan), [f"{gan}.generator", spec.test_set, SETTINGS],
             [f"{NAMESPACE}.fidelity", f"{NAMESPACE}.examples"], name=f"{NAMESPACE}_fidelity"),
        Node(bound_node_function(nodes.detector_evasion, run=gan), [f"{gan}.model", spec.clean.test, SETTINGS],
             f"{NAMESPACE}.evasion", name=f"{NAMESPACE}_evasion"),
    ], tags=(PIPELINE, gan)))
    return Pipeline(parts)


def create_report_pipeline(declaration: Declaration) -> Pipeline:
    spec = declaration.atk_gan_evaluation
    if spec is None:
        return Pipeline([])
    runs = {name: declaration.runs[name] for name in spec.runs}
    adaptive = tuple((name, attack) for name, run in runs.items() for attack in declaration.attacks_for(run)
                     if declaration.attacks[attack].grid_param == "eps")
    stored = [f"{NAMESPACE}.{run}.protocol" for run in spec.runs]
    for run, attack in adaptive:
        stored += [f"{run}.{attack}.metrics", f"{run}.{attack}.examples"]
    labels = {name: run.label for name, run in runs.items()}
    return Pipeline([
        Node(bound_node_function(nodes.tables, runs=spec.runs, labels=labels, adaptive=adaptive),
             [f"{NAMESPACE}.detection", f"{NAMESPACE}.fidelity", f"{NAMESPACE}.evasion", *stored],
             [f"{REPORT_NAMESPACE}.table1", f"{REPORT_NAMESPACE}.table3", f"{REPORT_NAMESPACE}.markdown"],
             name=f"{REPORT_NAMESPACE}_tables"),
        Node(nodes.beats_figure, f"{NAMESPACE}.examples", f"{REPORT_NAMESPACE}.beats_figure",
             name=f"{REPORT_NAMESPACE}_beats_figure"),
    ], tags=(REPORT,))
