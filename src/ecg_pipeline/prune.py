"""``python -m ecg_pipeline.prune``: keep the newest N versions of every versioned dataset under ``data/``.

Every Kedro run adds a timestamped version to each versioned dataset it writes (``<file>/<version>/<file>``,
e.g. ``data/05_model_input/mitdb_train_balanced.npz/2026-12-07T04.15.48.081Z/mitdb_train_balanced.npz``) and
never removes one: a full data run adds 218 MB. This command removes the versions beyond the newest ``--keep``
of each dataset, except the *protected* ones:

* **report pins**: the input versions each kept report inventory (``report.inventory``) records it read; the
  model and split versions each pinned evaluation names in its own JSON (its ``provenance``); and, for results
  written before provenance was recorded, the version of the run's model (``06_models/<run>.pt``) current when it
  was written (the newest one not newer than it);
* **model pins**: for each kept or pinned model version, the training split it was trained on: the version
  named in its meta where the meta names one (``data_version``, or any version string in it), else the newest
  split version not newer than the model whose data fingerprint equals the model's ``meta["data_fingerprint"]``
  (and the validation / test versions written with it), else, where no stored split matches, the newest
  version not newer than the model of every ``05_model_input`` dataset (said so in the output);
* whatever an extra source adds: :data:`PROTECTORS` is a list of functions ``(Store) -> {path: reason}``;
  a model zoo appends its own (``PROTECTORS.append(zoo_pins)``), and ``--protect`` pins versions by hand.

Nothing is deleted without ``--apply``: the default is a dry run that prints what would go and the space it
would free (a deleted version cannot be recovered, and rebuilding one is a full pipeline run). Checkpoint folders
(``06_models/checkpoints``) and other unversioned files are left alone.

    python -m ecg_pipeline.prune                 # dry run, keep 2 versions of each dataset
    python -m ecg_pipeline.prune --keep 3 --apply
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ecg_pipeline.versioned_store import VERSION, versions
MODEL_INPUT = "05_model_input"
MODELS = "06_models"
REPORT_INVENTORY = Path("08_reporting/report/inventory.json")


@dataclass(eq=False)
class Dataset:
    """One versioned dataset: its folder (``<file>``) and its version names, oldest first."""

    path: Path
    versions: list[str]

    def version_path(self, version: str) -> Path:
        return self.path / version

    def file(self, version: str) -> Path:
        return self.path / version / self.path.name

    def newest_not_after(self, stamp: str) -> str | None:
        older = [v for v in self.versions if v <= stamp]
        return older[-1] if older else None


@dataclass
class Store:
    """The versioned datasets under ``root`` and the versions the keep-newest rule keeps."""

    root: Path
    keep: int
    datasets: dict[Path, Dataset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.datasets = {d.path: d for d in find_versioned(self.root)}

    def kept(self, dataset: Dataset) -> list[str]:
        return dataset.versions[-self.keep:]

    def under(self, layer: str) -> list[Dataset]:
        return [d for p, d in self.datasets.items() if p.relative_to(self.root).parts[0] == layer]

    def dataset(self, path: Path) -> Dataset | None:
        return self.datasets.get(path)


def find_versioned(root: Path) -> list[Dataset]:
    """Every folder under ``root`` holding version folders that each hold a file (or folder) of its name."""
    found = []
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and not VERSION.fullmatch(p.name)):
        if stored := versions(folder):
            found.append(Dataset(folder, stored))
    return found


def _version_strings(obj) -> set[str]:
    """Every Kedro version string anywhere in a JSON-like object (keys and values)."""
    if isinstance(obj, str):
        return set(VERSION.findall(obj))
    if isinstance(obj, dict):
        return set().union(*(_version_strings(k) | _version_strings(v) for k, v in obj.items())) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*(_version_strings(v) for v in obj)) if obj else set()
    return set()


def _resolve(store: Store, filepath: str) -> Path | None:
    """A recorded dataset filepath (absolute, relative to the project, or to another clone) as a folder here."""
    path = Path(filepath)
    parts = path.parts
    if "data" in parts:  # data/<layer>/...: relative to this data root, wherever the report was built
        i = len(parts) - 1 - parts[::-1].index("data")
        path = store.root.joinpath(*parts[i + 1:])
    elif not path.is_absolute():
        path = store.root / path
    return path


def _model_of_run(store: Store, run: str) -> list[Dataset]:
    models = [store.dataset(store.root / MODELS / f"{run}{suffix}") for suffix in (".pt", "_generator.pt")]
    return [m for m in models if m is not None]


def _named_versions(path: Path, store: Store) -> list[tuple[str, Dataset]]:
    """(version, dataset) of the models and splits whose version a stored JSON result names anywhere in it."""
    if path.suffix != ".json" or not path.is_file():
        return []
    try:
        named = _version_strings(json.loads(path.read_text()))
    except (OSError, ValueError):
        return []
    return [(v, d) for d in (*store.under(MODELS), *store.under(MODEL_INPUT)) for v in sorted(named & set(d.versions))]


def report_pins(store: Store) -> dict[Path, str]:
    """The inputs of every kept report inventory, and the model version of each pinned run at that time."""
    pins: dict[Path, str] = {}
    inventory = store.dataset(store.root / REPORT_INVENTORY)
    if inventory is None:
        return pins
    for report_version in store.kept(inventory):
        try:
            content = json.loads(inventory.file(report_version).read_text())
        except (OSError, ValueError):
            continue
        why = f"read by the report of {report_version}"
        for entry in content.get("inputs", []):
            if not isinstance(entry, dict) or not entry.get("version") or not entry.get("filepath"):
                continue
            folder = _resolve(store, entry["filepath"])
            pins[folder / entry["version"]] = why
            # the versions the pinned result names itself (its provenance: the model and split it was handed)
            for version, dataset in _named_versions(folder / entry["version"] / folder.name, store):
                pins.setdefault(dataset.version_path(version), f"named by {entry.get('dataset', folder.name)} "
                                                               f"({entry['version']}); {why}")
            run = str(entry.get("dataset", "")).split(".")[0]
            for model in _model_of_run(store, run) if run else ():
                version = model.newest_not_after(entry["version"])
                if version:
                    pins.setdefault(model.version_path(version), f"the {run} model when its {entry['dataset']} "
                                                                 f"({entry['version']}) was written; {why}")
    return pins


def _load_meta(path: Path) -> dict:
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - an unreadable model pins nothing by its meta; the time rule still applies
        return {}
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    return meta if isinstance(meta, dict) else {}


class _Fingerprints:
    """``data_fingerprint`` of split versions, each file read at most once."""

    def __init__(self) -> None:
        self.cache: dict[Path, str | None] = {}

    def __call__(self, path: Path) -> str | None:
        if path not in self.cache:
            import numpy as np

            from ecg_pipeline.defenses.fit import data_fingerprint

            try:
                with np.load(path, allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in ("y", "x", "values") if k in npz.files}
                self.cache[path] = data_fingerprint(arrays) if "y" in arrays and len(arrays) > 1 else None
            except (OSError, ValueError, KeyError):
                self.cache[path] = None
        return self.cache[path]


def model_pins(store: Store, models: Iterable[tuple[Dataset, str]] | None = None,
               fingerprints: _Fingerprints | None = None) -> dict[Path, str]:
    """The split versions that the kept (or given) model versions were trained on."""
    fingerprints = fingerprints or _Fingerprints()
    splits = store.under(MODEL_INPUT)
    if models is None:
        models = [(m, v) for m in store.under(MODELS) for v in store.kept(m)]
    pins: dict[Path, str] = {}
    for model, version in models:
        name = f"{model.path.relative_to(store.root)} {version}"
        meta = _load_meta(model.file(version))
        named = {v for v in _version_strings(meta) if v != version}
        if named:  # the model records its data version(s): every split of that session
            for split in splits:
                for v in named & set(split.versions):
                    pins[split.version_path(v)] = f"named in the meta of {name}"
            continue
        matched = None
        if meta.get("data_fingerprint"):
            for split in splits:
                for v in reversed([v for v in split.versions if v <= version]):
                    if fingerprints(split.file(v)) == meta["data_fingerprint"]:
                        matched = v
                        break
                if matched:
                    break
        if matched:  # the training split, and the splits written with it (validation, test)
            for split in splits:
                if matched in split.versions:
                    pins[split.version_path(matched)] = f"the data {name} was trained on (fingerprint)"
            continue
        for split in splits:  # no record, no match: the newest of every split not newer than the model
            v = split.newest_not_after(version)
            if v:
                pins.setdefault(split.version_path(v), f"possibly the data of {name} (no stored split matches its "
                                                       f"data fingerprint: kept by date)")
    return pins


#: The sources of protected versions, each ``(Store) -> {version folder: why}``. A zoo appends its own.
PROTECTORS: list[Callable[[Store], dict[Path, str]]] = [report_pins]


def protected_versions(store: Store, sources: Iterable[Callable[[Store], dict[Path, str]]] | None = None,
                       extra: Iterable[Path] = ()) -> dict[Path, str]:
    """Every version folder that must stay, with why: the ``sources`` (default :data:`PROTECTORS`), ``extra``
    (by hand), then the splits of every kept or protected model version."""
    pins: dict[Path, str] = {}
    for source in PROTECTORS if sources is None else sources:
        for path, why in source(store).items():
            pins.setdefault(path, why)
    for path in extra:
        pins.setdefault(Path(path).resolve(), "--protect")
    kept_models = {(m, v) for m in store.under(MODELS) for v in store.kept(m)}
    pinned_models = {(m, p.name) for m in store.under(MODELS) for p in pins if p.parent == m.path}
    for path, why in model_pins(store, sorted(kept_models | pinned_models, key=lambda mv: (str(mv[0].path), mv[1]))).items():
        pins.setdefault(path, why)
    return pins


def size_of(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def plan(store: Store, protected: dict[Path, str]) -> list[tuple[Dataset, str, int]]:
    """(dataset, version, bytes) of every version that goes: beyond the newest ``keep`` and not protected."""
    keep_paths = {Path(p).resolve() for p in protected}
    out = []
    for dataset in store.datasets.values():
        for version in dataset.versions[:-store.keep]:
            path = dataset.version_path(version)
            if path.resolve() not in keep_paths:
                out.append((dataset, version, size_of(path)))
    return out


def prune(root: Path, keep: int, *, apply: bool, extra: Iterable[Path] = (),
          sources: Iterable[Callable[[Store], dict[Path, str]]] | None = None, out=print) -> int:
    """Remove (``apply``) or list the versions beyond the newest ``keep``; returns the bytes freed (or to free)."""
    store = Store(root, keep)
    protected = protected_versions(store, sources, extra)
    doomed = plan(store, protected)
    verb = "removing" if apply else "would remove"
    held = 0  # protected versions beyond the newest `keep`: what the protection actually saves
    for path, why in sorted(protected.items()):
        dataset = store.dataset(path.parent)
        if dataset is not None and path.name in dataset.versions[:-keep]:
            held += 1
            out(f"keep  {path.relative_to(store.root)} (protected: {why})")
    for dataset, version, size in doomed:
        out(f"{'rm' if apply else 'rm?'}   {dataset.version_path(version).relative_to(store.root)}  {human(size)}")
        if apply:
            shutil.rmtree(dataset.version_path(version))
    total = sum(size for *_, size in doomed)
    out(f"{verb} {len(doomed)} version(s) of {len({d.path for d, *_ in doomed})} dataset(s) under {root}, "
        f"freeing {human(total)}; kept the newest {keep} of each of {len(store.datasets)} versioned datasets"
        f" and {held} older protected version(s)"
        + ("" if apply else ". Dry run: nothing deleted; add --apply to delete."))
    return total


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecg_pipeline.prune", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="A version is never removed when a kept report read it, a kept or pinned model "
                                       "was trained on it, or --protect names it.")
    p.add_argument("--data", type=Path, default=Path("data"), help="the data folder (default: ./data)")
    p.add_argument("--keep", type=int, default=2, help="versions of each dataset to keep, newest first (default 2)")
    p.add_argument("--apply", action="store_true", help="delete (default: dry run, list only)")
    p.add_argument("--dry-run", action="store_true", help="list only (the default; overrides --apply)")
    p.add_argument("--protect", type=Path, action="append", default=[], metavar="VERSION_FOLDER",
                   help="also keep this version folder (<file>/<version>), and the data of a model folder; repeatable")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.keep < 1:
        print(f"prune: --keep must be at least 1, got {args.keep}", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"prune: no data folder at {args.data.resolve()} (run from the project root or pass --data)",
              file=sys.stderr)
        return 2
    prune(args.data, args.keep, apply=args.apply and not args.dry_run, extra=[p.resolve() for p in args.protect])
    return 0


def prune_command():
    """The ``prune`` command as a click command (for the project CLI: ``kedro prune --keep 3 --apply``)."""
    import click

    @click.command(name="prune", context_settings={"ignore_unknown_options": True, "help_option_names": []},
                   help=__doc__.split("\n\n")[0] + " Options: see `python -m ecg_pipeline.prune --help`.")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args):
        raise SystemExit(main(list(args)))

    return command


if __name__ == "__main__":
    raise SystemExit(main())
