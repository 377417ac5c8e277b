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

- **the other evaluations** (issue 28 items 2 and 6; :mod:`.table_evaluations`): SAP's and white noise's
  class-balanced ACC_robust (``<run>.sap``, ``<run>.white_noise``), the balanced accuracy under PhysioNet nst
  record-level noise at 12 and 0 dB (``<run>.record_noise``), and the certified balanced ACC_robust and certified
  balanced accuracy at eps 0.01 (``<run>.certify``, :mod:`.bracket`'s lower end). Each is the mean over the row's
  seeds that store it (a note names them where fewer than all do) with its interval as the worst case's (t over
  those seeds; one seed: the stratified bootstrap over its per-beat outcomes), and its paired difference from the
  CE row as the worst case's (:func:`paired_blocks` on the seeds both blocks store it for; one pair: the paired
  stratified bootstrap over the beats both scored; the largest McNemar p). A run's values come from its stored
  metrics (:func:`evaluation_cells`), its per-beat outcomes from its stored examples
  (:func:`~.table_evaluations.evaluation_outcomes`); a value without outcomes keeps its mean, its interval or
  difference is left empty where it needs them, and the note says so.

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
from ecg_pipeline.evaluation.paired import seed_summary

# the other columns' names and reader, re-exported so that callers import the table from one module
from .table_evaluations import (CERTIFIED, CERTIFIED_AT, CERTIFIED_EPS, EVALUATION_COLUMNS,  # noqa: F401
                                EVALUATION_CSV_COLUMNS, MINUS, RECORD_NOISE, RECORD_NOISE_SNRS_DB, SAP, WHITE_NOISE,
                                PerBeat, evaluation_cells, evaluations_markdown, interval_cell, paired_score,
                                score_interval)

_WORST_CASE_COLUMNS = ["defense", "block", "family", "model", "split", "seeds", "n seeds", "beats", "eps_max",
                       "clean", "clean low", "clean high",
                       "worst-case ACC_robust", "worst-case ACC_robust sd", "worst-case ACC_robust low",
                       "worst-case ACC_robust high", "interval",
                       "reference", "pairs", "ACC_robust minus reference", "difference low", "difference high",
                       "difference interval", "McNemar p at eps_max"]

COLUMNS = [*_WORST_CASE_COLUMNS, *EVALUATION_CSV_COLUMNS, "note"]


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


def per_beat_of(case: Mapping | PerBeat | None) -> PerBeat | None:
    """A stored worst case's per-beat outcomes (``per_beat``) as :class:`PerBeat` scored by ACC_robust up to its
    eps_max; :class:`PerBeat` itself unchanged; None where it stores none."""
    if case is None or isinstance(case, PerBeat):
        return case
    if not case.get("per_beat") or case.get("eps_max") is None:
        return None
    beats, y, correct = decode_outcomes(case["per_beat"])
    return PerBeat(beats, y, correct, tuple(float(e) for e in case["grid"]), float(case["eps_max"]))


def compare(combined: Mapping | PerBeat | None, reference: Mapping | PerBeat | None, bootstrap: Bootstrap, *,
            interval: bool = True) -> dict | None:
    """One seed pair: this run minus the reference run on the beats both scored (None: per-beat outcomes missing, or
    grids that differ); each a stored worst case or any other :class:`PerBeat` score (:func:`paired_score`)."""
    return paired_score(per_beat_of(combined), per_beat_of(reference), bootstrap, interval=interval)


def _groups(worst_cases: Mapping, dimensions: Mapping[str, RunDimensions]) -> dict[tuple[str, str], list[str]]:
    """(block, split) -> its runs with a stored worst case, by seed; in declaration order (split: the data's name
    where the data declares no splits)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for run, dims in dimensions.items():
        if run in worst_cases:
            groups.setdefault((dims.block, dims.split or dims.data), []).append(run)
    return {key: sorted(runs, key=lambda r: dimensions[r].seed) for key, runs in groups.items()}


def table(worst_cases: Mapping[str, Mapping], dimensions: Mapping[str, RunDimensions], bootstrap: Bootstrap,
          reference: str = "ce", evaluations: Mapping[str, Mapping[str, float]] | None = None,
          outcomes: Mapping[str, Mapping[str, PerBeat]] | None = None) -> pd.DataFrame:
    """One row per (block, split) among the runs with a stored worst case, in declaration order (``dimensions``'
    order); each compared with the ``reference`` family's first declared block of the same model and split (a variant
    of it declared later, e.g. CE with row renormalisation, is compared with it too). ``evaluations``: run ->
    its :func:`evaluation_cells` (a run absent, or a column absent: not stored); ``outcomes``: run -> column -> the
    :class:`PerBeat` outcomes behind that value (:func:`~.table_evaluations.evaluation_outcomes`)."""
    evaluations, outcomes = evaluations or {}, outcomes or {}
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
        reference_runs = references.get((first.model, split))
        row.update(_against(runs, reference_runs, worst_cases, dimensions, bootstrap, first))
        if reference_runs is not None and dimensions[reference_runs[0]].block == first.block:
            reference_runs = None   # the reference row itself: nothing to compare
        cells, notes = _evaluation_columns(runs, reference_runs, evaluations, outcomes, dimensions, bootstrap)
        row.update(cells)
        row["note"] = "; ".join(filter(None, [row.get("note"), *notes]))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _evaluation_columns(runs: list[str], reference_runs: list[str] | None, evaluations: Mapping, outcomes: Mapping,
                        dimensions: Mapping, bootstrap: Bootstrap) -> tuple[dict, list[str]]:
    """A row's :data:`EVALUATION_COLUMNS` cells: per column, the mean over the seeds that store it and its interval
    (:func:`_summary`: t over them, or the one run's bootstrap over beats, :func:`score_interval`), the paired
    difference from ``reference_runs`` (:func:`paired_blocks` over the seeds both store it for); and the notes: the
    seeds that have a column where fewer than all do, the columns whose interval or difference lacks outcomes."""
    cells, notes, no_interval, no_difference = {}, [], [], []
    for column in EVALUATION_COLUMNS:
        having = [r for r in runs if (evaluations.get(r) or {}).get(column) is not None]
        if not having:
            continue
        if len(having) < len(runs):
            seeds = " ".join(str(dimensions[r].seed) for r in having)
            notes.append(f"{column}: seed{'s' if len(having) > 1 else ''} {seeds} only ({len(having)} of {len(runs)})")
        scored = {r: (outcomes.get(r) or {}).get(column) for r in [*having, *(reference_runs or [])]}
        single = (None, None)
        if len(having) == 1 and scored[having[0]] is not None:
            interval = score_interval(scored[having[0]], bootstrap)
            single = (interval.low, interval.high)
        elif len(having) == 1:
            no_interval.append(column)
        summary = _summary([float(evaluations[r][column]) for r in having], single, bootstrap.level)
        cells.update({column: summary["mean"], f"{column} low": summary["low"], f"{column} high": summary["high"]})
        if reference_runs is None:
            continue
        pairs = seed_pairs(having, [r for r in reference_runs if (evaluations.get(r) or {}).get(column) is not None],
                           dimensions)
        found = paired_blocks(pairs, scored, bootstrap) if pairs else {"note": ""}
        if "note" in found:
            no_difference.append(column if pairs else f"{column} (no reference seed stores it)")
            continue
        cells.update({f"{column} {MINUS}": found["difference"], f"{column} {MINUS} low": found["low"],
                      f"{column} {MINUS} high": found["high"], f"{column} {MINUS} McNemar p": found["p"]})
    if no_interval:
        notes.append(f"no interval (per-beat outcomes not stored): {', '.join(no_interval)}")
    if no_difference:
        notes.append(f"no difference from the reference (per-beat outcomes not stored, or grids differ): "
                     f"{', '.join(no_difference)}")
    return cells, notes


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


def paired_blocks(pairs: Sequence[tuple[str, str]], scored: Mapping[str, Mapping | PerBeat | None],
                  bootstrap: Bootstrap) -> dict:
    """Block A minus block B over seed pairs (each pair on the beats both scored, :func:`compare`): two pairs or
    more, the mean difference and its t-interval over the pairs; one pair, the paired stratified bootstrap interval
    over beats. ``scored``: run -> its stored worst case, or the :class:`PerBeat` outcomes of another score (the
    benchmark table's other columns). ``p``: the largest exact McNemar p at eps_max (at the one grid point of a
    one-point score) over the pairs. ``{"note": ...}`` where a pair lacks per-beat outcomes (or the grids differ)."""
    # two pairs or more need each pair's estimate only: no bootstrap drawn for them
    compared = [compare(scored.get(a), scored.get(b), bootstrap, interval=len(pairs) == 1) for a, b in pairs]
    if any(c is None for c in compared):
        return {"note": "per-beat outcomes not stored (or grids differ): no paired comparison"}
    if len(compared) >= 2:
        found = seed_summary([c["estimate"] for c in compared], bootstrap.level)
        estimate, low, high = found.mean, found.low, found.high
        how = f"t over {found.n} seed pairs ({bootstrap.level:.0%})"
    else:
        difference = compared[0]["difference"]
        estimate, low, high = difference.estimate, difference.low, difference.high
        how = f"paired stratified bootstrap over {compared[0]['beats']} beats ({bootstrap.level:.0%})"
    return {"difference": estimate, "low": low, "high": high, "interval": how, "pairs": len(compared),
            "p": max(c["mcnemar"].p_value for c in compared)}


def markdown(frame: pd.DataFrame) -> str:
    """The table for a reader: value [low, high] cells; then the other evaluations (:data:`EVALUATION_COLUMNS`,
    those stored for some row) with their intervals and each row's note, and their differences from the reference
    (:func:`~.table_evaluations.evaluations_markdown`)."""
    head = ["defense", "model", "split", "seeds", "clean", "worst-case ACC_robust", "vs reference", "McNemar p"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join([
            str(r["defense"]), str(r["model"]), str(r["split"]), str(r["n seeds"]),
            interval_cell(r["clean"], r["clean low"], r["clean high"]),
            interval_cell(r["worst-case ACC_robust"], r["worst-case ACC_robust low"], r["worst-case ACC_robust high"]),
            interval_cell(r["ACC_robust minus reference"], r["difference low"], r["difference high"], signed=True),
            "" if pd.isna(r["McNemar p at eps_max"]) else f"{r['McNemar p at eps_max']:.2g}"]) + " |")
    return "\n".join(lines) + "\n\n" + evaluations_markdown(frame)


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
