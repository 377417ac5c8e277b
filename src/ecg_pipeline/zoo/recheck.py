"""``zoo check``: load every zoo model, rebuild its test split from the raw PhysioNet data, re-run each stored
evaluation with the spec and seed its stamp records, and compare the per-beat predictions with the stored ones.

The test split is rebuilt from raw (``<data_root>/<raw source>``) with the project's own data functions, the ones
its database declares (``data.databases``: ingests, then steps up to the ``<database>_test`` split), called with
the data parameters of the evaluation's stamp; its fingerprint must equal the one the stored metrics record
(``provenance.test_data.fingerprint``) or the check stops before any attack: other beats would compare nothing.

Comparison: every evaluation is seeded and, on one platform (torch version, CPU kernel set), single-threaded,
bit-exact, so on the platform that made it the per-beat predictions must be identical (tolerance 0). On another
platform float kernels move a few beats near the decision boundary; there the tolerance is
:data:`OTHER_PLATFORM_TOLERANCE` of the beats per grid point, and the line says so. The certified bound
(``certify``, :mod:`.certified`) is re-run by the verifier instead of an attack and compared one-sidedly: every
stored certificate must hold again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecg_pipeline.data import databases
from ecg_pipeline.datasets.torch_model import TorchModelDataset
from ecg_pipeline.errors import EcgDataError, EcgModelError
from ecg_pipeline.evaluation import AttackSpec, evaluate
from ecg_pipeline.run_provenance import data_fingerprint

from . import certified
from .index import default_zoo, read_index, select_entries, verify_files
from .stamps import attack_spec_params, read_stamp, section

#: Fraction of beats per grid point allowed to differ when the platform is not the one that stored the evaluation.
OTHER_PLATFORM_TOLERANCE = 0.01


@dataclass
class Outcome:
    entry: str
    evaluation: str
    ok: bool
    line: str


def default_data_root() -> Path:
    """``$ECG_SHARED_DATA``, else ``../shared/data`` beside the repository (the project's ``data_root``)."""
    return Path(os.environ.get("ECG_SHARED_DATA", default_zoo().parent.parent / "shared" / "data")).resolve()


def rebuild_split(database: str, params: dict[str, Any], data_root: Path, split: str = "test") -> dict:
    """``<database>_<split>`` rebuilt from raw by the database's declared ingests and steps, each called with its
    section of ``params`` (a stamp's flattened parameters; a section the stamp lacks takes the function's defaults)."""
    declared = databases.database(database)
    tables: dict[str, Any] = {}
    for ingest in declared.ingests:
        folder = Path(data_root) / ingest.raw
        if not folder.exists():
            raise EcgDataError(f"zoo check: raw folder {folder} of {database!r} is missing (give --data-root, or "
                               "set ECG_SHARED_DATA)")
        source = ingest.locate(folder) if ingest.locate is not None else folder
        tables[ingest.output] = ingest.function(source, **section(params, ingest.section))
    wanted = f"{database}_{split}"
    for step in declared.steps:
        if wanted in tables:
            break
        if not all(name in tables for name in step.inputs):
            continue
        result = step.function(*(tables[name] for name in step.inputs),
                               **{**section(params, step.section), **step.fixed})
        parts = [result[p] for p in step.parts] if step.parts else [result]
        tables.update(zip(step.outputs, parts))
    if wanted not in tables:
        raise EcgDataError(f"zoo check: database {database!r} declares no step that writes {wanted}")
    return tables[wanted]


def _noise_table(database: str, params: dict[str, Any], data_root: Path):
    """The NSTDB noise table the real-noise attacks draw from (the declared ingest whose output is ``nstdb_noise``)."""
    for ingest in databases.database(database).ingests:
        if ingest.output == "nstdb_noise":
            return ingest.function(Path(data_root) / ingest.raw, **section(params, ingest.section))
    raise EcgDataError(f"zoo check: database {database!r} declares no nstdb_noise ingest")


def platform_of(provenance: dict[str, Any]) -> tuple[str | None, str | None]:
    return (provenance.get("packages") or {}).get("torch"), (provenance.get("machine") or {}).get("cpu_capability")


def this_platform() -> tuple[str, str]:
    return torch.__version__, torch.backends.cpu.get_cpu_capability()


def compare(stored: dict[str, np.ndarray], fresh: dict[str, np.ndarray], grid: list[float], tolerance: float,
            split: dict[str, np.ndarray]) -> tuple[bool, str]:
    """(within tolerance, what differs): the same beats (``subset``) and the per-beat predictions (``pred``: grid x
    beats) compared; differing beats named by test-split index, record and R-peak sample."""
    if not np.array_equal(stored["subset"], fresh["subset"]):
        return False, "the evaluated beats differ (subset indices): another per_class, seed or split"
    differs = np.asarray(stored["pred"]) != np.asarray(fresh["pred"])
    per_point = differs.mean(axis=1)
    if not differs.any():
        return True, f"identical per-beat predictions ({differs.shape[0]} x {differs.shape[1]})"
    names = []
    for g, b in zip(*np.nonzero(differs)):
        index = int(stored["subset"][b])
        where = (f"record {split['record_id'][index]} r_sample {int(split['r_sample'][index])}"
                 if "record_id" in split else "")
        names.append(f"beat {index} {where} at {grid[g]}: stored {int(stored['pred'][g, b])}, now "
                     f"{int(fresh['pred'][g, b])}")
    ok = bool(per_point.max() <= tolerance)
    head = (f"{int(differs.sum())} per-beat predictions differ (at most {per_point.max():.2%} of the beats at one "
            f"grid point; tolerance {tolerance:.0%})")
    return ok, head + ("" if ok else ":\n    " + "\n    ".join(names[:20])
                       + (f"\n    ... and {len(names) - 20} more" if len(names) > 20 else ""))


def check_zoo(zoo: Path | None = None, entries: Iterable[str] | None = None, attacks: Iterable[str] | None = None,
              data_root: Path | None = None, report=print, certify_beats: int | None = None) -> list[Outcome]:
    """Re-check ``entries`` (default all) on ``attacks`` (default every stored evaluation, the certified bound
    ``certify`` included); ``report`` gets one line per (model, evaluation). ``certify_beats``: re-certify only the
    first whole bound batches holding that many beats (:func:`.certified.recheck`). Bad input (an unknown entry or
    attack, a missing or changed file, a missing reference model) is refused before any evaluation runs."""
    zoo = Path(zoo or default_zoo())
    data_root = Path(data_root or default_data_root())
    index = read_index(zoo)
    names = select_entries(index, entries)
    plan = []
    for name in names:
        stored = dict(index["entries"][name]["evaluations"])
        if index["entries"][name].get(certified.NAME):   # the certified bound: null where none is stored
            stored[certified.NAME] = {"reference": None}
        plan += [(name, a, stored[a].get("reference")) for a in (attacks or sorted(stored)) if a in stored]
    for attack in attacks or ():
        if not any(a == attack for _, a, _ in plan):
            raise EcgDataError(f"zoo check: no entry of {names} stores an evaluation {attack!r}")
    references = {r for _, _, r in plan if r}
    missing = sorted(r for r in references if r not in index["entries"])
    if missing:
        raise EcgDataError(f"zoo check: the transfer check needs reference model(s) {missing}, not in the zoo")
    verify_files(zoo, index, sorted(set(names) | references))

    models = {n: TorchModelDataset(filepath=str(zoo / n / "model.pt")).load() for n in sorted(set(names) | references)}
    for n, model in models.items():
        if model.meta.get("fingerprint") != index["entries"][n]["model_fingerprint"]:
            raise EcgModelError(f"zoo entry {n!r}: model.pt has fingerprint {model.meta.get('fingerprint')}, the index "
                                f"records {index['entries'][n]['model_fingerprint']}")
    prepared = []  # every stamp read and every spec built before the first evaluation runs
    for name, evaluation, reference in plan:
        folder = zoo / name / (certified.FOLDER if evaluation == certified.NAME else "evaluations")
        params = read_stamp(folder / f"{evaluation}.provenance.json")["params"]
        metrics = json.loads((folder / f"{evaluation}.json").read_text())
        if evaluation == certified.NAME:
            spec = certified.spec_from_stamp(params, name, metrics)
            certified.check_partial(spec, certify_beats, f"zoo check {name}.{evaluation}")
        else:
            attack, block = attack_spec_params(params, name, evaluation)
            spec = dataclasses.replace(AttackSpec.from_params(block, attack), progress=False, device="cpu")
        prepared.append((name, evaluation, reference, params, metrics, spec))

    splits: dict[tuple, dict] = {}
    outcomes = []
    for name, evaluation, reference, params, metrics, spec in prepared:
        database = params[f"runs.{name}.data"]
        key = (database, tuple(sorted((k, repr(v)) for k, v in params.items()
                                      if k.split(".")[0] in ("ingestion", "segmentation", "split"))))
        if key not in splits:
            splits[key] = rebuild_split(database, params, data_root)
        split = splits[key]
        expected = metrics["provenance"]["test_data"]["fingerprint"]
        if data_fingerprint(split) != expected:
            raise EcgDataError(f"zoo check {name}.{evaluation}: the rebuilt {database} test split has fingerprint "
                               f"{data_fingerprint(split)}, the stored evaluation ran on {expected}: other beats "
                               f"(raw data under {data_root}, or the data code changed)")
        same = platform_of(metrics["provenance"]) == this_platform()
        where = "" if same else f" [other platform: {'/'.join(map(str, this_platform()))}]"
        if evaluation == certified.NAME:
            outcomes.append(_check_certified(zoo, name, models[name], split, spec, metrics, same, certify_beats,
                                             where, report))
            continue
        with np.load(zoo / name / "evaluations" / f"{evaluation}.npz") as stored_npz:
            stored = {k: stored_npz[k] for k in ("subset", "pred")}
        noise = _noise_table(database, params, data_root) if spec.needs_noise else None
        tolerance = 0.0 if same else OTHER_PLATFORM_TOLERANCE
        start = time.perf_counter()
        fresh_metrics, fresh = evaluate(models[name], split, spec, name=f"{name}.{evaluation}", noise_table=noise,
                                        reference=models.get(reference), reference_name=reference)
        seconds = time.perf_counter() - start
        ok, detail = compare(stored, fresh, list(spec.grid), tolerance, split)
        flags = {f["flag"]: bool(f["raised"]) for f in metrics.get("flags") or ()}
        fresh_flags = {f["flag"]: bool(f["raised"]) for f in fresh_metrics.get("flags") or ()}
        if flags != fresh_flags and same:  # the masking checks are seeded too: the same verdicts
            ok, detail = False, f"{detail}; masking flags differ: stored {flags}, now {fresh_flags}"
        elif flags:
            raised = sorted(f for f, r in fresh_flags.items() if r) or "none"
            detail += f"; flags raised {raised}" + (" as stored" if flags == fresh_flags else
                                                    f" (stored {sorted(f for f, r in flags.items() if r) or 'none'})")
        acc, now = metrics.get("acc_robust_balanced"), fresh_metrics.get("acc_robust_balanced")
        numbers = "" if acc is None or now is None else f"; ACC_robust {acc:.4f} stored, {now:.4f} now"
        line = f"{'ok      ' if ok else 'MISMATCH'} {name} {evaluation}: {detail}{numbers} ({seconds:.1f} s){where}"
        report(line)
        outcomes.append(Outcome(name, evaluation, ok, line))
    return outcomes


def _check_certified(zoo: Path, name: str, model, split: dict, spec, metrics: dict, same: bool,
                     beats: int | None, where: str, report) -> Outcome:
    """Re-certify ``name`` with its stamped spec (or its first ``beats``) and compare per beat (:mod:`.certified`)."""
    with np.load(zoo / name / certified.FOLDER / f"{certified.NAME}.npz") as stored_npz:
        stored = {k: stored_npz[k] for k in ("subset", "outcome", "lower_margin")}
    start = time.perf_counter()
    fresh, grid, now = certified.recheck(model, split, spec, stored, name=f"{name}.{certified.NAME}", beats=beats)
    stored = certified.cut(stored, spec, beats)
    seconds = time.perf_counter() - start
    ok, detail = certified.compare(stored, fresh, grid, split, same, spec.margin_tol)
    acc = metrics.get("acc_robust_balanced")
    numbers = "" if acc is None or now is None else f"; certified ACC_robust {acc:.4f} stored, {now:.4f} now"
    part = "" if beats is None else f"; partial: the first {len(stored['subset'])} beats, eps up to {grid[-1]:g}"
    line = (f"{'ok      ' if ok else 'MISMATCH'} {name} {certified.NAME}: {detail}{numbers}{part} ({seconds:.1f} s)"
            f"{where}")
    report(line)
    return Outcome(name, certified.NAME, ok, line)
