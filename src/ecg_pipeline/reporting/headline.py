"""The headline: one row per model from its stored worst case (:mod:`.worst_cases`), the page's first table.

Every number says on what it is scored: the split, the beats (count and per class), eps_max; clean accuracy,
worst-case accuracy at eps_max and worst-case ACC_robust carry their stratified-bootstrap interval; "min over
attacks" is computed on the beats every attack scored, beside the worst case on those same beats; the
gradient-masking flags are written in words, and so is whether the worst case has converged (how far each
escalated evaluation went, where it stopped and why).
"""

from __future__ import annotations

import pandas as pd

#: The gradient-masking flags (evaluation.diagnostics) in words a reader of the report understands.
FLAG_WORDS = {
    "accuracy_not_monotone": "accuracy rises as the attack gets stronger",
    "accuracy_not_near_zero_at_largest_eps": "accuracy stays well above zero at the largest eps",
    "gradient_free_beats_white_box": "a gradient-free attack (Square) beats the gradient attacks",
    "more_effort_moves_worst_case": "more attack effort lowers accuracy (the attack had not converged)",
    "zero_input_gradients": "many beats have zero input gradients",
    "transfer_beats_white_box": "an attack transferred from another model beats attacking this model",
}

COLUMNS = ["model", "split", "beats", "beats per class", "eps_max", "attacks",
           "clean", "clean low", "clean high",
           "worst-case accuracy at eps_max", "worst-case accuracy at eps_max low", "worst-case accuracy at eps_max high",
           "worst-case ACC_robust", "worst-case ACC_robust low", "worst-case ACC_robust high", "worst-case F1_robust",
           "min over attacks that scored every beat", "attack reaching it",
           "beats every attack scored", "worst-case ACC_robust on those beats",
           "min over attacks of ACC_robust on those beats", "strongest attack", "beats each attack scored",
           "warnings", "white-box results a gradient-free attack beats", "interval", "worst case converged"]


def flag_words(flags: list[dict], has_reference: bool) -> str:
    """The raised flags in words; what it means when none are."""
    if not has_reference:
        return "not checked (no AutoAttack evaluation stored)"
    raised = [FLAG_WORDS.get(f["flag"], f["flag"].replace("_", " ")) for f in flags if f.get("raised")]
    return "; ".join(raised) or (f"none of {len(flags)} checks raised" if flags else "no checks stored")


def convergence_words(escalations: dict[str, dict]) -> str:
    """Whether the worst case has converged, in words: per escalated evaluation (evaluation.escalation) the
    rounds run, where it stopped and why; what it means when none ran."""
    if not escalations:
        return "not escalated (more effort was only checked, its breaks not counted)"
    from ecg_pipeline.evaluation.escalation import in_words

    open_ = [a for a, e in escalations.items() if not e["converged"]]
    verdict = f"not converged ({', '.join(open_)})" if open_ else "converged"
    return verdict + ": " + "; ".join(f"{attack} {in_words(e)}" for attack, e in escalations.items())


def _interval(block: dict | None) -> tuple[float | None, float | None]:
    return (block["low"], block["high"]) if block else (None, None)


def _at_eps_max(combined: dict) -> tuple[dict, dict | None]:
    """The worst-case curve point (and its interval) at eps_max (the largest eps when there is none)."""
    grid = combined["grid"]
    target = combined.get("eps_max", max(grid))
    g = min(range(len(grid)), key=lambda i: abs(grid[i] - target))
    intervals = (combined.get("intervals") or {}).get("curve")
    return combined["curve"][g], intervals[g] if intervals else None


def table(worst_cases: dict[str, dict]) -> pd.DataFrame:
    """One row per model (numbers in columns of their own: the CSV)."""
    rows = []
    for run, combined in worst_cases.items():
        point, point_interval = _at_eps_max(combined)
        intervals = combined.get("intervals") or {}
        clean = intervals.get("curve", [None])[0]
        common = combined.get("common") or {}
        coverage = combined.get("coverage", {})
        full = combined.get("full_coverage") or {}
        n = combined["n"]
        rows.append({
            "model": f"{combined['label']} ({run})", "split": combined["split"], "beats": n,
            "beats per class": ", ".join(f"{c} {k}" for c, k in combined.get("per_class", {}).items()),
            "eps_max": combined.get("eps_max"),
            "attacks": len(combined["attacks"]) if not combined["stale"] else
                       f"{len(combined['attacks'])} (not combined, judged an earlier model: {', '.join(combined['stale'])})",
            "clean": combined["curve"][0]["balanced_accuracy"],
            "clean low": _interval(clean)[0], "clean high": _interval(clean)[1],
            "worst-case accuracy at eps_max": point["balanced_accuracy"],
            "worst-case accuracy at eps_max low": _interval(point_interval)[0],
            "worst-case accuracy at eps_max high": _interval(point_interval)[1],
            "worst-case ACC_robust": combined.get("acc_robust_balanced"),
            "worst-case ACC_robust low": _interval(intervals.get("acc_robust"))[0],
            "worst-case ACC_robust high": _interval(intervals.get("acc_robust"))[1],
            "worst-case F1_robust": combined.get("f1_robust"),
            "min over attacks that scored every beat": min(full.values()) if full else None,
            "attack reaching it": min(full, key=full.get) if full else "",
            "beats every attack scored": common.get("n", 0),
            "worst-case ACC_robust on those beats": common.get("worst_case_acc_robust"),
            "min over attacks of ACC_robust on those beats": common.get("min"),
            "strongest attack": common.get("strongest", ""),
            "beats each attack scored": ", ".join(f"{a} {k}" if k == n else f"{a} {k} of {n}"
                                                  for a, k in coverage.items()),
            "warnings": flag_words(combined.get("flags", []), combined.get("reference") is not None),
            "white-box results a gradient-free attack beats": "; ".join(
                f"{a} (by {d['gap']:.2f} at eps {d['eps']:g}, {d['by']})" for a, d in combined["doubted"].items()),
            "interval": (f"{int(intervals['curve'][0]['level'] * 100)}% stratified bootstrap, "
                         f"{intervals['curve'][0]['resamples']} resamples") if intervals.get("curve") else "",
            "worst case converged": convergence_words(combined.get("escalation") or {}),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def _with_interval(value, low, high) -> str:
    if value is None or pd.isna(value):
        return ""
    if low is None or pd.isna(low):
        return f"{value:.3f}"
    return f"{value:.3f} ({low:.3f}–{high:.3f})"


def display(headline: pd.DataFrame) -> pd.DataFrame:
    """The page's compact headline (index: model): each number with its interval, what it is scored on."""
    rows = {}
    for _, r in headline.iterrows():
        eps_max = "" if pd.isna(r["eps_max"]) else f"{r['eps_max']:g}"
        common = int(r["beats every attack scored"]) if not pd.isna(r["beats every attack scored"]) else 0
        rows[r["model"]] = {
            "scored on": f"{r['split']}, n = {int(r['beats'])} ({r['beats per class']}), eps_max {eps_max}",
            "clean accuracy": _with_interval(r["clean"], r["clean low"], r["clean high"]),
            "worst-case accuracy at eps_max": _with_interval(r["worst-case accuracy at eps_max"],
                                                              r["worst-case accuracy at eps_max low"],
                                                              r["worst-case accuracy at eps_max high"]),
            "worst-case ACC_robust": _with_interval(r["worst-case ACC_robust"], r["worst-case ACC_robust low"],
                                                    r["worst-case ACC_robust high"]),
            "certified ACC_robust (bracket width)": _certified(r),
            "min over attacks (upper bound)": _bounds(r, common),
            "warnings": str(r["warnings"]),
            "worst case converged": str(r.get("worst case converged", "")),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _certified(r) -> str:
    """The certified lower bound of ACC_robust and the width up to the attack worst case (report.bracket)."""
    lower = r.get("certified ACC_robust")
    if lower is None or pd.isna(lower):
        return ""
    return f"{lower:.3f} (width {r['bracket width (ACC_robust)']:.3f})"


def _bounds(r, common: int) -> str:
    """The min over attacks, each beside the worst case on the same beats: over the attacks that scored every
    beat, and (when some scored fewer) over all of them on the beats they all scored."""
    parts = []
    if not pd.isna(r["min over attacks that scored every beat"]):
        parts.append(f"{r['min over attacks that scored every beat']:.3f} ({r['attack reaching it']}) ≥ worst case "
                     f"{r['worst-case ACC_robust']:.3f} on all {int(r['beats'])} beats")
    partial = [part.split(" ")[0] for part in str(r["beats each attack scored"]).split(", ") if " of " in part]
    if partial:
        parts.append(f"with {', '.join(partial)} (fewer beats): " + (
            f"{r['min over attacks of ACC_robust on those beats']:.3f} ({r['strongest attack']}) ≥ worst case "
            f"{r['worst-case ACC_robust on those beats']:.3f} on the {common} beats every attack scored"
            if common and not pd.isna(r["min over attacks of ACC_robust on those beats"]) else
            "no beat scored by every attack"))
    return "; ".join(parts)


def per_eps(worst_cases: dict[str, dict]) -> pd.DataFrame:
    """Worst-case class-balanced accuracy per eps with its interval (index: model, columns: eps)."""
    rows = {}
    for run, combined in worst_cases.items():
        intervals = (combined.get("intervals") or {}).get("curve") or [None] * len(combined["curve"])
        rows[f"{combined['label']} ({run})"] = {
            f"{p['eps']:g}": _with_interval(p["balanced_accuracy"], *_interval(i))
            for p, i in zip(combined["curve"], intervals)}
    return pd.DataFrame.from_dict(rows, orient="index")


def markdown(headline: pd.DataFrame) -> str:
    if headline.empty:
        return "No eps evaluation with per-beat outcomes is stored yet.\n"
    shown = display(headline)
    lines = ["| model | " + " | ".join(shown.columns) + " |", "|" + "---|" * (len(shown.columns) + 1)]
    for model, row in shown.iterrows():
        lines.append(f"| {model} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
