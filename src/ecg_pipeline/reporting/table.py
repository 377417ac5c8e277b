"""The benchmark table (issue 28, item 3): one row per defense x model x split, aggregated over training seeds.

Input: each run's stored worst case (``report.worst_cases``, :mod:`.worst_cases`) and what the declaration says of
the run (:class:`RunDimensions`: the ``runs`` block it expands, its family, model, split and seed;
``pipelines.declaration.expansion``). A row gathers the runs of one block on one split:

- **clean** and **worst-case ACC_robust** (class-balanced, seed 001 eq. 8, up to the data's eps_max): the mean over
  seeds; with two seeds or more, the sd and Student's t-interval of the mean over seeds
  (:func:`~ecg_pipeline.evaluation.paired.seed_summary`: the training seed's spread); with one seed, the stratified
  bootstrap interval over beats the worst case carries (``interval`` says which).
- **against CE**: the block's runs paired, seed by seed, with the runs of the CE block (family ``reference``) of the
  same model on the same split, each pair compared on the beats both scored (their per-beat worst case,
  ``per_beat``): the difference in ACC_robust (this defense minus CE). Two pairs or more: mean difference and its
  t-interval over the pairs; one pair: the paired stratified bootstrap interval over beats
  (:func:`~ecg_pipeline.evaluation.paired.paired_difference`). The exact McNemar p at eps_max
  (:func:`~ecg_pipeline.evaluation.paired.mcnemar_table`) is the largest over the pairs (every pair is at least as
  significant). Runs whose worst case lacks per-beat outcomes leave these cells empty, and the row says so.

- **the other evaluations** (issue 28 item 6), each the mean over the row's seeds of what the run stores, an empty
  cell where no seed has it, and a note naming the seeds that had it where fewer than all did: SAP's and white
  noise's class-balanced ACC_robust (``<run>.sap``, ``<run>.white_noise``), the balanced accuracy under PhysioNet nst
  record-level noise at 12 and 0 dB (``<run>.record_noise``), and the certified balanced ACC_robust and certified
  balanced accuracy at eps 0.01 (``<run>.certify``, :mod:`.bracket`'s lower end). :func:`evaluation_cells` reads
  them from one run's loaded metrics; :func:`table` takes the result per run.

Everything is computed from stored results alone (no attack is run again); :func:`table` returns the CSV's frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.evaluation.paired import align, mcnemar_table, paired_difference, seed_summary

_WORST_CASE_COLUMNS = ["defense", "block", "family", "model", "split", "seeds", "n seeds", "beats", "eps_max",
                       "clean", "clean low", "clean high",
                       "worst-case ACC_robust", "worst-case ACC_robust sd", "worst-case ACC_robust low",
                       "worst-case ACC_robust high", "interval",
                       "reference", "pairs", "ACC_robust minus reference", "difference low", "difference high",
                       "difference interval", "McNemar p at eps_max"]

#: What the record-level noise columns show (dB, rows of ``<run>.record_noise``'s curve) and the eps of the
#: certified-accuracy column: the issue's 12 / 0 dB and the smallest eps of the certify grid.
RECORD_NOISE_SNRS_DB = (12.0, 0.0)
CERTIFIED_EPS = 0.01
SAP, WHITE_NOISE = "SAP ACC_robust", "white noise ACC_robust"
CERTIFIED, CERTIFIED_AT = "certified ACC_robust", f"certified at eps {CERTIFIED_EPS:g}"
RECORD_NOISE = tuple(f"record noise {snr:g} dB" for snr in RECORD_NOISE_SNRS_DB)
EVALUATION_COLUMNS = [SAP, WHITE_NOISE, *RECORD_NOISE, CERTIFIED, CERTIFIED_AT]
COLUMNS = [*_WORST_CASE_COLUMNS, *EVALUATION_COLUMNS, "note"]


@dataclass(frozen=True)
class RunDimensions:
    """What the declaration says of one reported run: the block it expands (its own name for a block's own run),
    the block's label, family, model, split (None: its data declares no splits; the data's name is shown) and seed."""

    block: str
    defense: str
    family: str
    model: str
    split: str | None
    data: str
    seed: int


def encode_outcomes(beats: Sequence[int], y: Sequence[int], correct: np.ndarray) -> dict:
    """A worst case's per-beat outcomes as the report's JSON stores them (``per_beat``): beat indices into the test
    split, their labels, and per eps one string of '0'/'1' (beat still correct), compact and exact."""
    correct = np.asarray(correct, dtype=bool)
    return {"beats": [int(b) for b in beats], "y": [int(c) for c in y],
            "correct": ["".join("1" if v else "0" for v in row) for row in correct]}


def decode_outcomes(per_beat: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beats, y, correct[eps, beat]) of :func:`encode_outcomes`'s form."""
    correct = np.array([[c == "1" for c in row] for row in per_beat["correct"]], dtype=bool)
    return np.asarray(per_beat["beats"]), np.asarray(per_beat["y"]), correct


def _curve_value(metrics: Mapping, key: str, value: float, field: str = "balanced_accuracy") -> float | None:
    """``field`` of the curve row whose ``key`` (eps, snr_db) is ``value`` (None: no such row or no such field)."""
    for row in metrics.get("curve") or []:
        if row.get(key) is not None and abs(float(row[key]) - value) < 1e-9 and row.get(field) is not None:
            return float(row[field])
    return None


def evaluation_cells(*, sap: Mapping | None = None, white_noise: Mapping | None = None,
                     record_noise: Mapping | None = None, certify: Mapping | None = None) -> dict[str, float]:
    """One run's cells of :data:`EVALUATION_COLUMNS` from its stored metrics (each None where not stored): only the
    cells it has. ACC_robust columns are each evaluation's own ``acc_robust_balanced`` (class-balanced, seed 001
    eq. 8, up to its ``eps_max``); the certified ones are ``<run>.certify``'s (a beat counts only where certified)."""
    cells = {}
    for column, metrics in ((SAP, sap), (WHITE_NOISE, white_noise), (CERTIFIED, certify)):
        if metrics and metrics.get("acc_robust_balanced") is not None:
            cells[column] = float(metrics["acc_robust_balanced"])
    if record_noise:
        for column, snr in zip(RECORD_NOISE, RECORD_NOISE_SNRS_DB):
            if (value := _curve_value(record_noise, "snr_db", snr)) is not None:
                cells[column] = value
    if certify and (value := _curve_value(certify, "eps", CERTIFIED_EPS)) is not None:
        cells[CERTIFIED_AT] = value
    return cells


def _evaluation_means(runs: list[str], evaluations: Mapping[str, Mapping[str, float]],
                      dimensions: Mapping[str, RunDimensions]) -> tuple[dict, list[str]]:
    """The row's :data:`EVALUATION_COLUMNS` cells (mean over the seeds that have each) and a note per column that
    fewer than all seeds have (``"SAP ACC_robust: seed 0 only (1 of 3)"``)."""
    cells, notes = {}, []
    for column in EVALUATION_COLUMNS:
        having = [r for r in runs if (evaluations.get(r) or {}).get(column) is not None]
        cells[column] = float(np.mean([evaluations[r][column] for r in having])) if having else None
        if having and len(having) < len(runs):
            seeds = " ".join(str(dimensions[r].seed) for r in having)
            notes.append(f"{column}: seed{'s' if len(having) > 1 else ''} {seeds} only ({len(having)} of {len(runs)})")
    return cells, notes


def _at(combined: Mapping, eps: float) -> int:
    grid = combined["grid"]
    return min(range(len(grid)), key=lambda g: abs(grid[g] - eps))


def _bootstrap_interval(combined: Mapping, key: str) -> tuple[float | None, float | None]:
    intervals = combined.get("intervals") or {}
    block = (intervals.get("curve") or [None])[0] if key == "clean" else intervals.get("acc_robust")
    return (block["low"], block["high"]) if block else (None, None)


def _summary(values: list[float], single: tuple[float | None, float | None], level: float) -> dict:
    """Mean over seeds, sd and the t-interval (two seeds or more), else the one run's bootstrap interval."""
    found = seed_summary(values, level)
    if found.n >= 2:
        return {"mean": found.mean, "sd": found.sd, "low": found.low, "high": found.high,
                "interval": f"t over {found.n} seeds ({level:.0%})"}
    return {"mean": found.mean, "sd": None, "low": single[0], "high": single[1],
            "interval": f"stratified bootstrap over beats ({level:.0%})"}


def compare(combined: Mapping, reference: Mapping, bootstrap: Bootstrap) -> dict | None:
    """One seed pair: this run minus the reference run on the beats both scored (None: per-beat outcomes missing)."""
    if not combined.get("per_beat") or not reference.get("per_beat") or combined.get("eps_max") is None:
        return None
    beats_a, y_a, correct_a = decode_outcomes(combined["per_beat"])
    beats_b, y_b, correct_b = decode_outcomes(reference["per_beat"])
    if list(combined["grid"]) != list(reference["grid"]):
        return None
    _, y, correct_a, correct_b = align(beats_a, correct_a, beats_b, correct_b, y_a, y_b)
    difference = paired_difference(y, correct_a, correct_b, combined["grid"], bootstrap, combined["eps_max"])
    g = _at(combined, combined["eps_max"])
    return {"difference": difference["acc_robust"], "mcnemar": mcnemar_table(correct_a[g], correct_b[g]),
            "beats": int(y.size)}


def _groups(worst_cases: Mapping, dimensions: Mapping[str, RunDimensions]) -> dict[tuple[str, str], list[str]]:
    """(block, split) -> its runs with a stored worst case, by seed; in declaration order (split: the data's name
    where the data declares no splits)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for run, dims in dimensions.items():
        if run in worst_cases:
            groups.setdefault((dims.block, dims.split or dims.data), []).append(run)
    return {key: sorted(runs, key=lambda r: dimensions[r].seed) for key, runs in groups.items()}


def table(worst_cases: Mapping[str, Mapping], dimensions: Mapping[str, RunDimensions], bootstrap: Bootstrap,
          reference: str = "ce", evaluations: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """One row per (block, split) among the runs with a stored worst case, in declaration order (``dimensions``'
    order); each compared with the ``reference`` family's block of the same model and split. ``evaluations``: run ->
    its :func:`evaluation_cells` (a run absent, or a column absent: not stored)."""
    evaluations = evaluations or {}
    groups = _groups(worst_cases, dimensions)
    references = {(dimensions[runs[0]].model, split): runs for (block, split), runs in groups.items()
                  if dimensions[runs[0]].family == reference}
    rows = []
    for (block, split), runs in groups.items():
        first = dimensions[runs[0]]
        cases = [worst_cases[r] for r in runs]
        clean = _summary([c["curve"][_at(c, 0.0)]["balanced_accuracy"] for c in cases], _bootstrap_interval(cases[0], "clean"),
                         bootstrap.level)
        robust_values = [c.get("acc_robust_balanced") for c in cases]
        robust = (_summary(robust_values, _bootstrap_interval(cases[0], "acc_robust"), bootstrap.level)
                  if all(v is not None for v in robust_values) else dict.fromkeys(("mean", "sd", "low", "high", "interval")))
        row = {"defense": first.defense, "block": block, "family": first.family, "model": first.model, "split": split,
               "seeds": " ".join(str(dimensions[r].seed) for r in runs), "n seeds": len(runs),
               "beats": cases[0]["n"], "eps_max": cases[0].get("eps_max"),
               "clean": clean["mean"], "clean low": clean["low"], "clean high": clean["high"],
               "worst-case ACC_robust": robust["mean"], "worst-case ACC_robust sd": robust["sd"],
               "worst-case ACC_robust low": robust["low"], "worst-case ACC_robust high": robust["high"],
               "interval": robust["interval"]}
        row.update(_against(runs, references.get((first.model, split)), worst_cases, dimensions, bootstrap, first))
        cells, notes = _evaluation_means(runs, evaluations, dimensions)
        row.update(cells)
        row["note"] = "; ".join(filter(None, [row.get("note"), *notes]))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _against(runs: list[str], reference_runs: list[str] | None, worst_cases: Mapping, dimensions: Mapping,
             bootstrap: Bootstrap, first: RunDimensions) -> dict:
    """The reference comparison cells of one row (empty for the reference itself or without a reference)."""
    if reference_runs is None or first.block == dimensions[reference_runs[0]].block:
        return {}
    pairs = seed_pairs(runs, reference_runs, dimensions)
    cells = {"reference": dimensions[reference_runs[0]].block, "pairs": len(pairs)}
    if not pairs:
        return {**cells, "note": "no reference run of the same seed"}
    found = paired_blocks(pairs, worst_cases, bootstrap)
    if "note" in found:
        return {**cells, "note": found["note"]}
    return {**cells, "ACC_robust minus reference": found["difference"], "difference low": found["low"],
            "difference high": found["high"], "difference interval": found["interval"],
            "McNemar p at eps_max": found["p"]}


def seed_pairs(runs_a: Sequence[str], runs_b: Sequence[str], dimensions: Mapping) -> list[tuple[str, str]]:
    """The runs of two blocks paired by training seed (the seeds both have), in ``runs_a``'s order."""
    by_seed = {dimensions[r].seed: r for r in runs_b}
    return [(r, by_seed[dimensions[r].seed]) for r in runs_a if dimensions[r].seed in by_seed]


def paired_blocks(pairs: Sequence[tuple[str, str]], worst_cases: Mapping, bootstrap: Bootstrap) -> dict:
    """Block A minus block B over seed pairs (each pair on the beats both scored, :func:`compare`): two pairs or
    more, the mean difference and its t-interval over the pairs; one pair, the paired stratified bootstrap interval
    over beats. ``p``: the largest exact McNemar p at eps_max over the pairs. ``{"note": ...}`` where a pair lacks
    per-beat outcomes (or the grids differ)."""
    compared = [compare(worst_cases[a], worst_cases[b], bootstrap) for a, b in pairs]
    if any(c is None for c in compared):
        return {"note": "per-beat outcomes not stored (or grids differ): no paired comparison"}
    differences = [c["difference"] for c in compared]
    if len(compared) >= 2:
        found = seed_summary([d.estimate for d in differences], bootstrap.level)
        estimate, low, high = found.mean, found.low, found.high
        how = f"t over {found.n} seed pairs ({bootstrap.level:.0%})"
    else:
        estimate, low, high = differences[0].estimate, differences[0].low, differences[0].high
        how = f"paired stratified bootstrap over {compared[0]['beats']} beats ({bootstrap.level:.0%})"
    return {"difference": estimate, "low": low, "high": high, "interval": how, "pairs": len(compared),
            "p": max(c["mcnemar"].p_value for c in compared)}


def markdown(frame: pd.DataFrame) -> str:
    """The table for a reader: value [low, high] cells; then the other evaluations (:data:`EVALUATION_COLUMNS`,
    those stored for some row) with each row's note."""
    def cell(value, low=None, high=None) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
            text += f" [{low:.3f}, {high:.3f}]"
        return text

    head = ["defense", "model", "split", "seeds", "clean", "worst-case ACC_robust", "vs reference", "McNemar p"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join([
            str(r["defense"]), str(r["model"]), str(r["split"]), str(r["n seeds"]),
            cell(r["clean"], r["clean low"], r["clean high"]),
            cell(r["worst-case ACC_robust"], r["worst-case ACC_robust low"], r["worst-case ACC_robust high"]),
            cell(r["ACC_robust minus reference"], r["difference low"], r["difference high"]),
            "" if pd.isna(r["McNemar p at eps_max"]) else f"{r['McNemar p at eps_max']:.2g}"]) + " |")
    return "\n".join(lines) + "\n\n" + _evaluations_markdown(frame)


def _evaluations_markdown(frame: pd.DataFrame) -> str:
    """The second table: per row, the means over seeds of the other evaluations (columns no row has are left out
    and named below it) and the row's note."""
    shown = [c for c in EVALUATION_COLUMNS if c in frame and frame[c].notna().any()]
    absent = [c for c in EVALUATION_COLUMNS if c not in shown]
    lines = []
    if shown:
        head = ["defense", "model", "split", "seeds", *shown, "note"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for _, r in frame.iterrows():
            lines.append("| " + " | ".join([
                str(r["defense"]), str(r["model"]), str(r["split"]), str(r["n seeds"]),
                *("" if pd.isna(r[c]) else f"{r[c]:.3f}" for c in shown),
                "" if pd.isna(r["note"]) else str(r["note"])]) + " |")
        lines.append("")
    if absent:
        lines.append(f"Not stored for any row: {', '.join(absent)}.")
    return "\n".join(lines) + "\n"
