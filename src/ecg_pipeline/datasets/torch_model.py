"""``TorchModelDataset`` saves/loads a registry model (``ecg_pipeline.models``) as a ``.pt`` checkpoint
using an underlying filesystem (e.g.: local, S3, GCS).

The checkpoint is a plain dict written by ``torch.save``::

    {"name": "kachuee_cnn",                    # registry name
     "config": {"input_length": 187, ...},     # build_model(name, **config) rebuilds the architecture
     "state_dict": {"stem.weight": tensor, ...},  # CPU tensors
     "meta": {...}}                            # small JSON-able dict: history summary, data versions...

It holds only tensors and plain Python containers/scalars, so it is read with
``torch.load(..., weights_only=True)``: a checkpoint holding a pickled module (or any other
object) is refused, never unpickled. Loading rebuilds the model with ``build_model``, loads the
weights with ``strict=True``, checks that its output count equals the length of the stored class
list (``meta["classes"]``, when present), and returns it in eval mode, on the CPU, with ``model.meta``.

Saving is atomic: the checkpoint is written to a hidden temporary sibling of the target
(``.<name>.<random>.tmp``) and renamed over the target only once complete, so a failure half-way
never leaves a truncated ``.pt`` (nor, for a versioned dataset, a version that looks complete).
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from kedro.io.core import DatasetError, Version, get_filepath_str
from torch import nn

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models.registry import build_model, model_spec

from ._fsspec_file import FsspecFileDataset

CHECKPOINT_KEYS = ("name", "config", "state_dict", "meta")


def _class_count_mismatch(model: nn.Module, meta: Mapping[str, Any]) -> str | None:
    """Why ``model``'s outputs do not match the class list stored with it (None when they match, or
    when no class list is stored): a model with more outputs than classes would be evaluated on
    class indices no label has; one with fewer would meet labels outside its outputs."""
    classes = meta.get("classes")
    head = getattr(model, "head", None)  # the registry's final linear layer
    if classes is None or not isinstance(head, nn.Linear) or head.out_features == len(classes):
        return None
    return (f"model {model_spec(model)['name']!r} has {head.out_features} outputs but its stored class list "
            f"(meta 'classes') has {len(classes)}: {list(classes)}")


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars/arrays and small tensors (``.tolist()``); others are refused."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class TorchModelDataset(FsspecFileDataset[Any, nn.Module]):
    """``TorchModelDataset`` saves a registry model (plus a small ``meta`` dict) to one ``.pt`` file and
    loads it back as a ready-to-use model in eval mode.

    ``save`` accepts a model built by ``ecg_pipeline.models.build_model`` (or a registry class
    constructed directly), or ``{"model": model, "meta": {...}}``. ``meta`` must be JSON-able
    (numpy scalars/arrays and tensors are turned into numbers/lists); it is stored as its JSON
    round trip (tuples become lists, keys become strings).

    Examples:
        Using the YAML API:

        ```yaml
        cnn_nsr:
          type: ecg_pipeline.datasets.TorchModelDataset
          filepath: data/06_models/cnn_nsr.pt
          versioned: true
        ```

        Using the Python API:

        >>> from ecg_pipeline.datasets import TorchModelDataset
        >>> from ecg_pipeline.models import build_model
        >>>
        >>> model = build_model("mlp")
        >>> dataset = TorchModelDataset(filepath=tmp_path / "mlp.pt")
        >>> dataset.save({"model": model, "meta": {"epochs": 50}})
        >>> reloaded = dataset.load()
        >>> assert reloaded.meta == {"epochs": 50} and not reloaded.training
    """

    def __init__(  # noqa: PLR0913
        self,
        *,
        filepath: str | os.PathLike,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new instance of ``TorchModelDataset`` pointing to a concrete ``.pt`` file.

        Args:
            filepath: Filepath in POSIX format to a ``.pt`` file prefixed with a protocol like
                ``s3://``. Without a prefix, the local filesystem is used. The prefix should be
                any protocol supported by ``fsspec``. ``http(s)`` does not support versioning.
            version: If specified, should be an instance of ``kedro.io.core.Version``. If its
                ``load`` attribute is None, the latest version will be loaded. If its ``save``
                attribute is None, save version will be autogenerated.
            metadata: Any arbitrary metadata. This is ignored by Kedro, but may be consumed by
                users or external plugins. (Not the checkpoint's ``meta``.)
            fs_args: Extra arguments to pass into underlying filesystem class constructor
                (e.g. ``{"project": "my-project"}`` for ``GCSFileSystem``), as well as to pass to
                the filesystem's ``open`` method through nested keys ``open_args_load`` and
                ``open_args_save``. Modes are ``rb`` / ``wb``.
            credentials: Credentials required to get access to the underlying filesystem.
                E.g. for ``GCSFileSystem`` it should look like ``{"token": None}``.
        """
        super().__init__(filepath=filepath, version=version, fs_args=fs_args, credentials=credentials,
                         metadata=metadata)

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "version": self._version,
        }

    def load(self) -> nn.Module:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, **self._fs_open_args_load) as fs_file:
            buffer = io.BytesIO(fs_file.read())  # torch.load needs a seekable file
        try:
            checkpoint = torch.load(buffer, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError as exc:
            raise DatasetError(
                f"TorchModelDataset '{load_path}': refused to load a checkpoint that holds "
                "pickled Python objects (torch.load(weights_only=True) failed); expected only "
                "{name, config, state_dict, meta} of tensors and plain values, as written by "
                f"TorchModelDataset.save.\n{exc}"
            ) from exc
        if (
            not isinstance(checkpoint, Mapping)
            or set(CHECKPOINT_KEYS) - set(checkpoint)
            or not isinstance(checkpoint["config"], Mapping)
            or not isinstance(checkpoint["meta"], Mapping)
        ):
            found = sorted(checkpoint) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
            raise DatasetError(
                f"TorchModelDataset '{load_path}': checkpoint has {found}; expected a dict with "
                f"keys {list(CHECKPOINT_KEYS)} ('config' and 'meta' dicts)"
            )
        try:
            model = build_model(checkpoint["name"], **dict(checkpoint["config"]))
            model.load_state_dict(checkpoint["state_dict"], strict=True)
        except (EcgDataError, RuntimeError, TypeError) as exc:
            raise DatasetError(
                f"TorchModelDataset '{load_path}': cannot rebuild model {checkpoint['name']!r} "
                f"with config {checkpoint['config']!r}: {exc}"
            ) from exc
        mismatch = _class_count_mismatch(model, checkpoint["meta"])
        if mismatch:
            raise DatasetError(f"TorchModelDataset '{load_path}': {mismatch}; refusing to evaluate it "
                               "(saved from another run or edited?)")
        model.eval()
        model.meta = dict(checkpoint["meta"])
        return model

    def save(self, data: nn.Module | Mapping[str, Any]) -> None:
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        checkpoint = self._checkpoint(data, save_path)
        self._write_atomically(save_path, lambda fs_file: torch.save(checkpoint, fs_file))
        self._invalidate_cache()

    @staticmethod
    def _checkpoint(data: Any, save_path: str) -> dict[str, Any]:
        """The dict to write, or a ``DatasetError`` naming the path and what is wrong."""
        if isinstance(data, nn.Module):
            model, meta = data, {}
        elif isinstance(data, Mapping) and "model" in data and set(data) <= {"model", "meta"}:
            model, meta = data["model"], data.get("meta") or {}
        else:
            what = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise DatasetError(
                f"TorchModelDataset '{save_path}': cannot save {what}; expected a model from "
                "ecg_pipeline.models.build_model or {'model': model, 'meta': {...}}"
            )
        if not isinstance(model, nn.Module):
            raise DatasetError(
                f"TorchModelDataset '{save_path}': 'model' is a {type(model).__name__}; expected "
                "a torch.nn.Module from ecg_pipeline.models.build_model"
            )
        if not isinstance(meta, Mapping):
            raise DatasetError(
                f"TorchModelDataset '{save_path}': 'meta' is a {type(meta).__name__}; expected a dict"
            )
        try:
            spec = model_spec(model)
        except EcgDataError as exc:
            raise DatasetError(f"TorchModelDataset '{save_path}': {exc}") from exc
        try:
            meta = json.loads(json.dumps(dict(meta), default=_plain))
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"TorchModelDataset '{save_path}': 'meta' is not JSON-able ({exc}); expected "
                "a small dict of str/int/float/bool/None, lists and dicts"
            ) from exc
        mismatch = _class_count_mismatch(model, meta)
        if mismatch:
            raise DatasetError(f"TorchModelDataset '{save_path}': cannot save: {mismatch}")
        state_dict = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
        return {"name": spec["name"], "config": spec["config"], "state_dict": state_dict, "meta": meta}

