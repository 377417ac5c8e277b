"""Thin adapters between the catalog and :mod:`ecg_pipeline.reporting`.

Every node receives ``params:report``, the declared model runs (bound when pipelines are registered)
and the stored artifacts as collections (``attack_evaluations``, ``attack_examples``,
``training_histories``: ``{"<run>.<attack>" or "<run>": StoredArtifact}``, newest version unless
``report.pin`` names another). Each model's worst case is computed once (``report.worst_cases``) and read by
the headline, the curves and the tables. What a declared run lacks is listed in one table, one row and one
command per model (``report.strict: true``: an error instead).
"""

from __future__ import annotations

import importlib
import logging

import pandas as pd

from ecg_pipeline import run_context
from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.reporting import bracket as bracket_
from ecg_pipeline.reporting import ensembles as ensembles_
from ecg_pipeline.reporting import figures, headline as headline_, page, tables
from ecg_pipeline.reporting import table as benchmark
from ecg_pipeline.reporting.ensembles import figure_name
from ecg_pipeline.reporting.published import published_curve
from ecg_pipeline.reporting.spec import EnsembleRun, ModelRun, ReportSpec
from ecg_pipeline.reporting.table_evaluations import evaluation_outcomes
from ecg_pipeline.reporting.worst_cases import WORST_CASE, group_evaluations, pinned
from ecg_pipeline.reporting.worst_cases import worst_cases as compute_worst_cases

log = logging.getLogger(__name__)

Stored = dict[str, StoredArtifact]
NOTHING_STORED = page.NOTHING_STORED


def _spec(params: dict, model_runs: tuple[ModelRun, ...]) -> ReportSpec:
    return ReportSpec.from_params(params, model_runs)


def figure_caption(name: str) -> str:
    return name.removesuffix(".png").replace("__", " · ")


def _never_empty(figures_by_name: dict, what: str, spec: ReportSpec) -> dict:
    """The figures, or one that says none could be drawn: MatplotlibDataset cannot version an empty folder (the
    page leaves that figure, and its section, out)."""
    if figures_by_name:
        return figures_by_name
    text = f"No {what}: none of the requested artifacts is stored yet (see the missing evaluations)."
    return {NOTHING_STORED: figures.placeholder(text, spec.style)}


def _provenance() -> tuple[dict | None, object]:
    """This run's provenance (``ecg_pipeline.run_provenance.collect``) and the function that makes a path
    relative to the project; (None, relpath to the working directory) where that module is absent."""
    try:
        module = importlib.import_module("ecg_pipeline.run_provenance")
    except ImportError:
        import os

        return None, lambda path: os.path.relpath(path) if os.path.isabs(path) else str(path)
    return module.collect(), module.relative


def worst_cases(evaluations: Stored, examples: Stored, *, model_runs: tuple[ModelRun, ...], **selection) -> dict:
    """run -> its worst case (:mod:`ecg_pipeline.reporting.worst_cases`); ``selection``: the parts of
    ``params:report`` it depends on (runs, attacks, pin, groups, bootstrap), no figure setting."""
    spec = _spec(selection, model_runs)
    return compute_worst_cases(spec, evaluations, examples, spec.bootstrap)


def bracket(params: dict, worst_cases: dict, certified: Stored, *, model_runs: tuple[ModelRun, ...]
            ) -> tuple[pd.DataFrame, str, dict]:
    """Per model with a stored ``<run>.certify``: the certified lower bound beside the attacks' worst case
    (:mod:`ecg_pipeline.reporting.bracket`): (CSV, Markdown, one figure per model). ``certified``: the collection
    ``certify_evaluations`` (``<run>`` -> stored metrics; ``report.pin.<run>.certify`` picks a version)."""
    spec = _spec(params, model_runs)
    stored = {f"{run}.certify": artifact for run, artifact in certified.items()}
    found = {}
    for run in spec.model_runs:
        artifact = pinned(spec, stored, f"{run.run}.certify", strict_pin=False)
        if artifact is not None:
            found[run.run] = artifact.data
    table, left_out = bracket_.table(found, worst_cases, [r.run for r in spec.model_runs])
    drawn = {figure_name("bracket", run): bracket_.figure(run, table, spec.style)
             for run in dict.fromkeys(table["run"])}
    return table, bracket_.markdown(table, left_out), _never_empty(drawn, "certified bracket", spec)


def headline(params: dict, worst_cases: dict, bracket: pd.DataFrame, *, model_runs: tuple[ModelRun, ...]
             ) -> tuple[pd.DataFrame, str]:
    """One row per model (:mod:`ecg_pipeline.reporting.headline`), with its certified lower bound where the
    bracket has one (:mod:`ecg_pipeline.reporting.bracket`): (CSV, Markdown)."""
    table = bracket_.headline_columns(headline_.table(worst_cases), bracket)
    return table, headline_.markdown(table)


def judged_by_the_suite(worst_cases: dict, model_runs: tuple[ModelRun, ...]) -> dict:
    """The worst cases that include their run's reference attack (AutoAttack's suite, ``ModelRun.reference``): one
    over the other attacks alone (a run with only SAP and white noise stored) is not the per-beat worst case and would
    rank it far too high, so the benchmark table and the ranking leave it out, saying so in the log."""
    reference = {r.run: r.reference for r in model_runs}
    kept = {}
    for run, case in worst_cases.items():
        attacks = case.get("attacks")
        if reference.get(run) is not None and attacks is not None and reference[run] not in attacks:
            log.warning("report: %s's worst case lacks %s (stored: %s): left out of the benchmark table and the "
                        "ranking; run `kedro run --pipelines=attack --namespaces=%s.%s`", run, reference[run],
                        ", ".join(attacks), run, reference[run])
            continue
        kept[run] = case
    return kept


def benchmark_table(params: dict, worst_cases: dict, evaluations: Stored, certified: Stored, record_noise: Stored,
                    examples: Stored | None = None, certified_examples: Stored | None = None,
                    record_noise_examples: Stored | None = None, *, model_runs: tuple[ModelRun, ...],
                    dimensions: dict[str, benchmark.RunDimensions]) -> tuple[pd.DataFrame, str]:
    """One row per defense x model x split over its seeds, paired against CE (:mod:`ecg_pipeline.reporting.table`),
    with each run's stored ``<run>.sap``, ``<run>.white_noise``, ``<run>.record_noise`` and ``<run>.certify``
    (collections ``attack_evaluations``, ``record_noise_evaluations``, ``certify_evaluations``; ``report.pin`` picks
    versions; one not stored is an empty cell, never an evaluation run here) as means over seeds with intervals and
    paired differences from CE, drawn from their per-beat outcomes (``attack_examples``, ``record_noise_examples``,
    ``certify_examples``, each at its metrics' own version): (CSV, Markdown); intervals drawn as
    ``report.bootstrap`` says."""
    spec = _spec(params, model_runs)
    worst_cases = judged_by_the_suite(worst_cases, model_runs)
    elsewhere = {**{f"{run}.certify": a for run, a in certified.items()},
                 **{f"{run}.record_noise": a for run, a in record_noise.items()}}
    outcomes_of = {**(examples or {}), **{f"{run}.certify": a for run, a in (certified_examples or {}).items()},
                   **{f"{run}.record_noise": a for run, a in (record_noise_examples or {}).items()}}

    def stored(run: str, name: str) -> tuple[dict | None, dict | None]:
        """The metrics (pinned) and the per-beat outcomes of the same version (None: not stored)."""
        if name in ("certify", "record_noise"):   # not attacks: a pin they lack falls back to the newest, as bracket's
            artifact = pinned(spec, elsewhere, f"{run}.{name}", strict_pin=False)
        else:
            artifact = pinned(spec, evaluations, f"{run}.{name}")
        if artifact is None:
            return None, None
        return artifact.data, _same_version(outcomes_of.get(f"{run}.{name}"), artifact.version)

    cells, outcomes = {}, {}
    for run in dimensions:
        if run not in worst_cases:
            continue
        found = {name: stored(run, name) for name in ("sap", "white_noise", "record_noise", "certify")}
        cells[run] = benchmark.evaluation_cells(**{name: metrics for name, (metrics, _) in found.items()})
        outcomes[run], notes = evaluation_outcomes({name: m for name, (m, _) in found.items()},
                                                   {name: e for name, (_, e) in found.items()})
        for note in notes:
            log.warning("report: %s: %s", run, note)
    frame = benchmark.table(worst_cases, dimensions, spec.bootstrap, evaluations=cells, outcomes=outcomes)
    return frame, benchmark.markdown(frame)


def _same_version(artifact: StoredArtifact | None, version: str | None) -> dict | None:
    """``artifact``'s data at ``version`` (the metrics' own: one evaluation wrote both), else None."""
    if artifact is None:
        return None
    if artifact.version == version:
        return artifact.data
    return artifact.at(version).data if version in artifact.versions else None


def ranking(params: dict, worst_cases: dict, *, model_runs: tuple[ModelRun, ...],
            dimensions: dict[str, benchmark.RunDimensions]) -> tuple[pd.DataFrame, str]:
    """The defenses of each model and split ranked by mean worst-case ACC_robust, each neighbour pair and each
    against the best compared seed by seed (:func:`ecg_pipeline.reporting.table.ranking`), and each defense's rank
    per split: (CSV, Markdown); intervals drawn as ``report.bootstrap`` says."""
    judged = judged_by_the_suite(worst_cases, model_runs)
    frame = benchmark.ranking(judged, dimensions, _spec(params, model_runs).bootstrap)
    return frame, benchmark.ranking_markdown(frame)


def inventory(params: dict, evaluations: Stored, histories: Stored, *, model_runs: tuple[ModelRun, ...]) -> dict:
    """The versions the report reads, its provenance, and one row per model with evaluations still missing."""
    provenance, relative = _provenance()
    return page.inventory(_spec(params, model_runs), evaluations, histories, flags=run_context.current().flags(),
                          relative=relative, provenance=provenance)


def robustness_curves(params: dict, worst_cases: dict, evaluations: Stored, *,
                      model_runs: tuple[ModelRun, ...]) -> dict:
    """Per model: every attack and the worst case on one axis; per data: the worst case of every model, its
    architectures compared; per group and attack: the group's runs overlaid (seed 001's published curves)."""
    spec = _spec(params, model_runs)
    result = {}
    for group in spec.groups:
        for run, label in group.runs.items():
            if run in worst_cases:
                attacks = {a: pinned(spec, evaluations, f"{run}.{a}").data for a in worst_cases[run]["attacks"]}
                result[figure_name(page.MODEL_FIGURE, group.key, run)] = figures.model_attacks(
                    f"{group.title}: {label} ({run})", worst_cases[run], attacks, spec.style)
    for data in dict.fromkeys(r.data for r in spec.model_runs):
        runs = [r for r in spec.model_runs if r.data == data and r.run in worst_cases]
        if len({r.model for r in runs}) > 1:
            architecture = {run: g.title.split(", ")[-1] for g in spec.groups for run in g.runs}
            result[figure_name(page.ARCHITECTURE_FIGURE, data)] = figures.architectures(
                runs[0].data_title, {f"{r.label} ({r.run})": (architecture.get(r.run, r.model), worst_cases[r.run])
                                     for r in runs}, spec.style)
    for group in spec.groups:
        curves = {f"{label} ({run})": worst_cases[run] for run, label in group.runs.items() if run in worst_cases}
        if curves:
            result[figure_name(group.key, "worst_case")] = figures.robustness_curves(group.title, WORST_CASE, curves,
                                                                                     spec.style)
        for attack in spec.attacks:
            found = group_evaluations(spec, group, attack, evaluations)
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


def robustness_tables(params: dict, worst_cases: dict, evaluations: Stored, *,
                      model_runs: tuple[ModelRun, ...]) -> tuple[pd.DataFrame, str]:
    """Seed 001 Tables 4-6 layout, the worst case over attacks first: (cells for the CSV, Markdown)."""
    spec = _spec(params, model_runs)
    cells = [tables.robustness_cells(group.key, group.title, WORST_CASE,
                                     {run: (label, worst_cases[run], None) for run, label in group.runs.items()
                                      if run in worst_cases})
             for group in spec.groups if any(run in worst_cases for run in group.runs)]
    cells += [tables.robustness_cells(group.key, group.title, attack, found)
              for group in spec.groups for attack in spec.attacks
              if (found := group_evaluations(spec, group, attack, evaluations))]
    return _csv_and_markdown(cells)


def per_class_tables(params: dict, evaluations: Stored, *, model_runs: tuple[ModelRun, ...]) -> tuple[pd.DataFrame, str]:
    """Seed 002 Table 1 layout: (cells for the CSV, Markdown)."""
    spec = _spec(params, model_runs)
    cells = []
    for group in spec.groups:
        for attack in spec.attacks:
            found = group_evaluations(spec, group, attack, evaluations)
            if found:
                first = next(iter(found.values()))[1]
                strengths = spec.per_class.get(first["grid_param"]) or [first["grid"][-1]]
                cells.append(tables.per_class_cells(group.key, group.title, attack, found, strengths))
    return _csv_and_markdown(cells)


def adversarial_examples(params: dict, evaluations: Stored, examples: Stored, *,
                         model_runs: tuple[ModelRun, ...]) -> dict:
    """One figure per (run, attack): clean beats and their attacked versions, the zero padding shaded."""
    spec = _spec(params, model_runs)
    result = {}
    for group in spec.groups:
        for attack in spec.attacks:
            for run, (label, metrics, _) in group_evaluations(spec, group, attack, evaluations).items():
                stored = pinned(spec, examples, f"{run}.{attack}", strict_pin=False)
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


def ensemble_figures(params: dict, transfers: Stored, evaluations: Stored, *, model_runs: tuple[ModelRun, ...],
                     ensembles: tuple[EnsembleRun, ...]) -> dict:
    """Seed 004 Figs. 3-6 and transferred vs adaptive accuracy (:mod:`ecg_pipeline.reporting.ensembles`)."""
    spec = _spec(params, model_runs)
    return _never_empty(ensembles_.ensemble_figures(spec, params, transfers, evaluations, ensembles),
                        "ensemble figures", spec)


def _report_order(spec: ReportSpec):
    """Sort key of a figure name: groups, then attacks, then runs, in report order."""
    order = {key: i for i, key in enumerate([*(g.key for g in spec.groups), *spec.attacks, *spec.runs])}
    return lambda name: [order.get(part, len(order)) for part in name.removesuffix(".png").split("__")]


def html_report(params: dict, inventory: dict, headline: pd.DataFrame, worst_cases: dict, robustness: pd.DataFrame,
                per_class: pd.DataFrame, curves: StoredArtifact, examples: StoredArtifact, training: StoredArtifact,
                ensembles: StoredArtifact | None = None, bracket: pd.DataFrame | None = None,
                bracket_figures: StoredArtifact | None = None, benchmark_table: pd.DataFrame | None = None,
                ranking: pd.DataFrame | None = None, *, model_runs: tuple[ModelRun, ...]) -> str:
    """The self-contained HTML page (:mod:`ecg_pipeline.reporting.page`)."""
    spec = _spec(params, model_runs)
    figure_sets = {"curves": curves, "examples": examples, "training": training,
                   **({"ensembles": ensembles} if ensembles is not None else {}),
                   **({"bracket": bracket_figures} if bracket_figures is not None else {})}
    versions = ", ".join(f"{k} {v.version}" for k, v in figure_sets.items() if v.present)
    return page.build(spec, inventory, headline, worst_cases, robustness, per_class,
                      {k: (v.data or {}) if v.present else {} for k, v in figure_sets.items()},
                      order=_report_order(spec), caption=figure_caption, versions=versions, bracket=bracket,
                      benchmark=benchmark_table, ranking=ranking)
