"""Reading the ``.provenance`` stamps a Kedro run writes beside each artifact (``params``: every upstream parameter,
flattened to dotted keys): a section of them, nested back into the mapping conf/ declared; the versions of a
versioned dataset folder they sit in (:mod:`ecg_pipeline.versioned_store`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.verification.grid import spec_params
from ecg_pipeline.versioned_store import versioned_file, versions  # noqa: F401 (zoo.add reads them from here)

#: The parameter sections of the data stages (what decides which beats a split holds).
DATA_SECTIONS = ("ingestion", "segmentation", "split", "resampling")



def stored_for_model(folder: Path, examples: Path, version: str, fingerprint: str | None, name: str
                     ) -> tuple[str, dict[str, Any], dict[str, Path]] | None:
    """The newest stored output of a versioned metrics ``folder`` whose provenance names exactly this model
    ``version`` and ``fingerprint``: (its version, its metrics, ``{json, npz, provenance.json}`` files, the npz from
    the ``examples`` folder at the same version); None when no version judged this model. ``name`` (``<run>.<what>``)
    is what an incomplete one is called in the error."""
    for stored in reversed(versions(folder)):
        metrics_file = versioned_file(folder, stored)
        metrics = json.loads(metrics_file.read_text())
        model = (metrics.get("provenance") or {}).get("model") or {}
        if model.get("version") != version or model.get("fingerprint") != fingerprint:
            continue
        files = {"json": metrics_file, "npz": versioned_file(examples, stored),
                 "provenance.json": metrics_file.with_name(f".{metrics_file.name}.provenance")}
        missing = [str(p) for p in (files["npz"], files["provenance.json"]) if not p.is_file()]
        if missing:
            raise EcgDataError(f"{name} (version {stored}): its metrics are stored but not {missing}")
        return stored, metrics, files
    return None


def read_stamp(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise EcgDataError(f"provenance stamp {path} is missing")
    stamp = json.loads(path.read_text())
    if not isinstance(stamp, dict) or not isinstance(stamp.get("params"), dict):
        raise EcgDataError(f"provenance stamp {path}: expected a JSON object with 'params'")
    return stamp


def section(params: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The flattened keys under ``prefix.`` with the prefix removed (``attacks.pgd.params.steps`` -> ``params.steps``)."""
    start = prefix + "."
    return {key[len(start):]: value for key, value in params.items() if key.startswith(start)}


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"params.steps": 100}`` -> ``{"params": {"steps": 100}}`` (the stamp flattens mappings, never lists)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def attack_of(params: dict[str, Any], run: str, evaluation: str) -> str:
    """The attack block an evaluation ``<run>.<evaluation>`` ran (its node's ``attack`` keyword in the stamp)."""
    key = f"{run}.{evaluation}.evaluate:attack"
    if key not in params:
        raise EcgDataError(f"the stamp of {run}.{evaluation} has no {key!r}: not an attack evaluation's stamp")
    return params[key]


def attack_spec_params(params: dict[str, Any], run: str, evaluation: str) -> tuple[str, dict[str, Any]]:
    """(attack name, the merged block :meth:`AttackSpec.from_params` takes) from an evaluation's stamp: the data's
    ``attack_defaults`` with the attack block's own keys over them, the merge of
    ``pipelines.declaration.model.with_data_defaults`` (a block's explicit null wins)."""
    attack = attack_of(params, run, evaluation)
    block = nested(section(params, f"attacks.{attack}"))
    database = params.get(f"runs.{run}.data")
    defaults = nested(section(params, f"data.{database}.attack_defaults"))
    if not block:
        raise EcgDataError(f"the stamp of {run}.{evaluation} holds no 'attacks.{attack}.*' parameters")
    return attack, {**defaults, **block}


def certify_spec_params(params: dict[str, Any], run: str) -> dict[str, Any]:
    """The merged block :meth:`CertifySpec.from_params` takes, from a ``<run>.certify`` stamp: the one merge of
    :func:`ecg_pipeline.verification.grid.spec_params` on the stamp's ``certify.*``, its data's ``attack_defaults``
    and its architecture."""
    block = nested(section(params, "certify"))
    if not block:
        raise EcgDataError(f"the stamp of {run}.certify holds no 'certify.*' parameters")
    defaults = nested(section(params, f"data.{params.get(f'runs.{run}.data')}.attack_defaults"))
    return spec_params(block, defaults, params.get(f"runs.{run}.model.name"))
