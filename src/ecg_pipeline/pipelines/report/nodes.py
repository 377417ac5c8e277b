"""Thin adapters between the catalog and :mod:`ecg_pipeline.reporting`.

Every node receives ``params:report`` and the stored artifacts it may show, by dataset name
(``ce_mlp.pgd.metrics`` -> :class:`~ecg_pipeline.datasets.StoredArtifact`), and reports on the ones
``params:report`` asks for. A requested artifact that is absent is left out and listed, with the
command that produces it, in the report's inventory and HTML; with ``report.strict: true`` it is an
error instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.reporting import figures, html, tables
from ecg_pipeline.reporting.published import published_curve
from ecg_pipeline.reporting.spec import Family, ReportSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Producers:
    """Which pipeline produces each artifact the report can read (fixed when pipelines are registered)."""

    evaluated_runs: tuple[str, ...]      # runs the attack pipeline evaluates (its model_runs())
    trained_runs: dict[str, str]         # run -> the training pipeline that trains it
    attacks: tuple[str, ...]             # attacks the attack pipeline runs (its ATTACKS)

    @property
    def report_runs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.evaluated_runs, *self.trained_runs)))

    def produces(self, dataset: str) -> bool:
        """Whether a registered pipeline writes ``dataset`` (only those are report inputs)."""
        parts = dataset.split(".")
        if parts[-1] == "history":
            return parts[0] in self.trained_runs
        return parts[0] in self.evaluated_runs and parts[1] in self.attacks

    def command(self, dataset: str) -> str:
        """The command that produces ``dataset`` (``<run>.<attack>.metrics|examples`` or ``<run>.history``)."""
        return self.commands([dataset])[0]

    def commands(self, datasets: list[str]) -> list[str]:
        """The fewest commands that produce ``datasets``: one attack run per model run, one training run per run."""
        attacks_of: dict[str, list[str]] = {}
        trained: list[str] = []
        for dataset in datasets:
            parts = dataset.split(".")
            if parts[-1] == "history":
                trained.append(parts[0])
            elif f"{parts[0]}.{parts[1]}" not in attacks_of.setdefault(parts[0], []):
                attacks_of[parts[0]].append(f"{parts[0]}.{parts[1]}")
        lines = []
        for run, namespaces in attacks_of.items():
            line = f"kedro run --pipeline=attack --namespaces={','.join(namespaces)}"
            if run not in self.evaluated_runs:
                line += (f"   # the attack pipeline does not evaluate '{run}' yet: add it to model_runs() in "
                         "src/ecg_pipeline/pipelines/attack/pipeline.py first")
            lines.append(line)
        for run in dict.fromkeys(trained):
            pipeline = self.trained_runs.get(run)
            lines.append(f"kedro run --pipeline={pipeline} --nodes={run}.train" if pipeline
                         else f"# no registered pipeline trains '{run}'")
        return lines


def _spec(params: dict, producers: Producers, artifacts: dict[str, StoredArtifact]) -> tuple[ReportSpec, list[dict]]:
    """The report's parameters, checked against what the pipelines produce, and the absent artifacts among
    ``artifacts`` (in strict mode, an error)."""
    spec = ReportSpec.from_params(params)
    unknown_runs = [run for run in spec.runs if run not in producers.report_runs]
    unknown_attacks = [attack for attack in spec.attacks if attack not in producers.attacks]
    if unknown_runs or unknown_attacks:
        raise EcgDataError(
            "parameters 'report': "
            + (f"run(s) {unknown_runs} are not trained or evaluated by any pipeline (known: {list(producers.report_runs)}); "
               if unknown_runs else "")
            + (f"attack(s) {unknown_attacks} are not run by the attack pipeline (known: {list(producers.attacks)})"
               if unknown_attacks else "")
        )
    return spec, _missing(spec, producers, artifacts)


def requested_datasets(spec: ReportSpec, producers: Producers) -> list[str]:
    """Every artifact ``spec`` asks for, in report order."""
    names = []
    for family in spec.families:
        for run in family.runs:
            names += [f"{run}.{attack}.{kind}" for attack in spec.attacks for kind in ("metrics", "examples")]
            if run in producers.trained_runs:
                names.append(f"{run}.history")
    return names


def _missing(spec: ReportSpec, producers: Producers, artifacts: dict[str, StoredArtifact]) -> list[dict]:
    """The requested artifacts of the kinds in ``artifacts`` that are absent; raises in strict mode.

    A requested evaluation that no pipeline writes yet (its run is not in the attack pipeline's
    model_runs()) is not a node input at all; it is reported as absent all the same.
    """
    kinds = {name.rpartition(".")[2] for name in artifacts}
    missing = []
    for name in requested_datasets(spec, producers):
        if name.rpartition(".")[2] not in kinds:
            continue
        if not producers.produces(name):
            missing.append({"dataset": name, "filepath": "no pipeline writes it yet", "command": producers.command(name)})
        elif not artifacts[name].present:
            missing.append({"dataset": name, "filepath": artifacts[name].filepath, "command": producers.command(name)})
    if missing and spec.strict:
        lines = "\n".join(f"  - {m['dataset']}: {m['filepath']}" for m in missing)
        commands = "\n".join(f"  {c}" for c in producers.commands([m["dataset"] for m in missing]))
        raise EcgDataError(f"report: {len(missing)} requested artifact(s) have not been produced "
                           f"(report.strict is true):\n{lines}\nProduce them with:\n{commands}")
    return missing


def _stored(artifacts: dict[str, StoredArtifact], name: str) -> StoredArtifact | None:
    """``artifacts[name]`` if it is an input of this node and is stored, else None."""
    stored = artifacts.get(name)
    return stored if stored is not None and stored.present else None


def _evaluations(family: Family, attack: str, artifacts: dict[str, StoredArtifact]) -> dict:
    """run -> (label, metrics, version) of the family's runs that have a stored evaluation of ``attack``."""
    found = {}
    for run, label in family.runs.items():
        stored = _stored(artifacts, f"{run}.{attack}.metrics")
        if stored is not None:
            found[run] = (label, stored.data, stored.version)
    return found


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


def inventory(params: dict, producers: Producers, **artifacts: StoredArtifact) -> dict:
    """The versions the report reads and the requested artifacts that are absent (with their commands)."""
    spec, missing = _spec(params, producers, artifacts)
    for m in missing:
        log.warning("report: %s is absent (%s); produce it with: %s", m["dataset"], m["filepath"], m["command"])
    requested = set(requested_datasets(spec, producers))
    inputs = [{"dataset": name, "version": a.version, "filepath": a.filepath}
              for name, a in sorted(artifacts.items()) if name in requested and a.present]
    coverage = [{"family": family.title, "run": run, "label": label,
                 "attacks": {attack: _stored(artifacts, f"{run}.{attack}.metrics") is not None for attack in spec.attacks}}
                for family in spec.families for run, label in family.runs.items()]
    log.info("report: %d stored artifacts read, %d requested ones absent", len(inputs), len(missing))
    return {"built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "inputs": inputs, "missing": missing,
            "commands": producers.commands([m["dataset"] for m in missing]), "coverage": coverage}


def robustness_curves(params: dict, producers: Producers, **artifacts: StoredArtifact) -> dict:
    spec, _ = _spec(params, producers, artifacts)
    result = {}
    for family in spec.families:
        for attack in spec.attacks:
            evaluations = _evaluations(family, attack, artifacts)
            if evaluations:
                curves = {f"{label} ({run})": metrics for run, (label, metrics, _) in evaluations.items()}
                published = {f"{label} ({run})": {metric: published_curve(family.key, attack, metric, label)
                                                  for metric in ("accuracy", "f1")}
                             for run, (label, _, _) in evaluations.items()}
                result[figure_name(family.key, attack)] = figures.robustness_curves(
                    family.title, attack, curves, spec.style, published={k: v for k, v in published.items() if any(v.values())})
    return _never_empty(result, "robustness curves", spec)


def _csv_and_markdown(parts: list[pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=tables.CELL_COLUMNS)
    return cells, tables.to_markdown(tables.layout(cells))


def robustness_tables(params: dict, producers: Producers, **artifacts: StoredArtifact) -> tuple[pd.DataFrame, str]:
    """Seed 001 Tables 4-6 layout: (cells for the CSV, Markdown)."""
    spec, _ = _spec(params, producers, artifacts)
    cells = [tables.robustness_cells(family.key, family.title, attack, evaluations)
             for family in spec.families for attack in spec.attacks
             if (evaluations := _evaluations(family, attack, artifacts))]
    return _csv_and_markdown(cells)


def per_class_tables(params: dict, producers: Producers, **artifacts: StoredArtifact) -> tuple[pd.DataFrame, str]:
    """Seed 002 Table 1 layout: (cells for the CSV, Markdown)."""
    spec, _ = _spec(params, producers, artifacts)
    cells = []
    for family in spec.families:
        for attack in spec.attacks:
            evaluations = _evaluations(family, attack, artifacts)
            if evaluations:
                first = next(iter(evaluations.values()))[1]
                strengths = spec.per_class.get(first["grid_param"]) or [first["grid"][-1]]
                cells.append(tables.per_class_cells(family.key, family.title, attack, evaluations, strengths))
    return _csv_and_markdown(cells)


def adversarial_examples(params: dict, producers: Producers, **artifacts: StoredArtifact) -> dict:
    """One figure per (run, attack): clean beats and their attacked versions."""
    spec, _ = _spec(params, producers, artifacts)
    result = {}
    for family in spec.families:
        for attack in spec.attacks:
            for run, (label, metrics, _) in _evaluations(family, attack, artifacts).items():
                stored = _stored(artifacts, f"{run}.{attack}.examples")
                if stored is None:
                    continue
                grid_param = metrics["grid_param"]
                strength = float(spec.examples.get(grid_param, metrics["grid"][-1]))
                result[figure_name(family.key, attack, run)] = figures.adversarial_examples(
                    f"{label} ({run})", attack, stored.data, grid_param, strength, beats=int(spec.examples.get("beats", 3)),
                    fs_hz=spec.fs_hz, amplitude=spec.amplitude, style=spec.style)
    return _never_empty(result, "adversarial examples", spec)


def training_curves(params: dict, producers: Producers, **artifacts: StoredArtifact) -> dict:
    spec, _ = _spec(params, producers, artifacts)
    result = {}
    for family in spec.families:
        for run, label in family.runs.items():
            stored = _stored(artifacts, f"{run}.history")
            if stored is not None:
                result[figure_name(family.key, run)] = figures.training_curves(
                    f"{family.title}: {label} ({run}), training version {stored.version}", stored.data, spec.style)
    return _never_empty(result, "training curves", spec)


def _report_order(spec: ReportSpec):
    """Sort key of a figure name: families, then attacks, then runs in the order ``params:report`` lists them."""
    order = {key: i for i, key in enumerate([*(f.key for f in spec.families), *spec.attacks, *spec.runs])}
    return lambda name: [order.get(part, len(order)) for part in name.removesuffix(".png").split("__")]


def html_report(params: dict, inventory: dict, robustness: pd.DataFrame, per_class: pd.DataFrame,
                curves: StoredArtifact, examples: StoredArtifact, training: StoredArtifact) -> str:
    """The self-contained HTML page: inputs and their versions, what is missing, tables and figures."""
    in_order = _report_order(ReportSpec.from_params(params))
    figure_sets = {"curves": curves, "examples": examples, "training": training}
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

    sections = [
        ("Which evaluations are stored", html.coverage_html(inventory["coverage"])
         + html.missing_html(inventory["missing"], inventory["commands"])),
        ("Robustness curves", figures_of(curves)),
        ("Robustness tables (seed 001 Tables 4-6 layout)",
         '<p class="note">Accuracy is class-balanced accuracy (the papers\' accuracy on an up-sampled test '
         "stream); ACC_robust / F1_robust integrate the curve up to eps_max (seed 001 eq. 8). Rows in grey "
         "italics are seed 001's published numbers, shown only where the setting is like-for-like "
         "(100-PGD = pgd_nsr, 100-SAP = sap, white noise); the published F1 is on the class-balanced stream, "
         "ours on the natural test split.</p>" + tables_of(robustness)),
        ("Per-class sensitivity and specificity (seed 002 Table 1 layout)", tables_of(per_class)),
        ("Adversarial examples", figures_of(examples)),
        ("Training curves", figures_of(training)),
        ("Inputs: the stored artifact versions this report was built from", html.inputs_html(inventory["inputs"])),
    ]
    subtitle = (f"Built {inventory['built_at']} from {len(inventory['inputs'])} stored artifacts "
                f"(versions listed at the end); figure versions: {versions or 'none'}.")
    return html.page("ECG robustness report", sections, subtitle)
