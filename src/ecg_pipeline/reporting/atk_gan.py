"""The ECG-ATK-GAN report (seed 002): Table 1 and Table 3 layouts with the published rows beside ours, the attack
head's detection, the detector-evasion attack, the adaptive worst case, and a figure of clean vs attacked vs
generated beats in the style of seed 002 Fig. 3. Kedro-free: tables in, tables and a figure out.

Our numbers come from ``evaluate_atk_gan`` (:mod:`ecg_pipeline.evaluation.atk_gan`) and, for the adaptive part,
from the attack template's stored ``<run>.<attack>`` evaluations; the published ones from
:mod:`ecg_pipeline.reporting.published` (seed 002 Tables 1 and 3). Percentages are shown as the paper prints
them (accuracy, sensitivity, specificity, SSIM and cross-correlation in %; MSE and NRMSE as fractions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ecg_pipeline.attacks.generation import ATK_GAN_ATTACKS, CLEAN  # noqa: E402
from ecg_pipeline.errors import EcgDataError  # noqa: E402
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case  # noqa: E402

from .published import (  # noqa: E402
    ATK_GAN_SOURCE_TABLE1,
    ATK_GAN_SOURCE_TABLE3,
    ATK_GAN_TABLE1,
    ATK_GAN_TABLE1_COLUMNS,
    ATK_GAN_TABLE3,
    ATK_GAN_TABLE3_COLUMNS,
)

SET_TITLES = {CLEAN: "No Attack", "fgsm": "FGSM", "bim": "BIM", "pgd": "PGD", "cw_linf": "CW (eps 0.1)",
              "boundary": "DBB", "hopskipjump": "HSJ"}
SET_ORDER = (CLEAN, *ATK_GAN_ATTACKS)


def _order(sets) -> list[str]:
    present = set(sets)
    return [s for s in SET_ORDER if s in present]


def table1(protocol: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Seed 002 Table 1's layout: per test set, the published rows then ours (``protocol``: the rows of
    :func:`ecg_pipeline.evaluation.atk_gan.protocol_rows` of every run; ``labels``: run -> row label), in %."""
    missing = [c for c in ("run", "set", "beats", *ATK_GAN_TABLE1_COLUMNS) if c not in protocol]
    if missing:
        raise EcgDataError(f"Table 1: the protocol rows lack {missing} (4-class N/S/V/F beats expected)")
    rows = []
    for name in _order(protocol["set"]):
        for model, values in ATK_GAN_TABLE1[name].items():
            rows.append({"test set": SET_TITLES[name], "model": model, "source": ATK_GAN_SOURCE_TABLE1, "beats": 19327,
                         **dict(zip(ATK_GAN_TABLE1_COLUMNS, values))})
        for _, r in protocol[protocol["set"] == name].iterrows():
            rows.append({"test set": SET_TITLES[name], "model": labels.get(r["run"], r["run"]), "source": "ours",
                         "beats": int(r["beats"]), **{c: 100 * float(r[c]) for c in ATK_GAN_TABLE1_COLUMNS}})
    return pd.DataFrame(rows)


def table3(fidelity: pd.DataFrame) -> pd.DataFrame:
    """Seed 002 Table 3's layout (MIT-BIH columns): per test set the published row, then ours against the clean
    beat E_x and against G's input E'_x; SSIM and cross-correlation in %."""
    rows = []
    for name in _order(fidelity["set"]):
        mse, ssim, cc, nrmse = ATK_GAN_TABLE3[name]
        rows.append({"test set": SET_TITLES[name], "source": ATK_GAN_SOURCE_TABLE3, "reference": "(not stated)",
                     "beats": 19327, "mse": mse, "ssim": ssim, "cross_correlation": cc, "nrmse": nrmse})
        for _, r in fidelity[fidelity["set"] == name].iterrows():
            rows.append({"test set": SET_TITLES[name], "source": "ours", "reference": r["reference"],
                         "beats": int(r["beats"]), "mse": float(r["mse"]), "ssim": 100 * float(r["ssim"]),
                         "cross_correlation": 100 * float(r["cross_correlation"]), "nrmse": float(r["nrmse"])})
    return pd.DataFrame(rows, columns=["test set", "source", "reference", "beats", *ATK_GAN_TABLE3_COLUMNS])


def adaptive_rows(evaluations: Mapping[str, Mapping[str, tuple[dict, dict]]], labels: Mapping[str, str],
                  protocol: pd.DataFrame, eps: float = 0.01) -> pd.DataFrame:
    """The adaptive evaluation beside the paper's protocol, one row per run: ``evaluations`` is run -> attack ->
    (stored metrics, stored examples) of the attack template. Per run: the paper-protocol accuracy on the
    (transferred) PGD test set, the clean and per-attack balanced accuracy at ``eps`` on the clean test subset,
    and the per-beat worst case over those attacks at ``eps`` and its ACC_robust over the grid (seed 001 eq. 8)."""
    rows = []
    for run, attacks in evaluations.items():
        row = {"model": labels.get(run, run), "run": run}
        paper = protocol[(protocol["run"] == run) & (protocol["set"] == "pgd")]
        row["paper protocol PGD accuracy"] = float(paper["accuracy"].iloc[0]) if len(paper) else float("nan")
        outcomes, grid, classes, eps_max = {}, None, None, None
        for attack, (metrics, examples) in attacks.items():
            at = [r for r in metrics["curve"] if abs(r["eps"] - eps) < 1e-12]
            clean = [r for r in metrics["curve"] if r["eps"] == 0.0]
            if clean:
                row.setdefault("clean balanced accuracy", clean[0]["balanced_accuracy"])
            row[f"{attack} @ {eps:g}"] = at[0]["balanced_accuracy"] if at else float("nan")
            outcomes[attack] = Outcomes.from_examples(examples, f"{run}.{attack}")
            if grid is None or len(metrics["grid"]) > len(grid):
                grid, classes, eps_max = metrics["grid"], metrics["classes"], metrics.get("eps_max")
        if outcomes:
            combined = worst_case(outcomes, grid, classes, eps_max=eps_max)
            at = [r for r in combined["curve"] if abs(r["eps"] - eps) < 1e-12]
            row["beats"] = combined["n"]
            row[f"worst case @ {eps:g}"] = at[0]["balanced_accuracy"] if at else float("nan")
            row["worst-case ACC_robust"] = combined.get("acc_robust_balanced", float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(sections: Sequence[tuple], digits: int = 4) -> str:
    """The report as markdown: each section a title, a table, a note and optionally its own number of decimals
    (Table 1's percentages are printed to one, as the paper prints them)."""
    out = ["# ECG-ATK-GAN (seed 002): paper protocol and adaptive evaluation", ""]
    for title, table, note, *own in sections:
        places = own[0] if own else digits
        out += [f"## {title}", "", note, ""] if note else [f"## {title}", ""]
        if table.empty:
            out += ["(nothing stored)", ""]
            continue
        header = list(table.columns)
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        for _, r in table.iterrows():
            out.append("| " + " | ".join(_cell(r[c], places) for c in header) + " |")
        out.append("")
    return "\n".join(out)


def _cell(value, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "-"
        return f"{value:.{digits}g}" if abs(value) < 1e-2 and value != 0 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def beats_figure(examples: Mapping[str, np.ndarray], classes: Sequence[str]) -> Figure:
    """Seed 002 Fig. 3's style: one panel per test set, the clean beat, the attacked beat and G's beat overlaid
    (``examples``: arrays ``set``, ``x_clean``, ``x``, ``generated``, ``y``, one row per beat shown)."""
    sets = [str(s) for s in np.asarray(examples["set"])]
    order = _order(sets)
    if not order:
        raise EcgDataError("ECG-ATK-GAN figure: no example beats stored (evaluate_atk_gan's examples are empty)")
    fig, axes = plt.subplots(len(order), 1, figsize=(7, 1.8 * len(order)), squeeze=False, sharex=True)
    for ax, name in zip(axes[:, 0], order):
        i = sets.index(name)
        t = np.arange(np.shape(examples["x"])[1])
        ax.plot(t, examples["x_clean"][i], color="tab:red", lw=1.2, label="clean E_x")
        if name != CLEAN:
            ax.plot(t, examples["x"][i], color="tab:blue", lw=0.9, label="attacked E'_x")
        ax.plot(t, examples["generated"][i], color="black", lw=0.9, ls="--", label="generated G(E'_x, E_y, z)")
        delta = float(np.abs(examples["x"][i] - examples["x_clean"][i]).max())
        ax.set_title(f"{SET_TITLES[name]}: class {classes[int(examples['y'][i])]}, L-inf {delta:.3f}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[min(1, len(order) - 1), 0].legend(fontsize=7, loc="upper right")   # the first panel with an attacked beat
    axes[-1, 0].set_xlabel("sample (360 Hz)", fontsize=8)
    fig.tight_layout()
    return fig
