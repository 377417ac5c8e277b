"""Paper-style tables from attack-evaluation metrics (the JSON of ``evaluation.robustness``).

Every table is first built as *cells*: one tidy row per (table, row, column) with its value and where
it came from (run and evaluation version, or the published source). The cells are what the CSV
stores; :func:`layout` turns them into the wide layout of the papers, for Markdown and HTML alike.

- robustness tables (seed 001 Tables 4-6): rows models, columns eps (or SNR), last column ACC_robust or
  F1_robust; seed 001's published rows beside ours where the setting is like-for-like;
- per-class tables (seed 002 Table 1): rows (strength, model), columns accuracy and each class's
  sensitivity and specificity.
"""

from __future__ import annotations

import pandas as pd

from .published import published_table

CELL_COLUMNS = ["table", "family", "attack", "row", "column", "value", "source", "run", "version"]
OURS = "this project"

# metric key -> (value in each curve point, summary in the metrics JSON, table title, robust column)
METRICS = {
    "accuracy": ("balanced_accuracy", "acc_robust_balanced", "Accuracy (class-balanced)", "ACC_robust"),
    "f1": ("macro_f1", "f1_robust", "Macro F1", "F1_robust"),
}


def strength_label(grid_param: str, value: float) -> str:
    """Column / legend text of one grid point: ``0.05`` for eps, ``6 dB`` for an SNR."""
    return f"{value:g} dB" if grid_param == "snr_db" else f"{value:g}"


def grid_title(grid_param: str) -> str:
    return "SNR (dB)" if grid_param == "snr_db" else "eps (L-inf bound, normalised amplitude)"


def robustness_cells(family: str, family_title: str, attack: str,
                     evaluations: dict[str, tuple[str, dict, str | None]]) -> pd.DataFrame:
    """Cells of the seed 001 Table 4-6 layout for one family and attack.

    ``evaluations``: run -> (label, metrics JSON, version), in the order of the rows.
    """
    cells = []
    for metric, (point_key, robust_key, title, robust_column) in METRICS.items():
        table = f"{family_title} · {attack} · {title}"
        for run, (label, metrics, version) in evaluations.items():
            grid_param = metrics["grid_param"]
            for point in metrics["curve"]:
                cells.append((table, family, attack, f"{label} ({run})", strength_label(grid_param, point[grid_param]),
                              float(point[point_key]), OURS, run, version))
            if robust_key in metrics:
                cells.append((table, family, attack, f"{label} ({run})", robust_column, float(metrics[robust_key]),
                              OURS, run, version))
        cells += _published_cells(table, family, attack, metric, evaluations, robust_column)
    return pd.DataFrame(cells, columns=CELL_COLUMNS)


def _published_cells(table: str, family: str, attack: str, metric: str, evaluations: dict, robust_column: str) -> list:
    """Seed 001's rows for the labels of this table, at the eps values our grid shares with the paper's."""
    published = published_table(family, attack, metric)
    if published is None:
        return []
    cells = []
    for run, (label, metrics, _) in evaluations.items():
        values = published.rows.get(label)
        if values is None or metrics["grid_param"] != "eps":
            continue
        row = f"{label}: published ({published.source})"
        ours = {float(v) for v in metrics["grid"]}
        for eps, percent in zip(published.grid, values[:-1]):
            if eps in ours:
                cells.append((table, family, attack, row, strength_label("eps", eps), percent / 100, published.source, "", ""))
        if published.eps_max is not None and metrics.get("eps_max") == published.eps_max:  # like-for-like only then
            cells.append((table, family, attack, row, robust_column, values[-1] / 100, published.source, "", ""))
    return cells


def per_class_cells(family: str, family_title: str, attack: str, evaluations: dict[str, tuple[str, dict, str | None]],
                    strengths: list[float]) -> pd.DataFrame:
    """Cells of the seed 002 Table 1 layout: per (strength, model) accuracy and per-class sensitivity/specificity.

    ``strengths``: grid values to show (those absent from a model's grid are left out).
    """
    table = f"{family_title} · {attack} · per-class sensitivity / specificity"
    cells = []
    for strength in strengths:
        for run, (label, metrics, version) in evaluations.items():
            grid_param = metrics["grid_param"]
            point = next((p for p in metrics["curve"] if abs(p[grid_param] - strength) < 1e-9), None)
            if point is None:
                continue
            row = f"{grid_param} {strength_label(grid_param, strength)} · {label} ({run})"
            values = {"accuracy": point["accuracy"], "balanced accuracy": point["balanced_accuracy"]}
            for cls, stats in point["per_class"].items():
                values[f"{cls} sensitivity"] = stats["sensitivity"]
                values[f"{cls} specificity"] = stats["specificity"]
            cells += [(table, family, attack, row, column, float(value), OURS, run, version) for column, value in values.items()]
    return pd.DataFrame(cells, columns=CELL_COLUMNS)


def layout(cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Table title -> wide table (rows and columns in the order the cells list them)."""
    tables = {}
    for title in dict.fromkeys(cells["table"]):
        part = cells[cells["table"] == title]
        wide = part.pivot(index="row", columns="column", values="value")
        tables[title] = wide.loc[list(dict.fromkeys(part["row"])), list(dict.fromkeys(part["column"]))]
    return tables


def to_markdown(tables: dict[str, pd.DataFrame], digits: int = 4) -> str:
    """GitHub-flavoured Markdown, one section per table ("" for an absent value)."""
    parts = []
    for title, table in tables.items():
        header = ["model", *map(str, table.columns)]
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row, values in table.iterrows():
            text = ["" if pd.isna(v) else f"{v:.{digits}f}" for v in values]
            lines.append("| " + " | ".join([str(row), *text]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
