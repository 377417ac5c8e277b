"""Where a stored artifact came from.

Record tables carry their database folder, records and a SHA-256 of every file read in their ``attrs``
(pandas keeps them through parquet). Every stored split, model and evaluation also carries an artifact
stamp in a sidecar file (``stamp_path``): the Kedro env, the resolved data root of each raw source
upstream, and the parameter values of every node upstream, flattened to dotted keys so that a
mismatch names the parameter. A later run compares the stamp with what its own configuration would
write and refuses a stored input built another way (the project hook does the Kedro side).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError

from .wfdb_files import walk_files

KEY = "provenance"
_SHARED = ("REFERENCE", "RECORDS")   # a database's index files, read with every record


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def source_files(folder: str | Path, records) -> list[Path]:
    """The files under ``folder`` that belong to ``records`` (any file whose name before the first dot is
    a record id), its index files, and its zip archives (CinC 2017 is read from one)."""
    folder = Path(folder)
    ids = {str(r) for r in records}
    files = [p for p in walk_files(folder) if p.name.split(".")[0] in ids or p.stem.upper().startswith(_SHARED)
             or p.suffix == ".zip"]
    return sorted(files)



def stamp(table: pd.DataFrame, folder: str | Path, id_column: str = "record_id") -> pd.DataFrame:
    """``table`` with its provenance in ``attrs``: data folder (absolute), record ids, file checksums."""
    folder = Path(folder).resolve()
    records = sorted({str(r) for r in table[id_column]})
    table.attrs[KEY] = {
        "folder": str(folder),
        "records": records,
        "sha256": {str(p.relative_to(folder)): sha256(p) for p in source_files(folder, records)},
    }
    return table


def other_source(table: pd.DataFrame, folder: str | Path) -> str | None:
    """The folder ``table`` was built from when it is not ``folder`` (None: the same, or not recorded)."""
    recorded = table.attrs.get(KEY, {}).get("folder")
    if recorded is None or Path(recorded) == Path(folder).resolve():
        return None
    return recorded


# ---- artifact stamps: env, data roots and the upstream configuration of a stored artifact ------------

STAMP_SUFFIX = ".provenance"  # not the artifact's own extension: `*.json` never matches it
#: parameter names that change how a run reports or reaches its result, not the result: progress bars, and a
#: run's ``resume`` (the checkpoint's own fingerprint decides what may be resumed)
UNSTAMPED_KEYS = frozenset({"progress", "resume"})


def stamp_path(artifact: str | Path) -> Path:
    """The sidecar of ``artifact`` (a file or a folder): a hidden sibling, so the collections' globs
    (``attacks/*/*.json``) never pick it up; a versioned artifact's sits in its version folder."""
    artifact = Path(artifact)
    return artifact.parent / f".{artifact.name}{STAMP_SUFFIX}"


def plain(value: Any) -> Any:
    """``value`` as JSON-able data compared by value: dataclasses (the declaration's records) as dicts,
    tuples as lists, numpy scalars as numbers, anything else by its repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def flatten(params: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` under ``prefix`` -> ``{"prefix.a.b": 1}``; lists stay whole (one parameter)."""
    value = plain(params)
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in UNSTAMPED_KEYS:
            continue
        out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
    return out


def fingerprint(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def artifact_stamp(*, env: str | None, data_root: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, Any]:
    """What a stored artifact carries: ``params`` is the flattened upstream configuration."""
    params = dict(sorted(params.items()))
    return {"env": env, "data_root": dict(sorted(data_root.items())), "params": params,
            "fingerprint": fingerprint({"data_root": data_root, "params": params})}


def write_stamp(artifact: str | Path, stamp_: Mapping[str, Any]) -> None:
    path = stamp_path(artifact)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stamp_, sort_keys=True, indent=1, default=repr))
    os.replace(tmp, path)  # atomic, like the datasets' own saves


def read_stamp(artifact: str | Path) -> dict[str, Any] | None:
    """The stamp stored with ``artifact`` (None: written by older code, or by hand)."""
    path = stamp_path(artifact)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise EcgDataError(f"{path}: damaged provenance stamp ({err}); delete it and the artifact beside it") from None


def differences(stored: Mapping[str, Any], expected: Mapping[str, Any], limit: int = 5) -> list[str]:
    """What differs between a stored stamp and the one this run would write, one phrase each, data roots
    first (empty: the same data and configuration). The env alone is not a difference: two envs that
    resolve to the same data root and parameter values produce the same artifact."""
    if stored.get("fingerprint") == expected.get("fingerprint"):
        return []
    found = []
    old_roots, new_roots = stored.get("data_root", {}), expected.get("data_root", {})
    for source in sorted(set(old_roots) | set(new_roots)):
        if old_roots.get(source) != new_roots.get(source):
            found.append(f"{source} read from {old_roots.get(source)} (this run: {new_roots.get(source)})")
    old, new = stored.get("params", {}), expected.get("params", {})
    unbound = False
    for key in sorted(set(old) | set(new)):
        if _unbound_default(key, old, new) or _expansion_listing(key):
            unbound = True
            continue
        if key not in new:
            found.append(f"{key}={_show(old[key])} (this run: not set)")
        elif key not in old:
            found.append(f"{key} not set (this run: {_show(new[key])})")
        elif old[key] != new[key]:
            found.append(f"{key}={_show(old[key])} (this run: {_show(new[key])})")
    if len(found) > limit:
        found = [*found[:limit], f"and {len(found) - limit} more"]
    if not found and unbound:
        return []   # the fingerprints differ only by a keyword bound to its default or a listing of expanded runs
    return found or ["its configuration fingerprint"]


def _unbound_default(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A declaration value bound into a node (``<node>:<keyword>``, e.g. ``adv_mlp.train:expansion``) that is null on
    one side and absent on the other: the same call, since every keyword the templates bind defaults to None; a key
    added to the binding later (the seeds/splits ``expansion``) leaves what was built before it valid."""
    return ":" in key and (key not in old or old[key] is None) and (key not in new or new[key] is None)


#: The keys of a ``runs`` block (and of a data's split listing) that say which runs it expands to, not what any one
#: of them is: the block's own run is the same artifact whatever else is listed; each expanded run's own seed and
#: split are bound into its nodes (``<run>.train:expansion``) and stamped there.
EXPANSION_LISTINGS = ("seeds", "splits")


def _expansion_listing(key: str) -> bool:
    """``runs.<block>.seeds``, ``runs.<block>.splits`` or ``data.<data>.splits[.<split>]``: a listing of expanded
    runs."""
    parts = key.split(".")
    return len(parts) >= 3 and parts[0] in ("runs", "data") and parts[2] in EXPANSION_LISTINGS


def _show(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def check_not_empty(dataset: str, data: Any) -> None:
    """A record table without records, or a split without beats, is an error where it is written: every
    stage after it would run on nothing and a run would end with rc 0 and empty results."""
    if isinstance(data, pd.DataFrame):
        count, what = len(data), "records"
    elif isinstance(data, Mapping) and isinstance(data.get("x"), np.ndarray):
        count, what = int(data["x"].shape[0]), "beats/records (rows of x)"
    else:
        return
    if count == 0:
        raise EcgDataError(f"{dataset}: would be written with 0 {what}; the parameters upstream selected "
                           "nothing (records, classes, split sizes?) or the data folder holds no record files")
