"""The report page: what it lists of its inputs (the inventory) and the order of its sections.

Order (a reader gets the answer in the first screen): the headline with intervals and every model's figure
(all attacks and the worst case on one axis); the cross-architecture figure; the curves by attack; the
tables (wrapped to the page, never clipped); adversarial examples; training curves; ensembles; provenance
and the stored inputs; last, collapsed, the evaluations still missing. A section with nothing to show is
left out, not announced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from html import escape as html_escape

import pandas as pd

from ecg_pipeline.errors import EcgDataError

from . import bracket as bracket_
from . import headline as headline_
from . import html, tables
from . import table as benchmark_
from .spec import ReportSpec
from .table_evaluations import interval_cell as _number
from .table_evaluations import text_cell as _text
from .worst_cases import coverage, pinned

log = logging.getLogger(__name__)

MODEL_FIGURE, ARCHITECTURE_FIGURE = "model", "architectures"
NOTHING_STORED = "nothing_stored.png"


def made_with(metrics: dict) -> str:
    """One line of what an evaluation recorded of the code, model and data it was made with."""
    record = metrics.get("provenance")
    model = metrics.get("model") or {}
    if not record:
        return (f"provenance not recorded (evaluated before it was); model fingerprint "
                f"{model.get('fingerprint', 'not recorded')}, data fingerprint {model.get('data_fingerprint', 'not recorded')}")
    of_model = record.get("model") or {}
    of_data = record.get("test_data") or {}
    dirty = {True: " (uncommitted changes)", False: "", None: " (dirty: not recorded)"}[record.get("dirty")]
    return (f"commit {record.get('commit') or 'not recorded'}{dirty}, env {record.get('env') or 'base'}; "
            f"model {of_model.get('fingerprint') or model.get('fingerprint') or 'not recorded'} "
            f"version {of_model.get('version') or 'not recorded'}; training data "
            f"{of_model.get('data_fingerprint') or model.get('data_fingerprint') or 'not recorded'}; test data "
            f"{of_data.get('dataset') or ''} {of_data.get('version') or ''} {of_data.get('fingerprint') or ''}".rstrip())


def inventory(spec: ReportSpec, evaluations: Mapping, histories: Mapping, *, flags: str = "",
              relative: Callable[[str], str] = str, provenance: dict | None = None) -> dict:
    """The versions the report reads (paths through ``relative``), what each evaluation was made with, the
    report run's own ``provenance``, and one row per model with evaluations still missing (with its command)."""
    rows = coverage(spec, evaluations, histories, flags)
    incomplete = [row for row in rows if row["missing"]]
    n_declared = sum(len(row["attacks"]) for row in rows)
    n_missing = sum(len(row["missing"]) for row in incomplete)
    if incomplete and spec.strict:
        lines = "\n".join(f"  {row['run']}: {', '.join(row['missing'])}\n    {row['command']}" for row in incomplete)
        raise EcgDataError(f"report: {n_missing} declared evaluation(s) of {len(incomplete)} model(s) are not stored "
                           f"(report.strict is true); produce them with:\n{lines}")
    inputs = []
    for run in spec.model_runs:
        for attack in spec.attacks:
            stored = pinned(spec, evaluations, f"{run.run}.{attack}")
            if stored is not None:
                inputs.append({"dataset": f"{run.run}.{attack}.metrics", "version": stored.version,
                               "filepath": relative(stored.filepath), "made_with": made_with(stored.data)})
        if run.run in histories:
            stored = histories[run.run]
            inputs.append({"dataset": f"{run.run}.history", "version": stored.version,
                           "filepath": relative(stored.filepath)})
    if incomplete:
        log.warning("report: %d of %d declared evaluations stored; %d model(s) lack some (listed in the report, "
                    "one command each)", n_declared - n_missing, n_declared, len(incomplete))
    else:
        log.info("report: all %d declared evaluations stored", n_declared)
    return {"built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "inputs": inputs,
            "missing": incomplete, "coverage": rows, "provenance": provenance}


HEADLINE_NOTE = (
    "The number to read is the worst case: a beat counts as robust at eps only if it is classified correctly clean "
    "and under every attack evaluated on it at that eps or a smaller one. It is scored on the beats of the model's "
    "AutoAttack evaluation (the split and n are named); an attack that scored fewer beats counts where it did "
    "(see 'beats each attack scored' in headline.csv). The minimum over attacks of each attack's own ACC_robust is an "
    "upper bound of the worst case only on the same beats: it is shown over the attacks that scored all of them, and, "
    "where some scored fewer, over every attack on the beats all of them scored, each beside the worst case on those "
    "beats. "
    "Intervals: {interval}, resampled within each class. Accuracy is class-balanced; ACC_robust is seed 001 "
    "eq. (8) up to eps_max. Warnings: gradient-masking checks (Carlini et al. 2019) that failed. Worst case "
    "converged: where an evaluation escalates, its attack was rerun with its effort doubled on the beats still "
    "unbroken, every valid new break counted, until no eps moved by the tolerance (converged) or the declared number "
    "of doublings ran out (not converged: the worst case may still fall).")


def _figures(figures: dict[str, bytes], order, caption, *, grid: bool | str = False) -> str:
    figures = {name: content for name, content in figures.items() if name != NOTHING_STORED}
    if not figures:
        return ""
    return html.figures_html({name: figures[name] for name in sorted(figures, key=order)}, caption=caption, grid=grid)


def _tables(cells: pd.DataFrame) -> str:
    if cells.empty:
        return ""
    return "\n".join(html.table_html(title, table) for title, table in tables.layout(cells).items())


def benchmark_display(frame: pd.DataFrame) -> pd.DataFrame:
    """The page's benchmark table (index: model): per defense and split, clean and worst-case ACC_robust over
    seeds, the paired difference with CE and its McNemar p, the other evaluations stored for some row (each with its
    interval and its paired difference with CE), the note."""
    shown = [c for c in benchmark_.EVALUATION_COLUMNS if c in frame and frame[c].notna().any()]
    rows = [{"defense": _text(r["defense"]), "split": _text(r["split"]), "seeds": _text(r["seeds"]),
             "clean": _number(r["clean"], r["clean low"], r["clean high"]),
             "worst-case ACC_robust": _number(r["worst-case ACC_robust"], r["worst-case ACC_robust low"],
                                              r["worst-case ACC_robust high"]),
             "minus CE": _number(r["ACC_robust minus reference"], r["difference low"], r["difference high"], signed=True),
             "McNemar p at eps_max": "" if pd.isna(r["McNemar p at eps_max"]) else f"{r['McNemar p at eps_max']:.2g}",
             **{c: _number(r[c], r.get(f"{c} low"), r.get(f"{c} high")) for c in shown},
             **{f"{c} minus CE": _number(r.get(f"{c} minus reference"), r.get(f"{c} minus reference low"),
                                         r.get(f"{c} minus reference high"), signed=True) for c in shown},
             "note": _text(r["note"])} for _, r in frame.iterrows()]
    return pd.DataFrame(rows, index=pd.Index([str(m) for m in frame["model"]]))


def ranking_display(frame: pd.DataFrame) -> pd.DataFrame:
    """The page's ranking (index: model): per split, rank, defense and mean worst-case ACC_robust; this defense
    minus the next one down and minus the best (difference [interval], McNemar p, verdict); its rank on each split."""
    def versus(r, prefix: str) -> str:
        other = r["next" if prefix == "next" else "best"]
        if not isinstance(other, str):
            return ""
        if pd.isna(r[f"minus {prefix} difference"]):
            return f"{other}: {_text(r[f'{prefix} verdict'])}"
        return (f"{other}: {r[f'minus {prefix} difference']:+.3f} [{r[f'{prefix} low']:.3f}, "
                f"{r[f'{prefix} high']:.3f}], p {r[f'{prefix} McNemar p']:.2g}, {r[f'{prefix} verdict']}")

    split_ranks = [c for c in frame.columns if c.startswith("rank (")]
    rows = [{"split": _text(r["split"]), "rank": "" if pd.isna(r["rank"]) else str(int(r["rank"])),
             "defense": _text(r["defense"]), "seeds": _text(r["seeds"]),
             "worst-case ACC_robust": _number(r["worst-case ACC_robust"]),
             "minus next": versus(r, "next"), "minus best": versus(r, "best"),
             **{c: "" if pd.isna(r[c]) else str(int(r[c])) for c in split_ranks},
             **({"split change": _text(r["split change"])} if split_ranks else {}), "note": _text(r["note"])}
            for _, r in frame.iterrows()]
    return pd.DataFrame(rows, index=pd.Index([str(m) for m in frame["model"]]))


def _split_verdicts(ranking: pd.DataFrame) -> str:
    """One line per model ranked on several splits: whether its order changes (``report.ranking``'s verdict)."""
    if "split verdict" not in ranking.columns:
        return ""
    verdicts = ranking.dropna(subset=["split verdict"]).groupby("model", sort=False)["split verdict"].first()
    return "".join(f'<p class="note">{html_escape(str(m))}: {html_escape(v)}</p>' for m, v in verdicts.items())


def build(spec: ReportSpec, inventory: dict, headline: pd.DataFrame, worst_cases: dict, robustness: pd.DataFrame,
          per_class: pd.DataFrame, figure_sets: dict, *, order, caption, versions: str,
          bracket: pd.DataFrame | None = None, benchmark: pd.DataFrame | None = None,
          ranking: pd.DataFrame | None = None) -> str:
    """The page. ``figure_sets``: set name (curves, examples, training, ensembles, bracket) -> {file name: PNG
    bytes}; ``bracket``: report.bracket (certified lower bound beside the attack worst case), ``benchmark``:
    report.benchmark_table, ``ranking``: report.ranking, each when stored."""
    curves = figure_sets.get("curves") or {}
    by_model = {n: c for n, c in curves.items() if n.startswith(MODEL_FIGURE + "__")}
    across = {n: c for n, c in curves.items() if n.startswith(ARCHITECTURE_FIGURE + "__")}
    by_attack = {n: c for n, c in curves.items() if n not in by_model and n not in across}
    if headline.empty:
        top = '<p class="note">No eps evaluation with per-beat outcomes is stored yet (see the missing evaluations).</p>'
    else:
        interval = str(headline["interval"].iloc[0]) or "none"
        top = (html.table_html("", headline_.display(headline)) +
               f'<p class="note">{HEADLINE_NOTE.format(interval=interval)}</p>' +
               _figures(by_model, order, caption, grid=True))
    eps_table = headline_.per_eps(worst_cases) if worst_cases else pd.DataFrame()
    report_provenance = inventory.get("provenance")
    sections = [
        ("Headline: the per-beat worst case over every attack, with 95% intervals", top),
        ("Architectures compared: the worst case of every model", _figures(across, order, caption, grid=True)),
        ("Worst-case accuracy per eps (95% intervals)", "" if eps_table.empty else html.table_html("", eps_table)),
        ("Benchmark: every defense over its seeds, against CE",
         "" if benchmark is None or benchmark.empty else
         '<p class="note">One row per defense, model and split: means over the training seeds with the t-interval '
         "over seeds (two or more), else the stratified bootstrap over beats; minus CE: paired seed by seed on the "
         "beats both scored; the other evaluations are means over the seeds that store them (the note says "
         "which).</p>" + html.table_html("", benchmark_display(benchmark))),
        ("Ranking of defenses under the worst case",
         "" if ranking is None or ranking.empty else
         f'<p class="note">{html_escape(benchmark_.RANKING_NOTE)} Rank per split: among the defenses present on '
         "every split of the model; an order that changes is real only where its paired difference is resolved on "
         "each split (split change).</p>" + html.table_html("", ranking_display(ranking)) + _split_verdicts(ranking)),
        ("The bracket: certified lower bound and attack worst case",
         "" if bracket is None or bracket.empty else
         '<p class="note">Lower: beats certified robust (ecg_pipeline.verification); upper: the per-beat worst case '
         'over the attacks, on the same beats. The width is what a stronger attack could still take; "exact": every '
         'beat decided.</p>' + html.table_html("", bracket_.display(bracket))
         + _figures(figure_sets.get("bracket") or {}, order, caption, grid=True)),
        ("Robustness curves by attack", _figures(by_attack, order, caption, grid="two")),
        ("Robustness tables (seed 001 Tables 4-6 layout)", "" if robustness.empty else
         '<p class="note">Accuracy is class-balanced accuracy (the papers\' accuracy on an up-sampled test stream); '
         "ACC_robust / F1_robust integrate the curve up to eps_max (seed 001 eq. 8). Rows in grey italics are seed "
         "001's published numbers, shown only where the setting is like-for-like (100-PGD = pgd_nsr, 100-SAP = sap, "
         "white noise); the published F1 is on the class-balanced stream, ours on the natural test split.</p>"
         + _tables(robustness)),
        ("Per-class sensitivity and specificity (seed 002 Table 1 layout)", _tables(per_class)),
        ("Adversarial examples", "" if not _figures(figure_sets.get("examples") or {}, order, caption) else
         '<p class="note">Black: the clean beat; red: the attacked beat. The shaded tail of each MIT-BIH beat is '
         "zero padding (the beats are padded to 187 samples), not ECG: the attacks perturb it too.</p>"
         + _figures(figure_sets.get("examples") or {}, order, caption, grid="two")),
        ("Training curves", _figures(figure_sets.get("training") or {}, order, caption, grid="two")),
        ("Ensembles (seed 004 Figs. 3-6, and transferred vs attacked as deployed)",
         "" if not _figures(figure_sets.get("ensembles") or {}, order, caption) else
         '<p class="note">Transfer: attacks crafted on the base model (member 0) and given to every member, on the '
         "samples the base model gets right clean (seed 004's protocol). Adaptive: the deployed ensemble attacked "
         "end to end, class-balanced accuracy on every sample. Seed 004's stated values are CinC 2017 at raw-amplitude "
         "eps, drawn in a panel of their own.</p>" + _figures(figure_sets.get("ensembles") or {}, order, caption)),
        ("Provenance: what this report and its inputs were made with",
         "<h3>This report's run</h3>" + (html.key_values_html(report_provenance) if report_provenance else
                                        '<p class="note">not recorded</p>') +
         f"<h3>Stored inputs ({len(inventory['inputs'])})</h3>" + html.inputs_html(inventory["inputs"])),
        ("Missing evaluations", html.collapsed(
            f"{len(inventory['missing'])} of {len(inventory['coverage'])} models lack evaluations: one command each"
            if inventory["missing"] else "Every declared evaluation is stored",
            html.coverage_html(inventory["coverage"]))),
    ]
    subtitle = (f"Built {inventory['built_at']} from {len(inventory['inputs'])} stored artifacts "
                f"(provenance and versions at the end); figure versions: {versions or 'none'}.")
    return html.page("ECG robustness report", sections, subtitle)
