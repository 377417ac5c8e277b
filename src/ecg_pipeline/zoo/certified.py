"""A zoo entry's certified bound (the ``certify`` evaluation, :mod:`ecg_pipeline.verification.grid`): found in a
project for ``zoo add``, re-run and compared beat for beat for ``zoo check``, summed up for the model card.

Stored in an entry as ``certified/certify.json`` (the metrics the ``<run>.certify`` node wrote),
``certified/certify.npz`` (per beat and eps: ``outcome`` 1 certified / 0 unknown / -1 broken, ``lower_margin``,
``subset``) and ``certified/certify.provenance.json`` (the metrics' stamp: the ``certify`` block and its data's
``attack_defaults``, from which the re-check rebuilds the exact :class:`CertifySpec`).

The re-check is one-sided, as a certificate is: every beat certified in the stored result must be certified again
(a certificate that no longer holds is a mismatch naming the beat and eps); a beat certified now that was not is a
note (a tighter verifier, or float noise at the threshold), and a change of a beat's clean verdict (broken: the
model misclassifies it clean, or the MILP found a counter-example) is a mismatch, as a changed prediction is for
the attacks. ``beats=N`` re-checks only the first whole bound batches of the stored beats (the same batches as the
stored run where it bounded every beat, i.e. not ``nested``: bit-exact on its platform) at the eps up to the largest
one with a stored certificate (a certificate above it would be closed down onto these): seconds instead of minutes,
for tests. With MILP in the spec only the whole re-check is one (its seeded choice of open beats is among all).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecg_pipeline.data.splits import take
from ecg_pipeline.errors import EcgConfigError, EcgDataError
from ecg_pipeline.evaluation.worst_case import certified_metrics
from ecg_pipeline.reporting import bracket
from ecg_pipeline.runtime import torch_threads
from ecg_pipeline.verification.certify import BROKEN, CERTIFIED
from ecg_pipeline.verification.grid import CertifySpec, certify_grid

from .stamps import certify_spec_params, read_stamp, stored_for_model

NAME = "certify"                      # the evaluation's name: ``<run>.certify``, ``--attacks certify``
FOLDER = "certified"                  # its files inside an entry
FILES = ("json", "npz", "provenance.json")
#: On another platform a lost certificate whose stored margin bound exceeded the threshold by less than this is a
#: note, not a mismatch: the bounds are computed in float64, so platforms differ by rounding, ~1e-12 of a margin.
NEAR_THRESHOLD = 1e-6
#: The keys of the stored metrics that must equal the spec rebuilt from the stamp (else the stamp is not its own).
SPEC_KEYS = ("grid", "per_class_subset", "sample_per_class", "nested", "seed", "method", "intermediate", "bounds",
             "eps_max")


def find_stored(data: Path, run: str, version: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    """``{files: {json, npz, provenance.json}, version, method}`` of the newest ``<run>.certify`` output under
    ``data`` whose metrics' provenance names exactly this model version and fingerprint (the attacks' rule), or
    None when the model was never certified."""
    found = stored_for_model(Path(data) / "08_reporting" / "certify" / f"{run}.json",
                             Path(data) / "07_model_output" / "certify" / f"{run}.npz", version,
                             meta.get("fingerprint"), f"{run}.certify")
    if found is None:
        return None
    stored, metrics, files = found
    if f"{run}.certify.certify:name" not in read_stamp(files["provenance.json"])["params"]:
        raise EcgDataError(f"{files['provenance.json']}: no '{run}.certify.certify:name': not the stamp of "
                           f"{run}.certify")
    return {"files": files, "version": stored, "method": metrics.get("method")}


def spec_from_stamp(params: dict[str, Any], run: str, metrics: dict[str, Any]) -> CertifySpec:
    """The :class:`CertifySpec` the ``<run>.certify`` node built: the stamped ``certify`` block over its data's
    ``attack_defaults``, with the ``by_model`` keys of the run's architecture (:func:`.stamps.certify_spec_params`);
    refused unless it agrees with what the stored metrics record (:data:`SPEC_KEYS`)."""
    spec = CertifySpec.from_params(certify_spec_params(params, run), NAME)
    rebuilt = {"grid": list(spec.grid), "per_class_subset": spec.per_class, "sample_per_class": spec.sample_per_class,
               "nested": spec.nested, "seed": spec.seed, "method": spec.method, "intermediate": spec.intermediate,
               "bounds": None if spec.bounds is None else list(spec.bounds), "eps_max": spec.eps_max}
    # a key the stored result lacks was added to CertifySpec later: the result was made at that key's default
    defaults = {f.name: f.default for f in dataclasses.fields(CertifySpec) if f.default is not dataclasses.MISSING}
    differ = {k: (metrics.get(k), rebuilt[k]) for k in SPEC_KEYS
              if metrics.get(k, defaults.get(k)) != rebuilt[k]}
    if differ:
        raise EcgDataError(f"zoo entry {run!r}: the certify spec rebuilt from its stamp differs from the stored "
                           f"result's (stored, rebuilt): {differ}; refusing to re-check against another setting")
    return spec


def _where(split: dict[str, np.ndarray], index: int) -> str:
    if "record_id" not in split:
        return ""
    return f" (record {split['record_id'][index]} r_sample {int(split['r_sample'][index])})"


def compare(stored: dict[str, np.ndarray], fresh: dict[str, np.ndarray], grid: list[float],
            split: dict[str, np.ndarray], same_platform: bool, margin_tol: float) -> tuple[bool, str]:
    """(every stored certificate holds again and no clean verdict changed, what was found), ``stored`` and ``fresh``
    the per-beat arrays (``outcome``, ``lower_margin``: eps x beats; ``subset``) of the same beats."""
    if not np.array_equal(stored["subset"], fresh["subset"]):
        return False, "the certified beats differ (subset indices): another per_class, seed or split"
    was, now = np.asarray(stored["outcome"]), np.asarray(fresh["outcome"])
    lost = (was == CERTIFIED) & (now != CERTIFIED)
    gained = (was != CERTIFIED) & (now == CERTIFIED) & (was != BROKEN)
    verdict = ((was == BROKEN) != (now == BROKEN)) & ~lost
    near = lost & (np.asarray(stored["lower_margin"]) - margin_tol < NEAR_THRESHOLD) & (not same_platform)
    failures = []
    for kind, mask in (("a certificate that no longer holds", lost & ~near), ("clean verdict changed", verdict)):
        for g, b in zip(*np.nonzero(mask)):
            index = int(stored["subset"][b])
            failures.append(f"beat {index}{_where(split, index)} at eps {grid[g]:g}: {kind} (stored outcome "
                            f"{int(was[g, b])}, now {int(now[g, b])}; lower margin stored "
                            f"{stored['lower_margin'][g, b]:.3g}, now {fresh['lower_margin'][g, b]:.3g})")
    counts = ", ".join(f"{e:g}: {int((was[g] == CERTIFIED).sum())}/{int((now[g] == CERTIFIED).sum())}"
                       for g, e in enumerate(grid))
    detail = (f"{int((was == CERTIFIED).sum()) - int(lost.sum())} of {int((was == CERTIFIED).sum())} stored "
              f"certificates hold again on {was.shape[1]} beats (certified per eps, stored/now: {counts})")
    if gained.any():
        detail += f"; note: {int(gained.sum())} newly certified (beat, eps): " + ", ".join(
            f"({int(stored['subset'][b])}, {grid[g]:g})" for g, b in list(zip(*np.nonzero(gained)))[:10])
    if near.any():
        detail += f"; note: {int(near.sum())} lost within {NEAR_THRESHOLD:g} of the threshold on another platform"
    if failures:
        detail = f"{len(failures)} per-beat failures: {detail}:\n    " + "\n    ".join(failures[:20]) + (
            f"\n    ... and {len(failures) - 20} more" if len(failures) > 20 else "")
    return not failures, detail


def recheck(model, split: dict[str, np.ndarray], spec: CertifySpec, stored: dict[str, np.ndarray], *, name: str,
            beats: int | None = None) -> tuple[dict[str, np.ndarray], list[float], float | None]:
    """Re-run the certification on the rebuilt ``split``: (fresh per-beat arrays, their grid, the certified
    ACC_robust or None for a partial re-check). ``beats``: only the first whole batches of the stored beats that
    hold ``beats`` (at the grid points up to the largest one with a stored certificate), the stored arrays cut to
    match by the caller (:func:`cut`)."""
    if beats is None:
        with torch_threads(spec.num_threads):
            record, fresh = certify_grid(model, split, spec, name=name)
        return fresh, list(spec.grid), certified_metrics(record, fresh).get("acc_robust_balanced")
    check_partial(spec, beats, name)
    positions, points = _partial(stored, spec, beats)
    part = dataclasses.replace(spec, grid=tuple(spec.grid[:points]), eps_max=None, per_class=None,
                               sample_per_class=None)
    with torch_threads(spec.num_threads):
        _, fresh = certify_grid(model, take(split, np.asarray(stored["subset"])[positions]), part, name=name)
    fresh["subset"] = np.asarray(stored["subset"])[positions]
    return fresh, list(part.grid), None


def check_partial(spec: CertifySpec, beats: int | None, name: str) -> None:
    """Refuse, before any work, a partial re-check that cannot be one: a count that is not one, or a spec with MILP
    (its seeded choice of open beats is among all of them)."""
    if beats is None:
        return
    if isinstance(beats, bool) or not isinstance(beats, int) or beats < 1:
        raise EcgConfigError(f"{name}: certify beats={beats!r}; expected a positive number of beats")
    if spec.milp_max_beats:
        raise EcgConfigError(f"{name}: a partial re-check (beats={beats}) cannot repeat the MILP's seeded choice of "
                             "open beats among all of them; re-check the whole certification")


def _partial(stored: dict[str, np.ndarray], spec: CertifySpec, beats: int) -> tuple[slice, int]:
    n = min(len(stored["subset"]), -(-beats // spec.batch_size) * spec.batch_size)
    certified_at = np.flatnonzero((np.asarray(stored["outcome"])[:, :n] == CERTIFIED).any(axis=1))
    points = max(2, int(certified_at[-1]) + 1 if certified_at.size else 0)
    return slice(0, n), min(points, len(spec.grid))


def cut(stored: dict[str, np.ndarray], spec: CertifySpec, beats: int | None) -> dict[str, np.ndarray]:
    """The stored arrays restricted to what :func:`recheck` with ``beats`` re-runs."""
    if beats is None:
        return stored
    positions, points = _partial(stored, spec, beats)
    return {"subset": np.asarray(stored["subset"])[positions],
            **{k: np.asarray(stored[k])[:points, positions] for k in ("outcome", "lower_margin")}}


def card_section(entry: Path, worst: dict[str, Any] | None) -> list[str]:
    """The model card's "Certified" lines from ``certified/certify.json`` (none when the entry stores none): the
    certified ACC_robust and balanced accuracy per eps and, beside the worst case on the same beats, the report's
    bracket (:func:`ecg_pipeline.reporting.bracket.table`: the same checks, a lower bound above the upper refused)."""
    metrics_file = Path(entry) / FOLDER / f"{NAME}.json"
    if not metrics_file.is_file():
        return []
    metrics, run = json.loads(metrics_file.read_text()), Path(entry).name
    certified = metrics.get("acc_robust_balanced")
    milp = metrics.get("milp") or {}
    lines = ["## Certified (a lower bound: every beat counted robust is proven robust)", "",
             f"- {metrics['method']} (intermediate bounds {metrics.get('intermediate')}"
             f"{', MILP on open beats' if milp.get('applied') else ''}) on {metrics['n']} beats "
             f"({metrics.get('per_class_subset')} per class at most"
             f"{'' if metrics.get('sample_per_class') is None else ', a sample of ' + str(metrics['sample_per_class'])}"
             f"), input bounds {metrics.get('bounds')}, {metrics.get('seconds', 0):.0f} s",
             f"- **certified ACC_robust {'—' if certified is None else f'{certified:.3f}'}** (class-balanced, up to "
             f"eps_max {metrics.get('eps_max')})"]
    brackets, left_out = (bracket.table({run: metrics}, {run: worst}) if worst is not None
                          else (pd.DataFrame(columns=list(bracket.COLUMNS)), {}))
    if brackets.empty:
        if run in left_out:
            lines.append(f"- no bracket: {left_out[run]}")
        lines += ["", "| eps | certified balanced accuracy | certified / unknown / broken |", "|---|---|---|"]
        lines += [f"| {p['eps']:g} | {p['balanced_accuracy']:.3f} | {p.get('certified')} / {p.get('unknown')} / "
                  f"{p.get('broken')} |" for p in metrics["curve"]]
        return lines + [""]
    found = bracket.acc_robust(brackets).get(run)
    if found is not None:
        lines.append(f"- bracket: ACC_robust in [{found['lower']:.3f}, {found['upper']:.3f}] (width "
                     f"{found['width']:.3f}): the certified lower bound and the worst case over the attacks above, "
                     "on the same beats")
    lines += ["", "| eps | certified balanced accuracy (lower) | worst-case balanced accuracy (upper) | width | "
              "certified / unknown / broken (clean error or counter-example) |", "|---|---|---|---|---|"]
    lines += [f"| {row.point} | {row.lower_balanced:.3f} | {row.upper_balanced:.3f} | {row.width_balanced:.3f} | "
              f"{int(row.certified)} / {int(row.unknown)} / {int(row.broken)} |"
              for row in brackets.itertuples() if not row.point.startswith(bracket.ACC_ROBUST)]
    return lines + [""]
