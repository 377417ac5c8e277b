"""``attack``: every model run x every attack that judges it, on its data's test split (or on the test split of
the data its data is ``judged_on``: ECG-ATK-GAN, trained on clean + attacked beats, is attacked on the clean
test beats); the model-selection
attack also on its validation split (``<run>.<attack>_validation``, what sweeps read).

Instance ``<run>.<attack>`` reads ``<run>.model``, the split, ``params:attacks.<attack>`` and its data's
``params:data.<data>.attack_defaults`` (what the block leaves out; an attack block applies to every data it names,
and a run has one data, so ``<run>.<attack>`` stays unique), and writes
``<run>.<attack>.metrics`` (versioned JSON: the curve over the grid, per-class sensitivity/specificity,
ACC_robust / F1_robust) and ``<run>.<attack>.examples`` (versioned npz: clean and adversarial beats).
Rerun one instance with ``--namespaces=<run>.<attack>``, all of a model's with ``--namespaces=<run>``.

Certification (``certify:`` in ``parameters_attack.yml``, :mod:`ecg_pipeline.verification.grid`) is declared like
an attack: instance ``<run>.certify`` (node ``certify``) for every run its block applies to, on the same test split,
beats and grid as the attacks, writing ``<run>.certify.metrics`` and ``<run>.certify.examples`` (the attacks'
per-beat form: the lower end of the report's bracket). The ``main`` pipeline does not take it.

Each model's instances are a modular pipeline (namespace ``<run>``) closed by one node, ``<run>.judged``, that reads
the run's metrics and examples and logs one line per model (the ACC_robust of each attack). It keeps those
datasets inside the model's box in kedro-viz (which draws a namespace's unconsumed outputs outside it): the
attack pipeline opens as one collapsed box per model (``kedro viz run --pipeline=attack``) instead of ~900
elements. The ``main`` pipeline takes the ``evaluate`` nodes only.
"""

from __future__ import annotations

import logging

from kedro.pipeline import Node, Pipeline

from ecg_pipeline.evaluation.noise_stress import noise_stress_metrics

from ..declaration import DataSplits, Declaration
from ..declaration.certification import CERTIFY
from ..params import bound_node_function
from .nodes import certify_run, evaluate_attack

VALIDATION_SUFFIX = "_validation"
JUDGED = "judged"

log = logging.getLogger(__name__)


def attack_pipeline(run: str, attack: str, *, split: str, data: DataSplits | None = None, needs_noise: bool = False,
                    reference: str | None = None, suffix: str = "", tags: tuple[str, ...] = ()) -> Pipeline:
    """Instance ``<run>.<attack><suffix>`` of the template on ``data``'s ``split`` (``data``: the data whose attack
    defaults fill the block, None for a block that is complete alone; ``reference``: the run whose model the
    transfer check of the masking diagnostics crafts its examples on)."""
    name = f"{run}.{attack}{suffix}"
    inputs = {"model": "model", "data": "data", "params": "params:attack"}
    outer = {"model": f"{run}.model", "data": split}
    parameters = {"params:attack": f"params:attacks.{attack}"}
    if data is not None and data.attack_defaults_param is not None:
        inputs["defaults"] = "params:attack_defaults"
        parameters["params:attack_defaults"] = f"params:{data.attack_defaults_param}"
    if needs_noise:
        inputs["noise"], outer["nstdb_noise"] = "nstdb_noise", "nstdb_noise"
    if reference is not None:
        inputs["reference"], outer["reference"] = "reference", f"{reference}.model"
    node = Node(bound_node_function(evaluate_attack, name=name, attack=attack, reference_name=reference),
                inputs, ["metrics", "examples"], name="evaluate")
    return Pipeline([node], namespace=name, inputs=outer, parameters=parameters, tags=(run, attack, *tags))


def certify_pipeline(run: str, *, split: str, data: DataSplits) -> Pipeline:
    """Instance ``<run>.certify`` on ``data``'s ``split``: reads ``<run>.model``, the split, ``params:certify`` and the
    data's ``attack_defaults`` (the attacks' grid and beats); writes ``<run>.certify.metrics`` and ``.examples``."""
    name = f"{run}.{CERTIFY}"
    inputs = {"model": "model", "data": "data", "params": "params:certify"}
    parameters = {"params:certify": "params:certify"}   # the one block, not namespaced
    if data.attack_defaults_param is not None:
        inputs["defaults"] = "params:attack_defaults"
        parameters["params:attack_defaults"] = f"params:{data.attack_defaults_param}"
    node = Node(bound_node_function(certify_run, name=name), inputs, ["metrics", "examples"], name=CERTIFY)
    return Pipeline([node], namespace=name, inputs={"model": f"{run}.model", "data": split}, parameters=parameters,
                    tags=(run, CERTIFY, "attack"))


RECORD_NOISE = "record_noise"


def record_noise_pipeline(run: str, *, data: DataSplits) -> Pipeline:
    """Instance ``<run>.record_noise``: the run's MIT-BIH test beats re-cut from nst-stressed raw records (issue 28.4),
    segmented with the parameters its split was cut with (a variant's own ``<variant>.segmentation``)."""
    name = f"{run}.{RECORD_NOISE}"
    segmentation = "params:segmentation" if data.variant_of is None else f"params:{data.name}.segmentation"
    node = Node(bound_node_function(noise_stress_metrics, name=name),
                {"model": "model", "beats": "data", "records": "records", "noise_table": "nstdb_noise",
                 "params": "params:record_noise", "segmentation": "params:segmentation"},
                ["metrics", "examples"], name=RECORD_NOISE)
    return Pipeline([node], namespace=name,
                    inputs={"model": f"{run}.model", "data": data.test, "records": "mitdb_records",
                            "nstdb_noise": "nstdb_noise"},
                    parameters={"params:record_noise": "params:record_noise", "params:segmentation": segmentation},
                    tags=(run, RECORD_NOISE, "attack"))


def judged(run: str, **evaluations: dict) -> dict[str, float | None]:
    """``<run>.judged``: each evaluation instance's balanced ACC_robust (None where it has none), logged on one line.
    ``evaluations``: ``<instance>__metrics`` and ``<instance>__examples`` of the run's instances."""
    summary = {key[: -len("__metrics")]: metrics.get("acc_robust_balanced")
               for key, metrics in sorted(evaluations.items()) if key.endswith("__metrics") and isinstance(metrics, dict)}
    log.info("%s: judged by %d evaluation(s): %s", run, len(summary), ", ".join(
        f"{k} {v:.4f}" if isinstance(v, (int, float)) else f"{k} -" for k, v in summary.items()))
    return summary


def judged_node(run: str, instances: list[str]) -> Pipeline:
    """The node that closes model ``run``'s modular pipeline (namespace ``run``): it reads every instance's metrics
    and examples (dataset names unchanged) and writes ``<run>.judged`` (in memory)."""
    inputs = {f"{name[len(run) + 1:]}__{kind}": f"{name}.{kind}" for name in instances for kind in ("metrics", "examples")}
    node = Node(bound_node_function(judged, run=run), inputs, f"{run}.{JUDGED}", name=JUDGED, namespace=run,
                tags=(run, "attack"))
    return Pipeline([node])


def create_pipeline(declaration: Declaration) -> Pipeline:
    parts = []
    for run in declaration.model_runs.values():
        start = len(parts)
        judging = declaration.judging_data(run)
        for attack in declaration.attacks_for(run):
            parts.append(attack_pipeline(run.name, attack, split=judging.test, data=judging,
                                         needs_noise=declaration.attacks[attack].needs_noise,
                                         reference=declaration.transfer_source(run, attack), tags=("attack",)))
        selection = declaration.selection_attack_for(run.data)
        if selection in declaration.attacks and run.data.name in declaration.attack_data[selection]:
            parts.append(attack_pipeline(run.name, selection, split=run.data.validation, data=run.data,
                                         suffix=VALIDATION_SUFFIX, needs_noise=declaration.attacks[selection].needs_noise,
                                         tags=("attack", "validation")))
        if declaration.certified(run):
            parts.append(certify_pipeline(run.name, split=judging.test, data=judging))
        if declaration.records_stressed(run):
            parts.append(record_noise_pipeline(run.name, data=judging))
        instances = sorted({n.namespace for part in parts[start:] for n in part.nodes})
        if instances:
            parts.append(judged_node(run.name, instances))
    return Pipeline(parts)
