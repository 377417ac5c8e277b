"""Thin adapters between the catalog and :mod:`ecg_pipeline.reporting`.

Every node receives ``params:report``, the declared model runs (bound when pipelines are registered)
and the stored artifacts as collections (``attack_evaluations``, ``attack_examples``,
``training_histories``: ``{"<run>.<attack>" or "<run>": StoredArtifact}``, newest version unless
``report.pin`` names another). Sections are built from what is stored; what a declared run lacks is
listed in one table, one row and one command per model (``report.strict: true``: an error instead).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pandas as pd

from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.reporting import figures, html, tables
from ecg_pipeline.reporting.published import SEED004_DATA, published_curve, seed004_points
from ecg_pipeline.evaluation import diagnostics
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case
from ecg_pipeline.reporting.spec import EnsembleRun, Group, ModelRun, ReportSpec

log = logging.getLogger(__name__)

Stored = dict[str, StoredArtifact]


def _pinned(spec: ReportSpec, stored: Stored, key: str, *, strict_pin: bool = True) -> StoredArtifact | None:
    """``stored[key]``, at the version ``report.pin`` names for it (else the newest); None when absent."""
    artifact = stored.get(key)
    version = spec.pin.get(key)
    if version is None or (artifact is not None and version == artifact.version):
        return artifact
    if artifact is None:
        if strict_pin:
            raise EcgDataError(f"parameters 'report.pin.{key}': {version} is pinned but no version of {key} is stored")
        return None
    if not strict_pin and version not in artifact.versions:
        return artifact
    return artifact.at(version)


def coverage(spec: ReportSpec, evaluations: Stored, histories: Stored) -> list[dict]:
    """One row per reported model: which of its attacks are stored, and the one command that adds the rest."""
    rows = []
    for run in spec.model_runs:
        judged = [a for a in spec.attacks if a in run.attacks]
        stored = {a: f"{run.run}.{a}" in evaluations for a in judged}
        missing = [a for a, found in stored.items() if not found]
        command = None
        if missing:
            command = f"kedro run --pipelines=attack --namespaces={run.run}"
            if any(stored.values()):  # some are stored: evaluate only the others
                command += " --only-missing-outputs"
            elif run.run not in histories:
                command = f"{run.train_command} && {command}"
        rows.append({"run": run.run, "label": run.label, "attacks": stored, "missing": missing, "command": command})
    return rows


def _spec(params: dict, model_runs: tuple[ModelRun, ...]) -> ReportSpec:
    return ReportSpec.from_params(params, model_runs)


def _evaluations(spec: ReportSpec, group: Group, attack: str, evaluations: Stored) -> dict:
    """run -> (label, metrics, version) of the group's runs that have a stored evaluation of ``attack``."""
    found = {}
    for run, label in group.runs.items():
        stored = _pinned(spec, evaluations, f"{run}.{attack}")
        if stored is not None:
            found[run] = (label, stored.data, stored.version)
    return found


WORST_CASE = "worst case"
HEADLINE_POPULATION = "autoattack"   # the worst case is scored on the beats its evaluation covers, when stored


def worst_cases(spec: ReportSpec, evaluations: Stored, examples: Stored) -> dict[str, dict]:
    """run -> the per-beat worst case over every stored eps evaluation of the run (evaluation.worst_case),
    with the evaluations it combined, the min over attacks of their ACC_robust, and the autoattack flags."""
    result = {}
    for run in spec.model_runs:
        outcomes, metrics_of, versions = {}, {}, {}
        for attack in run.attacks:
            stored, shown = _pinned(spec, evaluations, f"{run.run}.{attack}"), _pinned(
                spec, examples, f"{run.run}.{attack}", strict_pin=False)
            if stored is None or shown is None or stored.data.get("grid_param") != "eps" or "pred" not in shown.data:
                continue
            outcomes[attack] = Outcomes.from_examples(shown.data, f"{run.run}.{attack}")
            metrics_of[attack] = stored.data
            versions[attack] = stored.version
        stale = _of_an_earlier_model(metrics_of, versions)
        if stale:
            log.warning("%s: evaluations %s judged an earlier model of the run than its newest evaluation (%s); "
                        "not combined into its worst case. Re-run them: kedro run --pipelines=attack --namespaces=%s",
                        run.run, ", ".join(stale), max(versions, key=versions.get),
                        ",".join(f"{run.run}.{a}" for a in stale))
        for attack in stale:
            del outcomes[attack], metrics_of[attack]
        if not outcomes:
            continue
        # the evaluation of the autoattack ensemble, whatever its declared name (autoattack, autoattack_cpsc)
        population = next((a for a in outcomes if metrics_of[a].get("attack", a) == HEADLINE_POPULATION), None)
        base = metrics_of[population or max(outcomes, key=lambda a: outcomes[a].subset.size)]
        combined = worst_case(outcomes, base["grid"], base["classes"], population=population,
                              eps_max=base.get("eps_max"))
        combined.update(grid_param="eps", attack=WORST_CASE,
                        doubted=diagnostics.white_box_beaten_by_gradient_free(
                            outcomes, {a: m.get("attack", a) for a, m in metrics_of.items()}),
                        min_over_attacks={a: m["acc_robust_balanced"] for a, m in metrics_of.items()
                                          if "acc_robust_balanced" in m},
                        flags=metrics_of[population].get("flags", []) if population else [], stale=stale)
        result[run.run] = combined
    return result


def _model_identity(metrics: dict) -> str:
    """What an evaluation says of the model it judged (run, configuration fingerprint, epochs, final
    history row): two evaluations of one model say the same."""
    return json.dumps(metrics.get("model"), sort_keys=True, default=str)


def _of_an_earlier_model(metrics_of: dict[str, dict], versions: dict[str, str]) -> list[str]:
    """The attacks whose stored evaluation judged another model than the run's newest evaluation did
    (the run was retrained since, and only some attacks re-run): a per-beat worst case must not mix
    two models' beats."""
    if not metrics_of:
        return []
    newest = _model_identity(metrics_of[max(versions, key=versions.get)])
    return sorted(a for a, m in metrics_of.items() if _model_identity(m) != newest)


HEADLINE_COLUMNS = ["model", "beats", "attacks", "clean", "worst-case ACC_robust", "worst-case F1_robust",
                    "min over attacks of ACC_robust", "strongest attack", "flags",
                    "white-box results a gradient-free attack beats"]


def headline(params: dict, evaluations: Stored, examples: Stored, *,
             model_runs: tuple[ModelRun, ...]) -> tuple[pd.DataFrame, str]:
    """One row per model: clean accuracy, the worst-case ACC_robust / F1_robust (the number to read), the
    minimum over attacks of their own ACC_robust (an upper bound) and the attack that reaches it, the raised
    gradient-masking flags, and the white-box results a gradient-free attack beats."""
    spec = _spec(params, model_runs)
    rows = []
    for run, combined in worst_cases(spec, evaluations, examples).items():
        label = next(r.label for r in spec.model_runs if r.run == run)
        bounds = combined["min_over_attacks"]
        strongest = min(bounds, key=bounds.get) if bounds else ""  # lowest ACC_robust of its own
        rows.append({
            "model": f"{label} ({run})", "beats": combined["n"],
            "attacks": len(combined["attacks"]) if not combined["stale"] else
                       f"{len(combined['attacks'])} (not combined, judged an earlier model: {', '.join(combined['stale'])})",
            "clean": combined["curve"][0]["balanced_accuracy"],
            "worst-case ACC_robust": combined.get("acc_robust_balanced"),
            "worst-case F1_robust": combined.get("f1_robust"),
            "min over attacks of ACC_robust": min(bounds.values()) if bounds else None,
            "strongest attack": strongest,
            "flags": ", ".join(f["flag"] for f in combined["flags"] if f["raised"]) or
                     ("none raised" if combined["flags"] else "no autoattack evaluation"),
            "white-box results a gradient-free attack beats": "; ".join(
                f"{a} (by {d['gap']:.2f} at eps {d['eps']:g}, {d['by']})" for a, d in combined["doubted"].items()),
        })
    table = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    if table.empty:
        return table, "No eps evaluation with per-beat outcomes is stored yet.\n"
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return table, "\n".join(lines) + "\n"


def figure_name(*parts: str) -> str:
    """File name of a figure in a figure folder; :func:`figure_caption` reads it back."""
    return "__".join(parts) + ".png"


def figure_caption(name: str) -> str:
    return name.removesuffix(".png").replace("__", " · ")


NOTHING_STORED = figure_name("nothing_stored")


def _never_empty(figures_by_name: dict, what: str, spec: ReportSpec) -> dict:
    """The figures, or one that says none could be drawn: MatplotlibDataset cannot version an empty folder."""
    if figures_by_name:
        return figures_by_name
    text = f"No {what}: none of the requested artifacts is stored yet (see the missing evaluations)."
    return {NOTHING_STORED: figures.placeholder(text, spec.style)}


def inventory(params: dict, evaluations: Stored, histories: Stored, *, model_runs: tuple[ModelRun, ...]) -> dict:
    """The versions the report reads, and one row per model with evaluations still missing (with its command)."""
    spec = _spec(params, model_runs)
    rows = coverage(spec, evaluations, histories)
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
            stored = _pinned(spec, evaluations, f"{run.run}.{attack}")
            if stored is not None:
                inputs.append({"dataset": f"{run.run}.{attack}.metrics", "version": stored.version,
                               "filepath": stored.filepath})
        if run.run in histories:
            stored = histories[run.run]
            inputs.append({"dataset": f"{run.run}.history", "version": stored.version, "filepath": stored.filepath})
    if incomplete:
        log.warning("report: %d of %d declared evaluations stored; %d model(s) lack some (listed in the report, "
                    "one command each)", n_declared - n_missing, n_declared, len(incomplete))
    else:
        log.info("report: all %d declared evaluations stored", n_declared)
    return {"built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "inputs": inputs,
            "missing": incomplete, "coverage": rows}


def robustness_curves(params: dict, evaluations: Stored, examples: Stored, *,
                      model_runs: tuple[ModelRun, ...]) -> dict:
    spec = _spec(params, model_runs)
    result = {}
    combined = worst_cases(spec, evaluations, examples)
    for group in spec.groups:
        curves = {f"{label} ({run})": combined[run] for run, label in group.runs.items() if run in combined}
        if curves:
            result[figure_name(group.key, "worst_case")] = figures.robustness_curves(group.title, WORST_CASE, curves,
                                                                                     spec.style)
        for attack in spec.attacks:
            found = _evaluations(spec, group, attack, evaluations)
            if found:
                curves = {f"{label} ({run})": metrics for run, (label, metrics, _) in found.items()}
                published = {f"{label} ({run})": {metric: published_curve(group.key, attack, metric, label)
                                                  for metric in ("accuracy", "f1")}
                             for run, (label, _, _) in found.items()}
                result[figure_name(group.key, attack)] = figures.robustness_curves(
                    group.title, attack, curves, spec.style, published={k: v for k, v in published.items() if any(v.values())})
    return _never_empty(result, "robustness curves", spec)


def _csv_and_markdown(parts: list[pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=tables.CELL_COLUMNS)
    return cells, tables.to_markdown(tables.layout(cells))


def robustness_tables(params: dict, evaluations: Stored, examples: Stored, *,
                      model_runs: tuple[ModelRun, ...]) -> tuple[pd.DataFrame, str]:
    """Seed 001 Tables 4-6 layout, the worst case over attacks first: (cells for the CSV, Markdown)."""
    spec = _spec(params, model_runs)
    combined = worst_cases(spec, evaluations, examples)
    cells = [tables.robustness_cells(group.key, group.title, WORST_CASE,
                                     {run: (label, combined[run], None) for run, label in group.runs.items()
                                      if run in combined})
             for group in spec.groups if any(run in combined for run in group.runs)]
    cells += [tables.robustness_cells(group.key, group.title, attack, found)
              for group in spec.groups for attack in spec.attacks
              if (found := _evaluations(spec, group, attack, evaluations))]
    return _csv_and_markdown(cells)


def per_class_tables(params: dict, evaluations: Stored, *, model_runs: tuple[ModelRun, ...]) -> tuple[pd.DataFrame, str]:
    """Seed 002 Table 1 layout: (cells for the CSV, Markdown)."""
    spec = _spec(params, model_runs)
    cells = []
    for group in spec.groups:
        for attack in spec.attacks:
            found = _evaluations(spec, group, attack, evaluations)
            if found:
                first = next(iter(found.values()))[1]
                strengths = spec.per_class.get(first["grid_param"]) or [first["grid"][-1]]
                cells.append(tables.per_class_cells(group.key, group.title, attack, found, strengths))
    return _csv_and_markdown(cells)


def adversarial_examples(params: dict, evaluations: Stored, examples: Stored, *,
                         model_runs: tuple[ModelRun, ...]) -> dict:
    """One figure per (run, attack): clean beats and their attacked versions."""
    spec = _spec(params, model_runs)
    result = {}
    for group in spec.groups:
        for attack in spec.attacks:
            for run, (label, metrics, _) in _evaluations(spec, group, attack, evaluations).items():
                stored = _pinned(spec, examples, f"{run}.{attack}", strict_pin=False)
                if stored is None:
                    continue
                grid_param = metrics["grid_param"]
                strength = float(spec.examples.get(grid_param, metrics["grid"][-1]))
                result[figure_name(group.key, attack, run)] = figures.adversarial_examples(
                    f"{label} ({run})", attack, stored.data, grid_param, strength, beats=int(spec.examples.get("beats", 3)),
                    fs_hz=float(group.beat.get("fs_hz", spec.fs_hz)),
                    amplitude=str(group.beat.get("amplitude", spec.amplitude)), lead=group.beat.get("lead"),
                    style=spec.style)
    return _never_empty(result, "adversarial examples", spec)


def training_curves(params: dict, histories: Stored, *, model_runs: tuple[ModelRun, ...]) -> dict:
    spec = _spec(params, model_runs)
    result = {}
    for group in spec.groups:
        for run, label in group.runs.items():
            stored = histories.get(run)
            if stored is not None:
                result[figure_name(group.key, run)] = figures.training_curves(
                    f"{group.title}: {label} ({run}), training version {stored.version}", stored.data, spec.style)
    return _never_empty(result, "training curves", spec)


def _ensemble_group(params: dict, ensemble: EnsembleRun) -> tuple[str, str]:
    """(key, title) of the report group of the ensemble's data and member model (``report.groups``)."""
    for key, group in (params.get("groups") or {}).items():
        if isinstance(group, dict) and (group.get("data"), group.get("model")) == (ensemble.data, ensemble.base_model):
            return str(key), str(group.get("title", key))
    return f"{ensemble.data}_{ensemble.base_model}", f"{ensemble.data_title}, {ensemble.base_model}"


def ensemble_figures(params: dict, transfers: Stored, evaluations: Stored, *, model_runs: tuple[ModelRun, ...],
                     ensembles: tuple[EnsembleRun, ...]) -> dict:
    """Seed 004 Figs. 3-6 per (data, member model) group from the stored transfer studies (``<e>.transfer``), and
    the deployed ensembles' transferred vs adaptive accuracy (their stored ``<e>.<attack>.metrics``). A stored
    version is pinned with ``report.pin.<ensemble>.transfer``."""
    spec = _spec(params, model_runs)
    keyed = {f"{name}.transfer": artifact for name, artifact in transfers.items()}
    result: dict = {}
    groups: dict[tuple[str, str], list[EnsembleRun]] = {}
    for ensemble in ensembles:
        groups.setdefault(_ensemble_group(params, ensemble), []).append(ensemble)
    for (key, title), members in groups.items():
        studies = {e.name: stored.data for e in members
                   if (stored := _pinned(spec, keyed, f"{e.name}.transfer")) is not None}
        own = [e for e in members if e.members_of is None and e.name in studies]
        label = {e.name: f"{e.label} ({e.name})" for e in members}
        eps_label = f"eps ({members[0].data_title} input units)"
        attacks = list(dict.fromkeys(a for e in own for a in studies[e.name]["attacks"]))
        for attack in attacks:
            rows = {label[e.name]: studies[e.name]["attacks"][attack] for e in own if attack in studies[e.name]["attacks"]}
            result[figure_name(key, "ensembles", attack)] = figures.ensemble_agreement(
                title, attack, rows, spec.style, eps_label=eps_label, published=seed004_points(attack) or None,
                published_label=SEED004_DATA)
        if own:
            result[figure_name(key, "ensembles", "clean")] = figures.ensemble_natural(
                title, {label[e.name]: studies[e.name]["clean"] for e in own}, spec.style)
            result[figure_name(key, "ensembles", "feature_r2")] = figures.feature_r2_heatmaps(
                title, {label[e.name]: (studies[e.name]["members"], studies[e.name]["feature_r2"]) for e in own},
                spec.style)
        panels = {}
        for e in (e for e in members if e.members_of is None):
            curves: dict[str, dict[str, tuple]] = {"transfer": {}, "adaptive": {}}
            for deployed in [e, *(v for v in members if v.members_of == e.name)]:
                for attack, rows in studies.get(deployed.name, {}).get("attacks", {}).items():
                    curves["transfer"][f"{attack} on base, {deployed.combine}"] = (
                        [r["eps"] for r in rows], [r["ensemble_accuracy"] for r in rows])
                for attack in deployed.attacks:
                    stored = _pinned(spec, evaluations, f"{deployed.name}.{attack}")
                    if stored is not None and stored.data.get("grid_param") == "eps":
                        curve = stored.data["curve"]
                        curves["adaptive"][f"{attack} on {deployed.combine}"] = (
                            [p["eps"] for p in curve], [p["balanced_accuracy"] for p in curve])
            if curves["transfer"] or curves["adaptive"]:
                panels[label[e.name]] = curves
        if panels:
            result[figure_name(key, "ensembles", "transfer_vs_adaptive")] = figures.transfer_vs_adaptive(
                title, panels, spec.style)
    return _never_empty(result, "ensemble figures", spec)


def _report_order(spec: ReportSpec):
    """Sort key of a figure name: groups, then attacks, then runs, in report order."""
    order = {key: i for i, key in enumerate([*(g.key for g in spec.groups), *spec.attacks, *spec.runs])}
    return lambda name: [order.get(part, len(order)) for part in name.removesuffix(".png").split("__")]


def html_report(params: dict, inventory: dict, headline: pd.DataFrame, robustness: pd.DataFrame,
                per_class: pd.DataFrame, curves: StoredArtifact, examples: StoredArtifact, training: StoredArtifact,
                ensembles: StoredArtifact | None = None, *, model_runs: tuple[ModelRun, ...]) -> str:
    """The self-contained HTML page: inputs and their versions, what is missing, tables and figures."""
    in_order = _report_order(_spec(params, model_runs))
    figure_sets = {"curves": curves, "examples": examples, "training": training,
                   **({"ensembles": ensembles} if ensembles is not None else {})}
    versions = ", ".join(f"{k} {v.version}" for k, v in figure_sets.items() if v.present)

    def figures_of(stored: StoredArtifact) -> str:
        if not stored.present or not stored.data:
            return '<p class="note">No figures: none of the requested artifacts is stored yet.</p>'
        return html.figures_html({name: stored.data[name] for name in sorted(stored.data, key=in_order)},
                                 caption=figure_caption)

    def tables_of(cells: pd.DataFrame) -> str:
        if cells.empty:
            return '<p class="note">No tables: none of the requested evaluations is stored yet.</p>'
        return "\n".join(html.table_html(title, table) for title, table in tables.layout(cells).items())

    headline_html = ('<p class="note">No eps evaluation with per-beat outcomes is stored yet.</p>' if headline.empty else
                     '<p class="note">The number to read: a beat counts as robust at eps only if it is classified '
                     "correctly clean and under every attack evaluated on it at that eps (or any smaller one). "
                     "Scored on the beats of the model's autoattack evaluation when stored. The minimum over attacks "
                     "of each attack's own ACC_robust is only an upper bound. Flags: the gradient-masking checks of "
                     "Carlini et al. 2019 that failed for this model (details in its autoattack metrics JSON).</p>"
                     + html.table_html("Worst case over the attack suite (class-balanced accuracy)",
                                       headline.set_index("model")))
    sections = [
        ("Headline: the per-beat worst case over every attack", headline_html),
        ("Which evaluations are stored", html.coverage_html(inventory["coverage"])),
        ("Robustness curves", figures_of(curves)),
        ("Robustness tables (seed 001 Tables 4-6 layout)",
         '<p class="note">Accuracy is class-balanced accuracy (the papers\' accuracy on an up-sampled test '
         "stream); ACC_robust / F1_robust integrate the curve up to eps_max (seed 001 eq. 8). Rows in grey "
         "italics are seed 001's published numbers, shown only where the setting is like-for-like "
         "(100-PGD = pgd_nsr, 100-SAP = sap, white noise); the published F1 is on the class-balanced stream, "
         "ours on the natural test split.</p>" + tables_of(robustness)),
        ("Per-class sensitivity and specificity (seed 002 Table 1 layout)", tables_of(per_class)),
        ("Adversarial examples", figures_of(examples)),
        *([("Ensembles (seed 004 Figs. 3-6, and transferred vs attacked as deployed)",
            '<p class="note">Transfer: attacks crafted on the base model (member 0) and given to every member, on '
            "the samples the base model gets right clean (seed 004's protocol). Adaptive: the deployed ensemble "
            "attacked end to end, class-balanced accuracy on every sample. Seed 004's stated values are CinC 2017 at "
            "raw-amplitude eps, drawn in a panel of their own.</p>" + figures_of(ensembles))]
          if ensembles is not None else []),
        ("Training curves", figures_of(training)),
        ("Inputs: the stored artifact versions this report was built from", html.inputs_html(inventory["inputs"])),
    ]
    subtitle = (f"Built {inventory['built_at']} from {len(inventory['inputs'])} stored artifacts "
                f"(versions listed at the end); figure versions: {versions or 'none'}.")
    return html.page("ECG robustness report", sections, subtitle)
