"""The benchmark table's other evaluations (issue 28, items 2 and 6): SAP and white-noise ACC_robust, the balanced
accuracy under PhysioNet nst record-level noise at 12 and 0 dB, the certified ACC_robust and the certified balanced
accuracy at eps 0.01, each read from what a run stores, so that every cell can carry an interval and a paired
comparison with CE exactly as the worst case does (:mod:`.table` aggregates them over seeds and pairs them).

- :func:`evaluation_cells`: one run's values, from its stored metrics (what a cell shows).
- :func:`evaluation_outcomes`: the per-beat outcomes behind each value (:class:`PerBeat`), from the stored examples:
  SAP and white noise ``pred == subset_y`` per eps, unchanged (as the attack's own metrics score them); record noise
  ``correct`` at the column's SNR; the certificate scored by the attacks' worst-case code, as
  :func:`~ecg_pipeline.evaluation.worst_case.certified_metrics` scores it (an uncertified beat counts as wrong).
  Outcomes whose score is not the stored value (another evaluation) are set aside, with a note.
- :func:`score_interval`: the stratified bootstrap interval over beats of one run's score
  (:func:`~ecg_pipeline.evaluation.intervals.robustness_intervals`, as the worst case's); :func:`paired_score`: two
  runs' difference on the beats both scored (:func:`~ecg_pipeline.evaluation.paired.paired_difference`, its paired
  stratified bootstrap; the exact McNemar table at the scored point). The worst case's own comparison is this one.
- :func:`evaluations_markdown`: the values with their intervals, then the differences from the reference.

An ACC_robust column is seed 001 eq. (8) up to the evaluation's eps_max (:func:`~ecg_pipeline.evaluation.metrics.
robust_score`); a record-noise column and the certified-at-eps column are a class-balanced accuracy at one grid point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import Bootstrap, Interval, balanced_accuracy, robustness_intervals
from ecg_pipeline.evaluation.metrics import robust_score
from ecg_pipeline.evaluation.paired import align, mcnemar_table, paired_difference
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case

#: What the record-level noise columns show (dB, rows of ``<run>.record_noise``'s curve) and the eps of the
#: certified-accuracy column: the issue's 12 / 0 dB and the smallest eps of the certify grid.
RECORD_NOISE_SNRS_DB = (12.0, 0.0)
CERTIFIED_EPS = 0.01
SAP, WHITE_NOISE = "SAP ACC_robust", "white noise ACC_robust"
CERTIFIED, CERTIFIED_AT = "certified ACC_robust", f"certified at eps {CERTIFIED_EPS:g}"
RECORD_NOISE = tuple(f"record noise {snr:g} dB" for snr in RECORD_NOISE_SNRS_DB)
EVALUATION_COLUMNS = [SAP, WHITE_NOISE, *RECORD_NOISE, CERTIFIED, CERTIFIED_AT]
#: The evaluation each column is read from (``<run>.<name>``).
SOURCE = {SAP: "sap", WHITE_NOISE: "white_noise", **dict.fromkeys(RECORD_NOISE, "record_noise"),
          CERTIFIED: "certify", CERTIFIED_AT: "certify"}
MINUS = "minus reference"


def interval_columns(column: str) -> list[str]:
    """The CSV's columns of one evaluation column: its mean over seeds, the interval, and the paired difference
    from the reference row with its interval and McNemar p (``"<column> minus reference low"``, ...)."""
    return [column, f"{column} low", f"{column} high", f"{column} {MINUS}", f"{column} {MINUS} low",
            f"{column} {MINUS} high", f"{column} {MINUS} McNemar p"]


EVALUATION_CSV_COLUMNS = [c for column in EVALUATION_COLUMNS for c in interval_columns(column)]


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


@dataclass(frozen=True, eq=False)
class PerBeat:
    """One run's per-beat outcomes behind one score: ``correct[g, i]`` (beat ``beats[i]`` of the test split, label
    ``y[i]``, still correct at ``grid[g]``). With ``eps_max`` the score is ACC_robust (seed 001 eq. 8) up to it;
    without, the class-balanced accuracy at the one grid point."""

    beats: np.ndarray
    y: np.ndarray
    correct: np.ndarray
    grid: tuple[float, ...]
    eps_max: float | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.correct)
        if shape != (len(self.grid), np.size(self.y)) or np.size(self.beats) != np.size(self.y):
            raise EcgDataError(f"per-beat outcomes: correct of shape {shape}, {np.size(self.beats)} beats and "
                               f"{np.size(self.y)} labels; expected ({len(self.grid)} grid points, beats)")
        if self.eps_max is None and len(self.grid) != 1:
            raise EcgDataError(f"per-beat outcomes: a score at one grid point needs one row, got grid {self.grid}")

    @property
    def scored_at(self) -> int:
        """The grid row the McNemar table is drawn at: eps_max's (the nearest grid point), else the only one."""
        if self.eps_max is None:
            return 0
        return min(range(len(self.grid)), key=lambda g: abs(self.grid[g] - self.eps_max))

    def score(self) -> float:
        """The score of these outcomes: ACC_robust (seed 001 eq. 8) up to eps_max, else the balanced accuracy."""
        per_point = [float(balanced_accuracy(self.y, row)) for row in self.correct]
        return float(robust_score(list(self.grid), per_point, self.eps_max)["robust"]) if self.eps_max is not None \
            else per_point[0]


def score_interval(outcomes: PerBeat, bootstrap: Bootstrap) -> Interval:
    """The stratified bootstrap interval over beats of one run's score, drawn as the worst case's is."""
    found = robustness_intervals(outcomes.y, outcomes.correct, outcomes.grid, bootstrap, outcomes.eps_max)
    return found["acc_robust"] if outcomes.eps_max is not None else found["curve"][0]


def paired_score(a: PerBeat | None, b: PerBeat | None, bootstrap: Bootstrap, *, interval: bool = True) -> dict | None:
    """Run A minus run B on the beats both scored: ``estimate``; ``difference``, its :class:`Interval` (paired
    stratified bootstrap; with ``interval=False`` None, the resamples skipped: a t over seed pairs needs only the
    estimates); ``mcnemar`` (the exact McNemar table at :attr:`PerBeat.scored_at`); ``beats``. None where either
    lacks outcomes or the two were not scored on the same grid and eps_max."""
    if a is None or b is None or tuple(a.grid) != tuple(b.grid) or a.eps_max != b.eps_max:
        return None
    beats, y, correct_a, correct_b = align(a.beats, a.correct, b.beats, b.correct, a.y, b.y)
    difference = None
    if interval:
        found = paired_difference(y, correct_a, correct_b, a.grid, bootstrap, a.eps_max)
        difference = found["acc_robust"] if a.eps_max is not None else found["curve"][0]
        estimate = difference.estimate
    else:
        estimate = PerBeat(beats, y, correct_a, a.grid, a.eps_max).score() - \
            PerBeat(beats, y, correct_b, a.grid, a.eps_max).score()
    g = a.scored_at
    return {"estimate": float(estimate), "difference": difference, "mcnemar": mcnemar_table(correct_a[g], correct_b[g]),
            "beats": int(y.size)}


# ---- the per-beat outcomes each stored evaluation keeps ----------------------------------------------------------

def _attack(metrics: Mapping | None, examples: Mapping | None) -> PerBeat | None:
    """SAP's / white noise's outcomes, unchanged (a beat wrong clean is stored wrong at every eps)."""
    if not metrics or not examples or metrics.get("eps_max") is None or \
            any(k not in examples for k in ("grid", "subset", "subset_y", "pred")):
        return None
    grid = tuple(float(e) for e in examples["grid"])
    if grid != tuple(float(e) for e in metrics.get("grid", grid)):
        return None
    y = np.asarray(examples["subset_y"])
    return PerBeat(np.asarray(examples["subset"]), y, np.asarray(examples["pred"]) == y[None, :], grid,
                   float(metrics["eps_max"]))


def _record_keys(examples: Mapping) -> np.ndarray:
    """Each stressed beat's identity in the split: record and R-peak sample where the record names are numbers
    (MIT-BIH's), else its position (every run stresses all of the split's beats, in its order)."""
    records = np.asarray(examples.get("record_id", []))
    if "r_sample" in examples and records.size == np.size(examples["y"]) and all(str(r).isdigit() for r in records):
        return records.astype(np.int64) * 2**32 + np.asarray(examples["r_sample"], dtype=np.int64)
    return np.arange(np.size(examples["y"]))


def _record_noise(examples: Mapping | None, snr: float) -> PerBeat | None:
    if not examples or any(k not in examples for k in ("correct", "snr_db", "y")):
        return None
    rows = [g for g, s in enumerate(np.asarray(examples["snr_db"], dtype=float)) if abs(s - snr) < 1e-9]
    if not rows:
        return None
    return PerBeat(_record_keys(examples), np.asarray(examples["y"]), np.asarray(examples["correct"], dtype=bool)[rows],
                   (float(snr),))


def _certified(metrics: Mapping | None, examples: Mapping | None) -> dict[str, PerBeat]:
    """The certificate's outcomes, scored as ``certified_metrics`` scores them: ACC_robust and the point at eps 0.01."""
    if not metrics or not examples or any(k not in examples for k in ("grid", "subset", "subset_y", "pred")) or \
            any(k not in metrics for k in ("grid", "classes")):
        return {}
    scored = worst_case({"certify": Outcomes.from_examples(examples, "certify")}, metrics["grid"], metrics["classes"],
                        eps_max=metrics.get("eps_max"), per_beat=True)
    grid = tuple(float(e) for e in metrics["grid"])
    found = {}
    if metrics.get("eps_max") is not None:
        found[CERTIFIED] = PerBeat(scored["beats"], scored["y"], scored["correct"], grid, float(metrics["eps_max"]))
    at = [g for g, e in enumerate(grid) if abs(e - CERTIFIED_EPS) < 1e-9]
    if at:
        found[CERTIFIED_AT] = PerBeat(scored["beats"], scored["y"], scored["correct"][at], (CERTIFIED_EPS,))
    return found


def evaluation_outcomes(metrics: Mapping[str, Mapping | None], examples: Mapping[str, Mapping | None]
                        ) -> tuple[dict[str, PerBeat], list[str]]:
    """One run's :class:`PerBeat` per evaluation column, from its stored metrics and examples (both keyed by
    evaluation: ``sap``, ``white_noise``, ``record_noise``, ``certify``; the examples of the metrics' own version).
    A column whose outcomes score other than the stored value is left out, and a note says so."""
    cells = evaluation_cells(**{name: metrics.get(name) for name in ("sap", "white_noise", "record_noise", "certify")})
    found = {SAP: _attack(metrics.get("sap"), examples.get("sap")),
             WHITE_NOISE: _attack(metrics.get("white_noise"), examples.get("white_noise")),
             **{column: _record_noise(examples.get("record_noise"), snr)
                for column, snr in zip(RECORD_NOISE, RECORD_NOISE_SNRS_DB)},
             **_certified(metrics.get("certify"), examples.get("certify"))}
    kept, notes = {}, []
    for column, outcomes in found.items():
        if outcomes is None or column not in cells:
            continue
        if abs(outcomes.score() - cells[column]) > 1e-9:
            notes.append(f"{column}: the stored per-beat outcomes score {outcomes.score():.4f}, the metrics "
                         f"{cells[column]:.4f} (not the same evaluation): no interval from them")
            continue
        kept[column] = outcomes
    return kept, notes


# ---- the Markdown -------------------------------------------------------------------------------------------------

EVALUATIONS_NOTE = (
    "Intervals (at the worst case's level): Student's t over the seeds that store the column (two or more), else "
    "the stratified bootstrap over the one run's beats. Minus the reference: this defense minus {reference} of the "
    "same model and split, paired seed by seed on the beats both scored: t over the seed pairs (two or more), else "
    "the paired stratified bootstrap over beats; the McNemar p of each is in the CSV.")


def interval_cell(value, low=None, high=None, *, signed: bool = False, digits: int = 3) -> str:
    """``value [low, high]`` for a reader (the report's Markdown and page): empty for an absent value, the
    interval left out where absent; ``signed``: a difference (``+0.031``)."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def text_cell(value) -> str:
    """A text cell: empty for an absent value."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def evaluations_markdown(frame: pd.DataFrame) -> str:
    """Two tables of the other evaluations: per row the mean over seeds with its interval (``0.517 [0.504, 0.530]``)
    and the row's note; then, for the rows compared with a reference, the difference (``+0.031 [0.010, 0.052]``).
    Columns no row has are left out and named below."""
    shown = [c for c in EVALUATION_COLUMNS if c in frame and frame[c].notna().any()]
    absent = [c for c in EVALUATION_COLUMNS if c not in shown]
    ident = ["defense", "model", "split", "seeds"]
    lines = []
    if shown:
        head = [*ident, *shown, "note"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for _, r in frame.iterrows():
            lines.append("| " + " | ".join([
                text_cell(r["defense"]), text_cell(r["model"]), text_cell(r["split"]), text_cell(r["n seeds"]),
                *(interval_cell(r[c], r.get(f"{c} low"), r.get(f"{c} high")) for c in shown), text_cell(r["note"])]) + " |")
        lines.append("")
        differences = [c for c in shown if f"{c} {MINUS}" in frame and frame[f"{c} {MINUS}"].notna().any()]
        compared = frame[frame[[f"{c} {MINUS}" for c in differences]].notna().any(axis=1)] if differences else frame[:0]
        if len(compared):
            head = ["defense", "model", "split", "minus", *differences]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for _, r in compared.iterrows():
                lines.append("| " + " | ".join([
                    text_cell(r["defense"]), text_cell(r["model"]), text_cell(r["split"]), text_cell(r.get("reference")),
                    *(interval_cell(r[f"{c} {MINUS}"], r[f"{c} {MINUS} low"], r[f"{c} {MINUS} high"], signed=True)
                      for c in differences)]) + " |")
            lines.append("")
        reference = ", ".join(sorted({str(v) for v in frame.get("reference", pd.Series()).dropna()})) or "the reference"
        lines += [EVALUATIONS_NOTE.format(reference=reference), ""]
    if absent:
        lines.append(f"Not stored for any row: {', '.join(absent)}.")
    return "\n".join(lines) + "\n"


__all__ = ["CERTIFIED", "CERTIFIED_AT", "CERTIFIED_EPS", "EVALUATION_COLUMNS", "EVALUATION_CSV_COLUMNS", "PerBeat",
           "RECORD_NOISE", "RECORD_NOISE_SNRS_DB", "SAP", "WHITE_NOISE", "evaluation_cells", "evaluation_outcomes",
           "evaluations_markdown", "interval_columns", "paired_score", "score_interval"]
