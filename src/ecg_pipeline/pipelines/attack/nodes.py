"""The attack-evaluation node: parameters in, :func:`ecg_pipeline.evaluation.evaluate` called, artifacts out."""

from __future__ import annotations

from ecg_pipeline.evaluation import AttackSpec, evaluate

from ..declaration.model import with_data_defaults


def evaluate_attack(model, data: dict, params: dict, noise=None, reference=None, defaults: dict | None = None, *,
                    name: str, attack: str, reference_name: str | None = None):
    """Evaluate ``<name>`` = ``<run>.<attack>``: (metrics JSON, adversarial examples). ``params``: the attack's block;
    ``defaults``: its data's ``attack_defaults`` (what the block leaves out), merged as the declaration merged them."""
    spec = AttackSpec.from_params(with_data_defaults(params, defaults), attack)
    return evaluate(model, data, spec, name=name, noise_table=noise, reference=reference, reference_name=reference_name)
