"""The evaluation nodes: parameters in, :func:`ecg_pipeline.evaluation.evaluate` (an attack) or
:func:`ecg_pipeline.verification.grid.certify_grid` (certification) called, artifacts out."""

from __future__ import annotations

from ecg_pipeline.evaluation import AttackSpec, evaluate
from ecg_pipeline.evaluation.evaluate import provenance
from ecg_pipeline.evaluation.worst_case import certified_metrics
from ecg_pipeline.models.registry import model_spec
from ecg_pipeline.runtime import torch_threads
from ecg_pipeline.verification.grid import CertifySpec, certify_grid

from ..declaration.certification import SECTION, spec_params
from ..declaration.model import with_data_defaults


def evaluate_attack(model, data: dict, params: dict, noise=None, reference=None, defaults: dict | None = None, *,
                    name: str, attack: str, reference_name: str | None = None):
    """Evaluate ``<name>`` = ``<run>.<attack>``: (metrics JSON, adversarial examples). ``params``: the attack's block;
    ``defaults``: its data's ``attack_defaults`` (what the block leaves out), merged as the declaration merged them."""
    spec = AttackSpec.from_params(with_data_defaults(params, defaults), attack)
    return evaluate(model, data, spec, name=name, noise_table=noise, reference=reference, reference_name=reference_name)


def certify_run(model, data: dict, params: dict, defaults: dict | None = None, *, name: str):
    """Certify ``<name>`` = ``<run>.certify`` over its grid: (metrics JSON, per-beat outcomes in the attacks' form).
    ``params``: the ``certify`` block; ``defaults``: its data's ``attack_defaults`` (the attacks' grid and beats),
    merged as the declaration merged them, with the block's ``by_model`` keys for the model's architecture."""
    architecture = model_spec(model)["name"]
    spec = CertifySpec.from_params(spec_params(params, defaults, architecture), SECTION)
    with torch_threads(spec.num_threads):
        record, examples = certify_grid(model, data, spec, name=name)
        made_with = provenance(model, data)
    return {"run": name, "attack": "certify", "model": getattr(model, "meta", {}), **certified_metrics(record, examples),
            "beats": [int(b) for b in examples["subset"]], "provenance": made_with}, examples
