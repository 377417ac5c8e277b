"""Loading a model brought from outside the project, from one of three sources, into an ``nn.Module`` the
evaluation code attacks like its own models (``meta`` with the class list, a fingerprint of the file, the source):

- a TorchScript file (``torch.jit.save`` of ``torch.jit.script`` or ``torch.jit.trace``): kept exactly as saved,
  train/eval mode included (a model saved with dropout on is refused by :mod:`.checks`, not silently repaired);
- a state dict plus a registry model (``model: {name: mlp, <config>}``, :func:`ecg_pipeline.models.build_model`):
  a plain ``state_dict`` or a project checkpoint holding one under ``state_dict``, read with ``weights_only=True``;
- ``zoo:<entry>``: a zoo model (``zoo/<entry>/model.pt``), its files checked against the zoo's index first.

A file that does not load is an :class:`~ecg_pipeline.errors.EcgModelError` naming the file, the parameter and
what was expected; nothing is evaluated.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ecg_pipeline.datasets.torch_model import TorchModelDataset
from ecg_pipeline.errors import EcgConfigError, EcgDataError, EcgModelError
from ecg_pipeline.models import build_model
from ecg_pipeline.zoo.index import default_zoo, read_index, select_entries, verify_files

from .contract import InputContract

ZOO_PREFIX = "zoo:"
SECTION = "own_model"


class ScriptedModel(nn.Module):
    """A TorchScript model as the project's code expects a model: ``forward(x)`` on ``[n, 1, L]`` beats, a ``meta``
    dict, no padding mask. The scripted module is a child, so ``train()`` / ``eval()`` reach it."""

    uses_mask = False

    def __init__(self, scripted: torch.jit.ScriptModule, meta: dict[str, Any]):
        super().__init__()
        self.scripted = scripted
        self.meta = meta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scripted(x)


def file_fingerprint(path: Path) -> str:
    """The first 20 hex digits of the file's sha256: which weights were judged (the evaluation's provenance)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]


def describe(source: str, model: Mapping[str, Any] | None) -> str:
    """The source in words, for messages and the headline's row."""
    if str(source).startswith(ZOO_PREFIX):
        return f"zoo entry {source[len(ZOO_PREFIX):]!r}"
    return f"state dict {source} of registry model {dict(model)['name']!r}" if model else f"TorchScript file {source}"


def load_model(source: str | Path, contract: InputContract, *, model: Mapping[str, Any] | None = None,
               zoo: Path | None = None, section: str = SECTION) -> nn.Module:
    """The model at ``source`` (a TorchScript file; with ``model``, a state dict of that registry model; or
    ``zoo:<entry>``), on the CPU, with ``meta`` = {classes (the contract's), fingerprint, source, format,
    contract}. Refused with an :class:`EcgModelError` naming the file and ``<section>.source`` when it does not
    load, before any evaluation."""
    if source is None or str(source).strip() == "":
        raise EcgConfigError(f"parameters '{section}.source': not set; expected a TorchScript file, a state dict "
                             f"(with '{section}.model: {{name: <registry model>}}') or zoo:<entry>")
    source = str(source)
    if source.startswith(ZOO_PREFIX):
        loaded, kind = _from_zoo(source[len(ZOO_PREFIX):], Path(zoo or default_zoo()), section), "zoo"
        fingerprint = loaded.meta.get("fingerprint")
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise EcgModelError(f"parameters '{section}.source': {path} is not a file; expected a TorchScript file, "
                                "a state dict or zoo:<entry>")
        fingerprint = file_fingerprint(path)
        if model:
            loaded, kind = _from_state_dict(path, dict(model), section), "state_dict"
        else:
            loaded, kind = _from_torchscript(path, section), "torchscript"
    meta = dict(getattr(loaded, "meta", None) or {})
    trained_on = meta.get("classes")
    if trained_on is not None and [str(c) for c in trained_on] != list(contract.classes):
        raise EcgModelError(f"{describe(source, model)} was trained on classes {list(trained_on)}, the contract "
                            f"('{section}.contract.classes') lists {list(contract.classes)}")
    meta.update(classes=list(contract.classes), fingerprint=fingerprint, source=source, format=kind,
                contract=contract.as_dict())
    loaded.meta = meta
    return loaded.to("cpu")


def _from_torchscript(path: Path, section: str) -> nn.Module:
    try:
        scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # torch raises RuntimeError, ValueError or its own error types for a bad archive
        raise EcgModelError(
            f"parameters '{section}.source': {path} does not load as a TorchScript file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); expected a file written by "
            "torch.jit.save(torch.jit.script(model)) or torch.jit.trace, or a state dict with "
            f"'{section}.model: {{name: <registry model>}}'") from None
    return ScriptedModel(scripted, {})


def _from_state_dict(path: Path, declared: dict[str, Any], section: str) -> nn.Module:
    name = declared.pop("name", None)
    try:
        model = build_model(name, **declared)
    except EcgDataError as err:
        raise EcgConfigError(f"parameters '{section}.model': {err}") from None
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise EcgModelError(
            f"parameters '{section}.source': {path} does not load as a state dict (torch.load with "
            f"weights_only=True: {str(err).splitlines()[0] if str(err) else type(err).__name__}); expected "
            f"model.state_dict() saved with torch.save, or, for a TorchScript file, no '{section}.model'") from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EcgModelError(f"parameters '{section}.source': {path} holds {type(loaded).__name__}, not a state dict "
                            "of tensors (model.state_dict(), or a checkpoint with one under 'state_dict')")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise EcgModelError(f"parameters '{section}.source': {path} does not fit registry model {name!r} "
                            f"{declared or ''} ('{section}.model'): {' '.join(str(err).split())}") from None
    model.meta = dict(loaded.get("meta") or {}) if isinstance(loaded, Mapping) and "state_dict" in loaded else {}
    return model.eval()


def _from_zoo(entry: str, zoo: Path, section: str) -> nn.Module:
    index = read_index(zoo)
    try:
        select_entries(index, [entry])
    except EcgDataError as err:
        raise EcgConfigError(f"parameters '{section}.source': {err}") from None
    verify_files(zoo, index, [entry])  # a tampered or partial entry is refused before it is loaded
    model = TorchModelDataset(filepath=str(zoo / entry / "model.pt")).load()
    if model.meta.get("fingerprint") != index["entries"][entry]["model_fingerprint"]:
        raise EcgModelError(f"zoo entry {entry!r}: model.pt has fingerprint {model.meta.get('fingerprint')}, the "
                            f"index records {index['entries'][entry]['model_fingerprint']}")
    evaluations = sorted((zoo / entry / "evaluations").glob("*.json"))
    stored = [json.loads(p.read_text()) for p in evaluations if not p.name.endswith(".provenance.json")]
    model.meta["zoo_test_fingerprint"] = next(  # the split its stored evaluations ran on (judge compares)
        ((m.get("provenance") or {}).get("test_data", {}).get("fingerprint") for m in stored), None)
    return model
