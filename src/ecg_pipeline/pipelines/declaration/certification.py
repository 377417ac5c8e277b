"""``certify:`` (``conf/base/parameters_attack.yml``): certified lower bounds, declared like an attack.

The block names the data it applies to (``data: [mitdb]``), the model architectures (registry names, ``models:
[mlp, kachuee_cnn]``) and the bound method; every key it leaves out of ``grid``, ``bounds``, ``eps_max``,
``per_class`` and ``seed`` comes from that data's ``attack_defaults``, so the certified curve is computed on the
attacks' beats over the attacks' grid. ``by_model: {<registry name>: {...}}`` overrides keys of the block for one
architecture (e.g. the Kachuee CNN's costly full CROWN on a sample of those beats). It instantiates ``<run>.certify`` in the ``attack`` pipeline for every model
run judged on one of those data whose model is listed. Checked here, on every data it names, before any node runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecg_pipeline.errors import EcgConfigError, did_you_mean
from ecg_pipeline.models.registry import MODELS
from ecg_pipeline.verification.grid import DECLARATION_KEYS, CertifySpec, spec_params
from ecg_pipeline.verification.network import SUPPORTED_MODELS

from .model import Certification, DataSplits
from .validation import declared_data, require_mapping

SECTION = "certify"
#: Registry names of the models the verifier translates (``verification.network.SUPPORTED_MODELS``).
VERIFIABLE = tuple(name for name, cls in MODELS.items() if cls in SUPPORTED_MODELS)
CERTIFY = "certify"   # the instance name: <run>.certify


def read_certification(spec: Any, data: dict[str, DataSplits]) -> Certification | None:
    """``certify:`` checked on every data it names (None: not declared)."""
    if spec is None:
        return None
    spec = require_mapping(spec, SECTION)
    named = declared_data(spec.get("data"), data, f"{SECTION}.data")
    models = spec.get("models", list(VERIFIABLE))
    if not isinstance(models, (list, tuple)) or not models or any(m not in VERIFIABLE for m in models):
        bad = next((m for m in models if m not in VERIFIABLE), models) if isinstance(models, (list, tuple)) else models
        raise EcgConfigError(f"parameters '{SECTION}.models': expected a list of models the verifier translates "
                             f"({list(VERIFIABLE)}), got {models!r}{did_you_mean(str(bad), VERIFIABLE)}")
    by_model = spec.get("by_model") or {}
    if not isinstance(by_model, Mapping) or any(not isinstance(v, Mapping) for v in by_model.values()):
        raise EcgConfigError(f"parameters '{SECTION}.by_model': expected a mapping of registry name -> keys of the "
                             f"block, got {by_model!r}")
    for model in by_model:
        if model not in VERIFIABLE:   # one not in `models` is allowed: a --params that drops it keeps its keys
            raise EcgConfigError(f"parameters '{SECTION}.by_model.{model}': not a model the verifier translates "
                                 f"({list(VERIFIABLE)}){did_you_mean(str(model), VERIFIABLE)}")
        for key in DECLARATION_KEYS:
            if key in by_model[model]:
                raise EcgConfigError(f"parameters '{SECTION}.by_model.{model}.{key}': a declaration key; set it on "
                                     f"the block")
    specs = {}
    for name in named:
        if data[name].masked:
            raise EcgConfigError(f"parameters '{SECTION}.data': {name!r} holds padded records; the verifier takes "
                                 "fixed-length beats")
        specs[name] = CertifySpec.from_params(spec_params(spec, data[name].attack_defaults), SECTION)
        for model in by_model:
            CertifySpec.from_params(spec_params(spec, data[name].attack_defaults, model), f"{SECTION}.by_model.{model}")
    return Certification(tuple(named), tuple(models), specs)
