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

The **ranking** (issue 28 item 2, :func:`ranking`): per model and split, the blocks ordered by mean worst-case
ACC_robust, each neighbour pair and each block against the best compared by the same seed-paired machinery as the
CE column (:func:`paired_blocks`), a verdict per comparison ("resolved": the interval excludes 0), and each block's
rank per split where the same blocks are on several splits. It lives here, past ~400 lines, because it is the same
grouping and pairing as the table's; :func:`ranking_markdown` lays it out.
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
    order); each compared with the ``reference`` family's first declared block of the same model and split (a variant
    of it declared later, e.g. CE with row renormalisation, is compared with it too). ``evaluations``: run ->
    its :func:`evaluation_cells` (a run absent, or a column absent: not stored)."""
    evaluations = evaluations or {}
    groups = _groups(worst_cases, dimensions)
    references: dict[tuple[str, str], list[str]] = {}
    for (block, split), runs in groups.items():  # the first declared block of the family (ce_mlp, not a CE variant)
        if dimensions[runs[0]].family == reference:
            references.setdefault((dimensions[runs[0]].model, split), runs)
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


# ---- the ranking of defenses under the worst case (issue 28 item 2) ----

RESOLVED, NOT_RESOLVED = "resolved", "not resolved"
_COMPARISON = ["difference", "low", "high", "interval", "McNemar p", "verdict"]
RANKING_COLUMNS = ["model", "split", "data", "rank", "defense", "block", "seeds", "worst-case ACC_robust",
                   "next", *(f"minus next {c}" if c == "difference" else f"next {c}" for c in _COMPARISON),
                   "best", *(f"minus best {c}" if c == "difference" else f"best {c}" for c in _COMPARISON),
                   "split change", "split verdict", "note"]


def verdict(low: float | None, high: float | None) -> str:
    """"resolved" where the interval of a difference excludes 0, else "not resolved"."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return NOT_RESOLVED
    return RESOLVED if low > 0 or high < 0 else NOT_RESOLVED


def ranking(worst_cases: Mapping[str, Mapping], dimensions: Mapping[str, RunDimensions],
            bootstrap: Bootstrap) -> pd.DataFrame:
    """Per model and split (one data), the blocks ordered by mean worst-case ACC_robust over their seeds (ties:
    declaration order; a block without ACC_robust last, unranked), each row with the paired comparison
    (:func:`paired_blocks`, seed by seed) of this block minus the next one down (``next``) and minus the best
    (``best``), each with its verdict (:func:`verdict`). Where a model's blocks appear on several splits, ``rank
    (<split>)``: the rank among the blocks present on all of them, and ``split change``: the blocks whose order
    against this one differs on another split, with their paired difference on this split; ``split verdict``: the
    model's :func:`split_verdict` over those swaps, on each of its rows."""
    ranked: dict[tuple[str, str], list[dict]] = {}
    for (block, split), runs in _groups(worst_cases, dimensions).items():
        first, values = dimensions[runs[0]], [worst_cases[r].get("acc_robust_balanced") for r in runs]
        mean = float(np.mean(values)) if all(v is not None for v in values) else None
        ranked.setdefault((first.model, first.data), []).append(
            {"model": first.model, "split": split, "data": first.data, "defense": first.defense, "block": block,
             "seeds": " ".join(str(dimensions[r].seed) for r in runs), "worst-case ACC_robust": mean, "runs": runs})
    for key, entries in ranked.items():
        ranked[key] = sorted(entries, key=lambda e: -e["worst-case ACC_robust"] if e["worst-case ACC_robust"]
                             is not None else np.inf)

    def versus(entry: dict, other: dict, prefix: str, name: str) -> dict:
        pairs = seed_pairs(entry["runs"], other["runs"], dimensions)
        found = paired_blocks(pairs, worst_cases, bootstrap) if pairs else {"note": "no seed in common"}
        cells = {name: other["defense"]}
        if "note" in found:
            return {**cells, f"{prefix} verdict": f"no paired comparison: {found['note']}"}
        return {**cells, f"minus {prefix} difference": found["difference"], f"{prefix} low": found["low"],
                f"{prefix} high": found["high"], f"{prefix} interval": found["interval"],
                f"{prefix} McNemar p": found["p"], f"{prefix} verdict": verdict(found["low"], found["high"])}

    rows, split_columns = [], {}
    for key, entries in ranked.items():
        scored = [e for e in entries if e["worst-case ACC_robust"] is not None]
        for i, entry in enumerate(entries):
            row = {c: entry[c] for c in ("model", "split", "data", "defense", "block", "seeds",
                                         "worst-case ACC_robust")}
            if entry["worst-case ACC_robust"] is None:
                rows.append({**row, "note": "no worst-case ACC_robust stored: unranked"})
                continue
            row["rank"] = i + 1
            if i + 1 < len(scored):
                row.update(versus(entry, scored[i + 1], "next", "next"))
            if i > 0:
                row.update(versus(entry, scored[0], "best", "best"))
            rows.append(row)
    for component in _linked(ranked):
        splits = [ranked[k][0]["split"] for k in component]
        common = [e["block"] for e in ranked[component[0]] if e["worst-case ACC_robust"] is not None
                  and all(e["block"] in _scored_blocks(ranked[k]) for k in component)]
        order = {k: [b for b in _scored_blocks(ranked[k]) if b in common] for k in component}
        split_columns.update({f"rank ({s})": None for s in splits})
        swaps: dict[frozenset[str], list[bool]] = {}
        for row in rows:
            if (row["model"], row["data"]) not in component:
                continue
            if row["block"] not in common:
                row["note"] = "; ".join(filter(None, [row.get("note"), "not on every split: no split rank"]))
                continue
            row.update({f"rank ({s})": order[k].index(row["block"]) + 1 for s, k in zip(splits, component)})
            here = order[(row["model"], row["data"])]
            swapped = [b for b in common if b != row["block"] and any(
                (here.index(b) < here.index(row["block"])) != (order[k].index(b) < order[k].index(row["block"]))
                for k in component)]
            entries = {e["block"]: e for e in ranked[(row["model"], row["data"])]}
            found = [versus(entries[row["block"]], entries[b], "best", "best") for b in swapped]
            for other in found:
                swaps.setdefault(frozenset((row["defense"], other["best"])), []).append(
                    other["best verdict"] == RESOLVED)
            row["split change"] = "; ".join(map(_swap_text, found)) or "same order against every other block"
        for row in rows:
            if (row["model"], row["data"]) in component:
                row["split verdict"] = split_verdict(swaps)
    columns = RANKING_COLUMNS[:4] + list(split_columns) + RANKING_COLUMNS[4:]
    return pd.DataFrame(rows, columns=columns)


def _scored_blocks(entries: list[dict]) -> list[str]:
    return [e["block"] for e in entries if e["worst-case ACC_robust"] is not None]


def _linked(ranked: Mapping[tuple[str, str], list[dict]]) -> list[list[tuple[str, str]]]:
    """The (model, data) groups that share a block (a block names one database: its splits), two or more each."""
    components: list[set] = []
    for key, entries in ranked.items():
        blocks = {e["block"] for e in entries}
        joined = [c for c in components if any(k[0] == key[0] and blocks & {e["block"] for e in ranked[k]} for k in c)]
        merged = set().union({key}, *joined)
        components = [c for c in components if c not in joined] + [merged]
    return [[k for k in ranked if k in c] for c in components if len(c) > 1]


def _swap_text(found: dict) -> str:
    """``"vs <defense>: +0.012 [-0.004, 0.030] not resolved"`` (this block minus that one on this split)."""
    if "minus best difference" not in found:
        return f"vs {found['best']}: {found['best verdict']}"
    return (f"vs {found['best']}: {found['minus best difference']:+.3f} [{found['best low']:.3f}, "
            f"{found['best high']:.3f}] {found['best verdict']}")


RANKING_NOTE = (
    "Defenses ordered by mean worst-case ACC_robust over their seeds. Each difference is this defense minus the other, "
    "paired seed by seed on the beats both scored: Student's t-interval over the seed pairs (two or more), else the "
    "paired stratified bootstrap over beats; resolved: the interval excludes 0. The McNemar p (exact, the largest "
    "over the seed pairs) tests the worst-case accuracy at eps_max alone, not ACC_robust, so the two can disagree "
    "(p = 1 where both defenses lose every beat at eps_max).")


def ranking_markdown(frame: pd.DataFrame) -> str:
    """Per model and split, the ranking with its neighbour and best comparisons; then, where a model's blocks
    appear on several splits, each block's rank per split and whether the order changes."""
    def diff(r, prefix: str) -> str:
        value = r[f"minus {prefix} difference"]
        if pd.isna(value):
            return "" if pd.isna(r[f"{prefix} verdict"]) else str(r[f"{prefix} verdict"])
        p = r[f"{prefix} McNemar p"]
        return (f"{value:+.3f} [{r[f'{prefix} low']:.3f}, {r[f'{prefix} high']:.3f}], "
                f"p {p:.2g}, **{r[f'{prefix} verdict']}**")

    lines = [RANKING_NOTE, ""]
    for (model, split, data), part in frame.groupby(["model", "split", "data"], sort=False):
        lines += [f"### {model}, {split} split ({data})", "",
                  "| rank | defense | seeds | worst-case ACC_robust | minus next (defense: difference [interval], "
                  "McNemar p, verdict) | minus best |", "|---|---|---|---|---|---|"]
        for _, r in part.iterrows():
            rank = "" if pd.isna(r["rank"]) else str(int(r["rank"]))
            robust = "" if pd.isna(r["worst-case ACC_robust"]) else f"{r['worst-case ACC_robust']:.3f}"
            after = f"{r['next']}: {diff(r, 'next')}" if isinstance(r["next"], str) else ""
            best = f"{r['best']}: {diff(r, 'best')}" if isinstance(r["best"], str) else ""
            lines.append(f"| {rank} | {r['defense']} | {r['seeds']} | {robust} | {after} | {best} |")
        lines.append("")
    rank_columns = [c for c in frame.columns if c.startswith("rank (")]
    if rank_columns:
        lines += ["### Does the ranking change between splits?", "",
                  "Ranks among the defenses present on every split of the model; a change is real only where the "
                  "paired difference on each split is resolved.", ""]
        for model, part in frame[frame[rank_columns].notna().any(axis=1)].groupby("model", sort=False):
            shown = [c for c in rank_columns if part[c].notna().any()]
            lines += ["| model | defense | " + " | ".join(shown) + " | split | change on that split |",
                      "|" + "---|" * (len(shown) + 4)]
            for _, r in part.iterrows():
                ranks = " | ".join("" if pd.isna(r[c]) else str(int(r[c])) for c in shown)
                lines.append(f"| {model} | {r['defense']} | {ranks} | {r['split']} | {r['split change']} |")
            lines += ["", f"{model}: " + str(part["split verdict"].dropna().iloc[0]), ""]
    return "\n".join(lines) + "\n"


def split_verdict(swaps: Mapping[frozenset[str], Sequence[bool]]) -> str:
    """Whether a model's ranking changes between splits, in words. ``swaps``: each pair of defenses whose order differs
    between splits -> whether their paired difference is resolved, once per split row that reports the swap. A swap
    is a change only where it is resolved on every split; one inside the intervals is said to be one."""
    if not swaps:
        return "the same order on every split."
    real = [" and ".join(sorted(pair)) for pair, resolved in swaps.items() if all(resolved)]
    if real:
        return f"the order changes between splits, resolved on every split: {'; '.join(real)} (rows above)."
    within = "; ".join(" and ".join(sorted(pair)) for pair in swaps)
    return (f"the order differs between splits only within the intervals ({within}: not resolved on every split, "
            "rows above): no resolved change.")
