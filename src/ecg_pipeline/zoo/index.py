"""The zoo's index (``zoo/index.yml``): its entries, every file of each with its sha256, and the checks that refuse a
tampered, partial or missing copy before any model is loaded.

Layout of one entry (``zoo/<run>/``)::

    model.pt                    the checkpoint as TorchModelDataset wrote it (state dict, config, meta)
    model.pt.provenance         the .provenance stamp the training run wrote beside it (every upstream parameter)
    training.json               the full TrainingConfig (its fingerprint equals the meta's config_fingerprint),
                                data fingerprint, code version, commit, the data parameters of the training split
    training_history.csv        the per-epoch history, where the project stored one
    evaluations/<attack>.json   the stored metrics JSON (run_provenance.collect() inside)
    evaluations/<attack>.npz    the per-beat outcomes (``pred``: grid x beats, ``subset``: test-split indices)
    evaluations/<attack>.provenance.json   the metrics' stamp: the attack block and its data's attack_defaults
    certified/certify.json      the newest certify output of this model version (alpha-CROWN certified lower bound per
    certified/certify.npz       beat and eps: ``outcome`` 1/0/-1, ``lower_margin``, ``subset``), and its stamp; absent
    certified/certify.provenance.json   where none was stored (the index then records ``certify: null``)
    worst_case.json             the report's per-beat worst case of this model (with intervals), when it matched
    README.md                   the model card (``zoo.card``), generated from the files above
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ecg_pipeline.errors import EcgDataError, EcgModelError, did_you_mean

INDEX = "index.yml"
FORMAT = 1


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_zoo() -> Path:
    """``zoo/`` at the repository root (src/ecg_pipeline/zoo/index.py -> four levels up)."""
    return Path(__file__).resolve().parents[3] / "zoo"


def read_index(zoo: Path) -> dict[str, Any]:
    """The index, or an empty one when the zoo has none yet; a malformed index is refused by name."""
    path = Path(zoo) / INDEX
    if not path.exists():
        return {"format": FORMAT, "entries": {}}
    index = yaml.safe_load(path.read_text()) or {}
    if not isinstance(index, Mapping) or not isinstance(index.get("entries"), Mapping):
        raise EcgDataError(f"zoo index {path}: expected a mapping with 'entries'; got {type(index).__name__}")
    if index.get("format") != FORMAT:
        raise EcgDataError(f"zoo index {path}: format {index.get('format')!r}; this code reads format {FORMAT}")
    return {"format": FORMAT, "entries": dict(index["entries"])}


def write_index(zoo: Path, index: Mapping[str, Any]) -> None:
    path = Path(zoo) / INDEX
    text = ("# The model zoo: one entry per trained model, every file with its sha256 (python -m ecg_pipeline.zoo).\n"
            "# Written by `python -m ecg_pipeline.zoo add`; do not edit by hand (the check refuses a changed file).\n")
    path.write_text(text + yaml.safe_dump(dict(index), sort_keys=True, default_flow_style=False))


def select_entries(index: Mapping[str, Any], names: Iterable[str] | None) -> list[str]:
    """``names`` (default: every entry), each refused by name when the index has no such entry."""
    entries = index["entries"]
    chosen = list(names) if names else sorted(entries)
    for name in chosen:
        if name not in entries:
            raise EcgDataError(f"zoo entry {name!r} is not in the index (entries: {sorted(entries)})"
                               f"{did_you_mean(name, entries)}")
    return chosen


def verify_files(zoo: Path, index: Mapping[str, Any], names: Iterable[str]) -> None:
    """Refuse, before any work, an entry whose index lists a file that is missing or whose sha256 differs (a
    tampered model, a partial copy); every problem of every entry named in one message."""
    problems = []
    for name in names:
        files = index["entries"][name].get("files") or {}
        if "model.pt" not in files:
            problems.append(f"{name}: the index lists no model.pt")
        for relative, expected in sorted(files.items()):
            path = Path(zoo) / name / relative
            if not path.is_file():
                problems.append(f"{name}: {path} is missing (index lists it with sha256 {expected[:12]}...)")
            else:
                actual = sha256(path)
                if actual != expected:
                    what = "the model's weights" if relative == "model.pt" else "a stored file"
                    problems.append(f"{name}: {path} ({what}) has sha256 {actual[:12]}..., the index records "
                                    f"{expected[:12]}... (changed or partly copied)")
    if problems:
        error = EcgModelError if any("model.pt" in p for p in problems) else EcgDataError
        raise error("zoo check refused before any work:\n  " + "\n  ".join(problems))
