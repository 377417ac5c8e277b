"""The bracket: each model's true robustness between a certified LOWER bound and the attacks' worst-case UPPER bound.

The lower end is ``<run>.certify`` (:mod:`ecg_pipeline.verification.grid`: a beat counts only where it is certified
robust, so its accuracy is the certified accuracy); the upper end is the model's per-beat worst case over every
stored attack (``report.worst_cases``, :mod:`.worst_cases`): a beat counts unless some attack broke it. Both are
scored on the same beats (the attacks' seeded class-balanced subset of the same split: checked by their counts per
class, the split's fingerprint and the model's), per eps and for ACC_robust (seed 001 eq. 8, as each stores it).
The width ``upper - lower`` is what a stronger attack could still take (or a tighter verifier still prove); "exact"
marks an eps where the verifier (the MILP on the beats the bounds left open) decided every beat, so the lower end
is the truth there. A lower bound above the upper bound is a bug (an unsound certificate or a break that is not
one) and an error naming the model and eps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case

from .table import decode_outcomes
from .worst_cases import WORST_CASE

from .spec import FigureStyle
from .tables import grid_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

ACC_ROBUST = "ACC_robust"
COLUMNS = ("run", "label", "point", "eps", "n", "lower_accuracy", "upper_accuracy", "width_accuracy",
           "lower_balanced", "upper_balanced", "width_balanced", "exact", "certified", "unknown", "broken",
           "seconds_per_beat", "method")
TOLERANCE = 1e-9   # both ends are counts over the same beats: any excess is a bug, not rounding


def same_beats(certified: Mapping, worst: Mapping) -> str | None:
    """Why ``certified`` (a ``<run>.certify.metrics``) and ``worst`` (the run's worst case) are not of the same
    model and beats, or None where they are."""
    if int(certified.get("n", -1)) != int(worst.get("n", -2)):
        return f"{certified.get('n')} certified beats, {worst.get('n')} in the worst case"
    mine, theirs = certified.get("per_class"), worst.get("per_class")
    if mine is not None and theirs is not None and {str(c): int(k) for c, k in mine.items()} != {
            str(c): int(k) for c, k in theirs.items()}:
        return f"beats per class {dict(mine)} certified, {dict(theirs)} in the worst case"
    for key, what in ((("test_data", "fingerprint"), "split"), (("model", "fingerprint"), "model")):
        mine = ((certified.get("provenance") or {}).get(key[0]) or {}).get(key[1])
        theirs = ((worst.get("provenance") or {}).get(key[0]) or {}).get(key[1])
        if mine is not None and theirs is not None and mine != theirs:
            return f"certified on another {what} ({mine}) than the worst case ({theirs})"
    if certified.get("eps_max") != worst.get("eps_max"):
        return f"ACC_robust up to eps {certified.get('eps_max')} certified, {worst.get('eps_max')} in the worst case"
    return None


def bracket_rows(run: str, label: str, certified: Mapping, worst: Mapping) -> list[dict]:
    """One row per eps of both grids and one for ACC_robust: lower (certified), upper (worst case), width, exact.
    Raises :class:`EcgDataError` naming ``run`` and the eps where a lower bound lies above its upper bound."""
    upper_at = {round(float(p["eps"]), 12): p for p in worst["curve"]}
    rows = []
    for point in certified["curve"]:
        eps = round(float(point["eps"]), 12)
        if eps not in upper_at:
            continue
        upper = upper_at[eps]
        rows.append(_row(run, label, f"{eps:g}", eps, point["n"], (point["accuracy"], upper["accuracy"]),
                         (point["balanced_accuracy"], upper["balanced_accuracy"]), point.get("exact", False),
                         point, certified.get("method")))
    if certified.get("acc_robust_balanced") is not None and worst.get("acc_robust_balanced") is not None:
        exact = all(r["exact"] for r in rows if r["eps"] <= float(certified["eps_max"]) + 1e-12)
        rows.append(_row(run, label, f"{ACC_ROBUST} (eps <= {certified['eps_max']:g})", np.nan, certified["n"],
                         (certified["acc_robust"], worst["acc_robust"]),
                         (certified["acc_robust_balanced"], worst["acc_robust_balanced"]), exact, {},
                         certified.get("method")))
    check_sound(rows)
    return rows


def _row(run, label, point, eps, n, accuracy, balanced, exact, counts, method) -> dict:
    return {"run": run, "label": label, "point": point, "eps": eps, "n": int(n),
            "lower_accuracy": float(accuracy[0]), "upper_accuracy": float(accuracy[1]),
            "width_accuracy": float(accuracy[1] - accuracy[0]), "lower_balanced": float(balanced[0]),
            "upper_balanced": float(balanced[1]), "width_balanced": float(balanced[1] - balanced[0]),
            "exact": bool(exact), "certified": counts.get("certified"), "unknown": counts.get("unknown"),
            "broken": counts.get("broken"), "seconds_per_beat": counts.get("seconds_per_beat"), "method": method}


def check_sound(rows: list[dict]) -> None:
    """A certified lower bound above the attacks' upper bound on the same beats is a bug: an error naming both."""
    for row in rows:
        where = f"eps {row['point']}" if row["point"][0].isdigit() else row["point"]
        for metric in ("accuracy", "balanced"):
            if row[f"lower_{metric}"] > row[f"upper_{metric}"] + TOLERANCE:
                raise EcgDataError(
                    f"bracket of {row['run']} at {where}: "
                    f"the certified {metric} accuracy {row[f'lower_{metric}']:.6f} is above the attacks' worst case "
                    f"{row[f'upper_{metric}']:.6f} on the same beats: an unsound certificate or an invalid break")


def on_certified_beats(certified: Mapping, worst: Mapping) -> Mapping:
    """``worst`` restricted to the beats ``certified`` names (``beats``: a sample of the attacks' beats, as
    ``certify.sample_per_class`` draws it), rescored from its per-beat outcomes by the worst case's own code, so both
    ends of the bracket count the same beats; ``worst`` itself where the beats are the same, or where either side
    lacks the per-beat record (then :func:`same_beats` says what differs)."""
    beats, per_beat = certified.get("beats"), worst.get("per_beat")
    if beats is None or per_beat is None or "grid" not in worst:
        return worst
    stored, y, correct = decode_outcomes(per_beat)
    beats = np.asarray(beats, dtype=np.int64)
    if np.array_equal(np.sort(beats), np.sort(stored)) or not np.isin(beats, stored).all():
        return worst
    classes = list(certified.get("classes") or range(int(y.max()) + 1))
    # only correctness enters accuracy and balanced accuracy: a broken beat is given some other class
    pred = np.where(correct, y[None, :], (y[None, :] + 1) % len(classes))
    outcomes = {WORST_CASE: Outcomes(np.asarray(worst["grid"], dtype=np.float64), stored, y, pred)}
    restricted = worst_case(outcomes, worst["grid"], classes, eps_max=worst.get("eps_max"), beats=beats)
    per_class = {str(classes[int(c)]): int(k) for c, k in zip(*np.unique(restricted.pop("y"), return_counts=True))}
    return {**worst, **restricted, "per_class": per_class}


def table(certified: Mapping[str, Mapping], worst_cases: Mapping[str, Mapping], order: list[str] | None = None
          ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The bracket of every run with both a certify result and a worst case (``order``: report order), on the
    certified beats (:func:`on_certified_beats`): (tidy table, run -> why it is left out, for runs with a certify
    result that cannot be compared)."""
    rows, left_out = [], {}
    for run in order or sorted(certified):
        if run not in certified or run not in worst_cases:
            continue
        worst = on_certified_beats(certified[run], worst_cases[run])
        reason = same_beats(certified[run], worst)
        if reason is not None:
            left_out[run] = reason
            log.warning("bracket: %s left out: %s", run, reason)
            continue
        found = certified[run]
        if worst is not worst_cases[run]:   # on a sample: said where the method is named (table heading, figure)
            found = {**found, "method": f"{found.get('method')}, on {worst['n']} of the {worst_cases[run]['n']} beats"}
        rows += bracket_rows(run, str(worst_cases[run].get("label", run)), found, worst)
    return pd.DataFrame(rows, columns=list(COLUMNS)), left_out


def acc_robust(bracket: pd.DataFrame) -> dict[str, dict[str, float]]:
    """run -> its balanced ACC_robust bracket {lower, upper, width} (for the headline's columns)."""
    summary = bracket[bracket["point"].str.startswith(ACC_ROBUST)]
    return {row.run: {"lower": row.lower_balanced, "upper": row.upper_balanced, "width": row.width_balanced}
            for row in summary.itertuples()}


#: The headline's columns of the bracket, at its end (the model's balanced ACC_robust, as the headline's).
HEADLINE_COLUMNS = ("certified ACC_robust", "bracket width (ACC_robust)")


def headline_columns(headline: pd.DataFrame, bracket: pd.DataFrame) -> pd.DataFrame:
    """The headline (one row per model, ``model`` = ``"<label> (<run>)"``) with the bracket's
    :data:`HEADLINE_COLUMNS` at its end: the certified lower bound of the balanced ACC_robust and its width to the
    worst case; empty for a model without a certify result."""
    summary = acc_robust(bracket) if not bracket.empty else {}
    labels = dict(zip(bracket["run"], bracket["label"])) if not bracket.empty else {}
    by_model = {f"{labels[run]} ({run})": found for run, found in summary.items()}
    result = headline.copy()
    result[HEADLINE_COLUMNS[0]] = [by_model.get(m, {}).get("lower") for m in result["model"]]
    result[HEADLINE_COLUMNS[1]] = [by_model.get(m, {}).get("width") for m in result["model"]]
    return result


def display(bracket: pd.DataFrame) -> pd.DataFrame:
    """The page's compact bracket (index: ``"<label> (<run>) · <eps or ACC_robust>"``): class-balanced accuracy,
    lower / upper / width, and whether the verifier decided every beat."""
    rows = {}
    for row in bracket.itertuples():
        rows[f"{row.label} ({row.run}) · {row.point}"] = {
            "certified (lower)": f"{row.lower_balanced:.3f}", "attack worst case (upper)": f"{row.upper_balanced:.3f}",
            "width": f"{row.width_balanced:.3f}", "exact": "exact" if row.exact else "", "method": row.method}
    return pd.DataFrame.from_dict(rows, orient="index")


def markdown(bracket: pd.DataFrame, left_out: Mapping[str, str] | None = None) -> str:
    """One table per model: per eps and ACC_robust, certified (lower) and worst-case (upper) accuracy and balanced
    accuracy, the widths, and whether the verifier decided every beat."""
    lines = []
    if bracket.empty:
        lines.append("No model has both a certify result (`kedro run --pipelines=attack --namespaces=<run>.certify`) "
                     "and a stored attack worst case.\n")
    for run, part in bracket.groupby("run", sort=False):
        first = part.iloc[0]
        lines += [f"### {first['label']} (`{run}`, {first['method']}, n = {first['n']})", "",
                  "| eps | certified acc | worst-case acc | width | certified bal. acc | worst-case bal. acc | width "
                  "| exact | certified / unknown / broken | s per beat |", "|" + "---|" * 10]
        for row in part.itertuples():
            counts = ("-" if row.certified is None or pd.isna(row.certified)
                      else f"{int(row.certified)} / {int(row.unknown)} / {int(row.broken)}")
            seconds = ("-" if row.seconds_per_beat is None or pd.isna(row.seconds_per_beat)
                       else f"{row.seconds_per_beat:.4f}")
            lines.append(f"| {row.point} | {row.lower_accuracy:.4f} | {row.upper_accuracy:.4f} | "
                         f"{row.width_accuracy:.4f} | {row.lower_balanced:.4f} | {row.upper_balanced:.4f} | "
                         f"{row.width_balanced:.4f} | {'exact' if row.exact else ''} | {counts} | {seconds} |")
        lines.append("")
    for run, reason in (left_out or {}).items():
        lines.append(f"- `{run}` is not bracketed: {reason} (re-run `{run}.certify` on the attacks' beats).")
    return "\n".join(lines).rstrip() + "\n"


def figure(run: str, bracket: pd.DataFrame, style: FigureStyle) -> Figure:
    """One model: the certified lower and the worst-case upper curve of class-balanced accuracy against eps, the
    band between them shaded (what neither the attacks nor the verifier decided), exact eps marked."""
    from .figures import _figure

    part = bracket[(bracket["run"] == run) & bracket["eps"].notna()].sort_values("eps")
    fig, (ax,) = _figure(style, width_scale=0.6, height_scale=1.1)
    eps = part["eps"].to_numpy(dtype=float)
    ax.fill_between(eps, part["lower_balanced"], part["upper_balanced"], color="tab:orange", alpha=0.25,
                    linewidth=0, label="undecided (bracket width)")
    ax.plot(eps, part["upper_balanced"], color="black", linewidth=2.2, marker="s", markersize=4,
            label="attacks' worst case (upper bound)")
    ax.plot(eps, part["lower_balanced"], color="tab:blue", linewidth=2.2, marker="o", markersize=4,
            label=f"certified, {part['method'].iloc[0] if len(part) else ''} (lower bound)")
    exact = part["exact"].to_numpy(dtype=bool)
    if exact.any():
        ax.plot(eps[exact], part["lower_balanced"].to_numpy()[exact], linestyle="none", marker="*", markersize=9,
                color="tab:green", label="exact: every beat decided")
    ax.set_xlabel(grid_title("eps"), fontsize=style.font_size)
    ax.set_ylabel("accuracy (class-balanced)", fontsize=style.font_size)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=style.font_size * 0.75, loc="upper right")
    label = part["label"].iloc[0] if len(part) else run
    fig.suptitle(f"{label}:\ncertified lower bound and attack worst case", fontsize=style.font_size)
    return fig
