"""``sweep``: every declared sweep as one namespace.

Sweep ``<s>`` over ``vary`` with values ``v1..vn`` is, per value, an instance of the training template
(``<s>.<key>_<v>``: the base run's parameters with ``vary`` set to ``v``) and of the attack template
with the model-selection attack on the validation split (``<s>.<key>_<v>.<attack>_validation``; the attack is
the data's ``selection_attack``, else ``model_selection.attack``: by default the worst case of
``worst_case_selection``, issue 28 item 3), then
one node ``<s>.select`` that ranks the members (``<s>.selection``) and saves the winner as
``<s>.model``. Members are independent nodes, so ``--runner=ParallelRunner`` trains them side by side.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..attack import attack_pipeline
from ..attack.pipeline import VALIDATION_SUFFIX
from ..declaration import Declaration, Sweep
from ..params import bound_node_function
from ..training import training_pipeline
from .nodes import select_member


def sweep_pipeline(sweep: Sweep, declaration: Declaration) -> Pipeline:
    base = declaration.runs[sweep.run]
    attack = declaration.selection_attack_for(base.data)
    parts, metrics, models = [], [], []
    for member, value in sweep.members.items():
        name = f"{sweep.name}.{member}"
        parts.append(training_pipeline(base, pipeline="sweep", name=name, overrides={sweep.vary: value}, tags=("sweep", sweep.name)))
        parts.append(attack_pipeline(name, attack, split=base.data.validation, data=base.data, suffix=VALIDATION_SUFFIX,
                                     needs_noise=declaration.attacks[attack].needs_noise,
                                     tags=("sweep", sweep.name, "validation")))
        metrics.append(f"{name}.{attack}{VALIDATION_SUFFIX}.metrics")
        models.append(f"{name}.model")
    select = Node(
        bound_node_function(select_member, sweep=sweep.name, names=list(sweep.members), values=sweep.members,
                            vary=sweep.vary, criterion=sweep.criterion, attack=attack,
                            evaluation=f"{attack}{VALIDATION_SUFFIX}"),
        metrics + models, [f"{sweep.name}.selection", f"{sweep.name}.model"], name="select", namespace=sweep.name,
        tags=("sweep", sweep.name),
    )
    return Pipeline([*parts, Pipeline([select])])


def create_pipeline(declaration: Declaration) -> Pipeline:
    return Pipeline([sweep_pipeline(sweep, declaration) for sweep in declaration.sweeps.values()])
