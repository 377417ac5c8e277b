"""``sweep``: every sweep of ``conf/base/parameters_sweeps.yml`` as one namespace.

Sweep ``<s>`` over ``vary`` with values ``v1..vn`` is, per value, an instance of the training template
(``<s>.<key>_<v>``, parameters of the base run with ``vary`` set to ``v``) and of the attack template
on the validation split (``<s>.<key>_<v>.pgd_validation``), then one node ``<s>.select`` that ranks
the members (``<s>.selection``) and saves the winner as ``<s>.model``. Members are independent nodes,
so ``--runner=ParallelRunner`` trains them side by side.
"""

from kedro.pipeline import Node, Pipeline

from ecg_pipeline.evaluation.selection import member_name

from ..attack_evaluation import attack_pipeline
from ..params import bound_node_function
from ..training import training_pipeline
from .nodes import read_sweeps, select_member

SELECTION_ATTACK = "pgd"


def sweep_pipeline(name: str, spec: dict) -> Pipeline:
    """The pipeline of one sweep (``spec``: run, vary, values, optional criterion)."""
    values = {member_name(spec["vary"], v): v for v in spec["values"]}
    parts, metrics, models = [], [], []
    for member, value in values.items():
        run = f"{name}.{member}"
        parts.append(training_pipeline(run, params_from=spec["run"], overrides={spec["vary"]: value}, tags=("sweep", name)))
        parts.append(attack_pipeline(run, SELECTION_ATTACK, split="mitdb_validation", suffix="_validation",
                                     tags=("sweep", name, "validation")))
        metrics.append(f"{run}.{SELECTION_ATTACK}_validation.metrics")
        models.append(f"{run}.model")
    select = Node(
        bound_node_function(select_member, sweep=name, names=list(values), values=values, vary=spec["vary"],
                criterion=spec.get("criterion", "acc_robust_balanced")),
        metrics + models, [f"{name}.selection", f"{name}.model"], name="select", namespace=name, tags=("sweep", name),
    )
    return Pipeline([*parts, Pipeline([select])])


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([sweep_pipeline(name, spec) for name, spec in read_sweeps().items()])
