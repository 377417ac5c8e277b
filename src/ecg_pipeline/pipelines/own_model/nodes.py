"""The own-model node: parameters in, :func:`ecg_pipeline.own_model.judge` called, three artifacts out. Nothing is
saved unless the whole evaluation succeeded (Kedro saves a node's outputs after it returns), and every refusal
(the source, the contract, the model's checks, the parameters) is raised before the first attack."""

from __future__ import annotations

import logging
from pathlib import Path

from ecg_pipeline.errors import EcgConfigError, did_you_mean
from ecg_pipeline.evaluation import AttackSpec
from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.own_model import InputContract, beside_the_zoo, judge, load_model
from ecg_pipeline.own_model.loading import ZOO_PREFIX, describe
from ecg_pipeline.reporting import headline
from ecg_pipeline.verification.grid import CertifySpec

from ..declaration.certification import spec_params
from ..declaration.model import with_data_defaults

log = logging.getLogger(__name__)

SECTION = "own_model"
KEYS = ("source", "model", "name", "contract", "attacks", "certify", "reference", "bootstrap")


def row_name(params: dict) -> str:
    """``own_model.name``, else the zoo entry or the file's stem."""
    source = str(params.get("source") or "")
    return str(params.get("name") or (source[len(ZOO_PREFIX):] if source.startswith(ZOO_PREFIX) else Path(source).stem))


def attack_specs(params: dict, attacks: dict, defaults: dict | None) -> dict[str, AttackSpec]:
    """The attack blocks ``own_model.attacks`` names (``parameters_attack.yml``), each over its data defaults."""
    chosen = params.get("attacks") or []
    specs = {}
    for attack in chosen:
        if attack not in attacks:
            raise EcgConfigError(f"parameters '{SECTION}.attacks': {attack!r} is not a block of 'attacks'"
                                 f"{did_you_mean(attack, attacks)}")
        specs[attack] = AttackSpec.from_params(with_data_defaults(attacks[attack], defaults), attack)
    return specs


def certification(params: dict, certify: dict | None, defaults: dict | None, model) -> tuple[CertifySpec | None, str]:
    """The ``certify`` block's spec, or None and why: ``own_model.certify: false``, no block, or a registry model the
    block does not list in ``certify.models``; a listed one takes the block's ``by_model`` keys for it.
    A model the verifier cannot translate at all is said so by :func:`ecg_pipeline.own_model.judge`."""
    if not params.get("certify", True) or not certify:
        return None, "not requested (own_model.certify: false, or no certify block)"
    registry_name, listed = getattr(model, "model_name", None), list(certify.get("models") or [])
    if registry_name is not None and listed and registry_name not in listed:
        return None, (f"registry model {registry_name!r} is not in certify.models {listed} (costly to certify; "
                      f"add it: --params=certify.models=[{','.join([*listed, registry_name])}])")
    return CertifySpec.from_params(spec_params(certify, defaults, registry_name), "certify"), ""


def judge_own_model(beats: dict, params: dict, attacks: dict, defaults: dict | None, certify: dict | None, *,
                    split: str):
    """(metrics JSON, per-beat outcomes npz, headline CSV: the zoo's rows and this model's)."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(KEYS))
    if unknown:
        raise EcgConfigError(f"parameters '{SECTION}.{unknown[0]}': unknown key{did_you_mean(unknown[0], KEYS)}")
    contract = InputContract.from_params(params.get("contract"), f"{SECTION}.contract")
    specs = attack_specs(params, attacks, defaults)
    model = load_model(params.get("source"), contract, model=params.get("model") or None, section=SECTION)
    certify_spec, because = certification(params, certify, defaults, model)
    reference = params.get("reference")
    reference_model = load_model(reference, contract, section=f"{SECTION}.reference") if reference else None
    name = row_name(params)
    judged = judge(model, beats, contract, specs, name=name, split=split, certify=certify_spec,
                   bootstrap=Bootstrap.from_params(params.get("bootstrap")), reference=reference_model,
                   reference_name=reference, source=describe(str(params["source"]), params.get("model") or None),
                   uncertified_because=because)
    table = beside_the_zoo(judged)
    log.info("%s on %s:\n%s", name, split, headline.markdown(judged.headline))
    return judged.metrics(), judged.outcomes(), table
