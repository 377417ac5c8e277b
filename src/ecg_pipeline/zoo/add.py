"""``zoo add``: copy one trained run's stored artifacts out of a Kedro project into a zoo entry, with nothing
invented: the checkpoint and its stamp, the training configuration rebuilt from the stamp (and checked against the
checkpoint's ``config_fingerprint``), every stored evaluation of that very model version, its newest certified
bound (``certify``, :mod:`.certified`; optional: the index records ``certify: null`` without one), the report's worst
case when it was computed from those evaluations, a model card, and the sha256 of every file in ``zoo/index.yml``.

An existing entry is never overwritten silently: ``replace=True`` (``--replace``) or a refusal."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ecg_pipeline.defenses.checkpoints import fingerprint
from ecg_pipeline.defenses.config import ADDED_LATER, TrainingConfig
from ecg_pipeline.errors import EcgDataError

from . import card, certified
from .index import read_index, sha256, write_index
from .stamps import DATA_SECTIONS, attack_of, nested, read_stamp, section, stored_for_model, versioned_file, versions

#: Parameters a run block holds beside its TrainingConfig fields (the declaration's own keys).
RUN_KEYS = ("data", "family", "label", "companions", "overrides")


def training_config(stamp_params: dict[str, Any], run: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The run's full :class:`TrainingConfig` (defaults filled; options added later left out at their defaults,
    ``ADDED_LATER``), rebuilt from the model stamp's ``runs.<run>.*``; refused unless its fingerprint is the checkpoint's ``config_fingerprint`` (then it is the configuration that
    trained these weights, not a guess)."""
    block = nested(section(stamp_params, f"runs.{run}"))
    names = {f.name for f in dataclasses.fields(TrainingConfig)} - {"section"}
    config = TrainingConfig(**{k: v for k, v in block.items() if k in names}, section=f"runs.{run}")
    rebuilt = fingerprint(config.fingerprinted(), meta.get("data_fingerprint"))
    if rebuilt != meta.get("config_fingerprint"):
        raise EcgDataError(f"run {run!r}: the training configuration rebuilt from its stamp has fingerprint {rebuilt}, "
                           f"its checkpoint records config_fingerprint {meta.get('config_fingerprint')}: the stamp and "
                           "the model disagree (or TrainingConfig's defaults changed since); refusing to guess")
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(TrainingConfig) if f.name != "section"
              and not (f.name in ADDED_LATER and getattr(config, f.name) == ADDED_LATER[f.name])}
    return {"run": run, **{k: block.get(k) for k in RUN_KEYS if k in block}, "training_config": fields,
            "config_fingerprint": meta.get("config_fingerprint")}


def add_entry(project: Path, run: str, zoo: Path, *, replace: bool = False, version: str | None = None) -> Path:
    """Add (or with ``replace`` replace) the zoo entry of ``run`` from ``project``'s ``data/`` folder; returns it.

    ``version``: the model version to take (default: the newest). Every evaluation stored for exactly that model
    (its metrics' ``provenance.model.version`` and fingerprint) joins the entry, the newest of each attack, and so
    does the newest certify output of it, where there is one."""
    project, zoo = Path(project).resolve(), Path(zoo).resolve()
    index = read_index(zoo)
    if run in index["entries"] and not replace:
        raise EcgDataError(f"zoo entry {run!r} exists ({zoo / run}); refusing to overwrite it: pass --replace to "
                           "replace it with the project's artifacts")
    if (zoo / run).exists() and run not in index["entries"] and not replace:
        raise EcgDataError(f"{zoo / run} exists but is no entry of {zoo / 'index.yml'} (a partial copy?); refusing "
                           "to overwrite it: remove it, or pass --replace")
    data = project / "data"
    model_folder = data / "06_models" / f"{run}.pt"
    stored = versions(model_folder)
    if not stored:
        raise EcgDataError(f"run {run!r}: no stored model under {model_folder} (train it first: "
                           f"kedro run --pipelines=<family pipeline> --namespaces={run})")
    version = version or stored[-1]
    if version not in stored:
        raise EcgDataError(f"run {run!r}: no model version {version!r} under {model_folder}; stored: {stored}")
    model_file = versioned_file(model_folder, version)
    model_stamp = model_file.with_name(f".{model_file.name}.provenance")
    checkpoint = torch.load(model_file, weights_only=True, map_location="cpu")
    meta = dict(checkpoint["meta"])
    stamp = read_stamp(model_stamp)
    training = {**training_config(stamp["params"], run, meta),
                "model": {"name": checkpoint["name"], "config": checkpoint["config"]},
                "data": {"database": section(stamp["params"], f"runs.{run}").get("data"),
                         "data_fingerprint": meta.get("data_fingerprint"), "raw": stamp.get("data_root"),
                         "parameters": {k: v for k, v in stamp["params"].items() if k.split(".")[0] in DATA_SECTIONS}},
                "code_version": meta.get("code_version"), "git_commit": meta.get("git_commit"),
                "fingerprint": meta.get("fingerprint"), "model_version": version, "meta": meta}
    evaluations = _evaluations(data, run, version, meta)
    if not evaluations:
        raise EcgDataError(f"run {run!r}: no stored evaluation of model version {version} under "
                           f"{data / '08_reporting' / 'attacks' / run} (kedro run --pipelines=attack --namespaces={run})")
    certificate = certified.find_stored(data, run, version, meta)

    with tempfile.TemporaryDirectory(dir=zoo.parent if zoo.exists() else None) as scratch:
        entry = Path(scratch) / run
        (entry / "evaluations").mkdir(parents=True)
        shutil.copyfile(model_file, entry / "model.pt")
        shutil.copyfile(model_stamp, entry / "model.pt.provenance")
        history = data / "08_reporting" / "training" / f"{run}_history.csv"
        if version in versions(history):
            shutil.copyfile(versioned_file(history, version), entry / "training_history.csv")
        (entry / "training.json").write_text(json.dumps(training, indent=1, sort_keys=True) + "\n")
        for attack, found in evaluations.items():
            for kind, source in found["files"].items():
                shutil.copyfile(source, entry / "evaluations" / f"{attack}.{kind}")
        if certificate is not None:
            (entry / certified.FOLDER).mkdir()
            for kind, source in certificate["files"].items():
                shutil.copyfile(source, entry / certified.FOLDER / f"{certified.NAME}.{kind}")
        worst = _worst_case(data, run, {a: e["version"] for a, e in evaluations.items()})
        if worst is not None:
            (entry / "worst_case.json").write_text(json.dumps(worst, indent=1, sort_keys=True) + "\n")
        (entry / "README.md").write_text(card.model_card(entry))
        zoo.mkdir(parents=True, exist_ok=True)
        target = zoo / run
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(entry), target)
    files = {str(p.relative_to(target)): sha256(p) for p in sorted(target.rglob("*")) if p.is_file()}
    index["entries"][run] = {
        "run": run, "database": training["data"]["database"], "model_fingerprint": meta.get("fingerprint"),
        "git_commit": meta.get("git_commit"), "code_version": meta.get("code_version"), "model_version": version,
        "added_from": str(project),
        "evaluations": {a: {"reference": e["reference"], "version": e["version"]} for a, e in evaluations.items()},
        certified.NAME: None if certificate is None else {"version": certificate["version"],
                                                          "method": certificate["method"]},
        "files": files,
    }
    write_index(zoo, index)
    return target


def _evaluations(data: Path, run: str, version: str, meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``attack -> {files: {json, npz, provenance.json}, version, reference}`` of the evaluations of this model
    version (the newest of each attack whose metrics name it); another model version's are left out."""
    found = {}
    attacks = data / "08_reporting" / "attacks" / run
    for folder in sorted(attacks.glob("*.json")) if attacks.is_dir() else []:
        attack = folder.name[: -len(".json")]
        stored = stored_for_model(folder, data / "07_model_output" / "adversarial" / run / f"{attack}.npz", version,
                                  meta.get("fingerprint"), f"{run}.{attack}")
        if stored is None:
            continue
        params = read_stamp(stored[2]["provenance.json"])["params"]
        attack_of(params, run, attack)  # refused here when the stamp does not name the attack
        found[attack] = {"files": stored[2], "version": stored[0],
                         "reference": params.get(f"{run}.{attack}.evaluate:reference_name")}
    return found


def _worst_case(data: Path, run: str, evaluation_versions: dict[str, str]) -> dict[str, Any] | None:
    """The newest report's worst-case record of ``run`` if it was computed from these very evaluation versions."""
    folder = data / "08_reporting" / "report" / "worst_cases.json"
    for stored in reversed(versions(folder)):
        record = json.loads(versioned_file(folder, stored).read_text()).get(run)
        if record and all(evaluation_versions.get(a) == v for a, v in (record.get("versions") or {}).items()):
            return {**record, "report_version": stored}
    return None
