"""``attack``: every model run x every attack that judges it, on its data's test split; the model-selection
attack also on its validation split (``<run>.<attack>_validation``, what sweeps read).

Instance ``<run>.<attack>`` reads ``<run>.model``, the split and ``params:attacks.<attack>``, and writes
``<run>.<attack>.metrics`` (versioned JSON: the curve over the grid, per-class sensitivity/specificity,
ACC_robust / F1_robust) and ``<run>.<attack>.examples`` (versioned npz: clean and adversarial beats).
Rerun one instance with ``--namespaces=<run>.<attack>``, all of a model's with ``--namespaces=<run>``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..declaration import Declaration
from ..params import bound_node_function
from .nodes import evaluate_attack

VALIDATION_SUFFIX = "_validation"


def attack_pipeline(run: str, attack: str, *, split: str, needs_noise: bool = False, suffix: str = "",
                    tags: tuple[str, ...] = ()) -> Pipeline:
    """Instance ``<run>.<attack><suffix>`` of the template."""
    name = f"{run}.{attack}{suffix}"
    inputs = ["model", "data", "params:attack"] + (["nstdb_noise"] if needs_noise else [])
    node = Node(bound_node_function(evaluate_attack, name=name, attack=attack), inputs, ["metrics", "examples"],
                name="evaluate")
    return Pipeline(
        [node],
        namespace=name,
        inputs={"model": f"{run}.model", "data": split, **({"nstdb_noise": "nstdb_noise"} if needs_noise else {})},
        parameters={"params:attack": f"params:attacks.{attack}"},
        tags=(run, attack, *tags),
    )


def create_pipeline(declaration: Declaration) -> Pipeline:
    parts = []
    for run in declaration.model_runs.values():
        for attack in declaration.attacks_for(run):
            parts.append(attack_pipeline(run.name, attack, split=run.data.test,
                                         needs_noise=declaration.attacks[attack].needs_noise, tags=("attack",)))
        selection = declaration.selection_attack
        if selection in declaration.attacks and declaration.attack_data[selection] == run.data.name:
            parts.append(attack_pipeline(run.name, selection, split=run.data.validation, suffix=VALIDATION_SUFFIX,
                                         needs_noise=declaration.attacks[selection].needs_noise,
                                         tags=("attack", "validation")))
    return Pipeline(parts)
