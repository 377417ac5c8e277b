"""The attack-evaluation node: parameters in, :func:`ecg_pipeline.evaluation.evaluate` called, artifacts out."""

from __future__ import annotations

from ecg_pipeline.evaluation import AttackSpec, evaluate


def evaluate_attack(model, data: dict, params: dict, noise=None, reference=None, *, name: str, attack: str,
                    reference_name: str | None = None):
    """Evaluate ``<name>`` = ``<run>.<attack>``: (metrics JSON, adversarial examples)."""
    return evaluate(model, data, AttackSpec.from_params(params, attack), name=name, noise_table=noise,
                    reference=reference, reference_name=reference_name)
