"""The report's figures (matplotlib ``Figure`` objects, no pyplot state; saved by the caller).

- :func:`robustness_curves`: accuracy and macro F1 against attack strength, every method overlaid
  (seed 001 Figs. 3, 6, 7);
- :func:`adversarial_examples`: clean beats with their attacked versions drawn over them, labels and
  strength in the titles (seed 001 Figs. 1, 4);
- :func:`training_curves`: loss and validation accuracy per epoch of one training run;
- the ensembles of seed 004 (Wiedeman & Wang): :func:`ensemble_agreement` (Figs. 3, 4: average member accuracy
  and P(at least k of M members correct) against eps, every ensemble overlaid, the paper's stated values in a panel
  of their own), :func:`ensemble_natural` (Fig. 5: the same metrics on clean samples), :func:`feature_r2_heatmaps`
  (Fig. 6: the members' pairwise feature R^2), and beyond the paper :func:`transfer_vs_adaptive` (the deployed
  ensemble's accuracy under the transferred attack and under attacks on the ensemble itself, on the same axes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .spec import FigureStyle
from .tables import grid_title, strength_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(style: FigureStyle, ncols: int = 1, nrows: int = 1, height_scale: float = 1.0,
            width_scale: float = 1.0) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure  # imported when drawing: matplotlib costs ~1 s at every kedro startup

    fig = Figure(figsize=(style.width * width_scale, style.height * height_scale), dpi=style.dpi, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.tick_params(labelsize=style.font_size * 0.9)
        ax.grid(True, alpha=0.3)
    return fig, axes


def robustness_curves(title: str, attack: str, curves: dict[str, dict], style: FigureStyle,
                      published: dict[str, dict[str, tuple]] | None = None) -> Figure:
    """Class-balanced accuracy and macro F1 vs strength; ``curves``: legend label -> metrics JSON.

    ``published``: legend label -> {"accuracy" | "f1": (eps values, values, source)}, seed 001's curve
    for that model, drawn dashed in the model's colour.
    """
    fig, (acc_ax, f1_ax) = _figure(style, ncols=2)
    grid_param = "eps"
    for label, metrics in curves.items():
        grid_param = metrics["grid_param"]
        x = [point[grid_param] for point in metrics["curve"]]
        line, = acc_ax.plot(x, [p["balanced_accuracy"] for p in metrics["curve"]], marker="o", label=label)
        f1_ax.plot(x, [p["macro_f1"] for p in metrics["curve"]], marker="o", label=label, color=line.get_color())
        for metric, ax in (("accuracy", acc_ax), ("f1", f1_ax)):
            if (published or {}).get(label, {}).get(metric):
                eps, values, source = published[label][metric]
                ax.plot(eps, values, linestyle="--", marker="x", color=line.get_color(), alpha=0.7,
                        label=f"{label.split(' (')[0]}: published ({source})")
    for ax, ylabel in ((acc_ax, "accuracy (class-balanced)"), (f1_ax, "macro F1")):
        ax.set_xlabel(grid_title(grid_param), fontsize=style.font_size)
        ax.set_ylabel(ylabel, fontsize=style.font_size)
        ax.set_ylim(-0.02, 1.02)
        if grid_param == "snr_db":
            ax.invert_xaxis()  # stronger noise (lower SNR) to the right, as a larger eps
        if published:
            ax.legend(fontsize=style.font_size * 0.75)
    if not published:
        acc_ax.legend(fontsize=style.font_size * 0.85, title="model", title_fontsize=style.font_size * 0.85)
    fig.suptitle(f"{title}: {attack}", fontsize=style.font_size * 1.15)
    return fig


def _worst_case_line(ax, combined: dict, label: str, **style) -> None:
    """The worst-case curve (class-balanced accuracy vs eps) with its bootstrap interval as a band."""
    eps = [p["eps"] for p in combined["curve"]]
    line, = ax.plot(eps, [p["balanced_accuracy"] for p in combined["curve"]], label=label, **style)
    intervals = (combined.get("intervals") or {}).get("curve")
    if intervals:
        ax.fill_between(eps, [i["low"] for i in intervals], [i["high"] for i in intervals], color=line.get_color(),
                        alpha=0.15, linewidth=0)


def model_attacks(title: str, combined: dict, attacks: dict[str, dict], style: FigureStyle) -> Figure:
    """One model: every eps attack's class-balanced accuracy (thin) and the per-beat worst case over them (thick
    black, its 95% interval shaded) on one axis. ``combined``: the model's worst case (reporting.worst_cases);
    ``attacks``: attack -> its metrics JSON; each legend entry says how many beats the attack scored."""
    fig, (ax,) = _figure(style, width_scale=0.6, height_scale=1.1)
    for attack, metrics in attacks.items():
        x = [p["eps"] for p in metrics["curve"]]
        ax.plot(x, [p["balanced_accuracy"] for p in metrics["curve"]], marker="o", markersize=3, linewidth=1.0,
                alpha=0.8, label=f"{attack} (n = {metrics.get('n', '?')})")
    _worst_case_line(ax, combined, f"worst case over all (n = {combined['n']}, 95% interval shaded)", color="black",
                     linewidth=2.6, marker="s", markersize=4)
    eps_max = combined.get("eps_max")
    if eps_max is not None:
        ax.axvline(eps_max, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(grid_title("eps"), fontsize=style.font_size)
    ax.set_ylabel("accuracy (class-balanced)", fontsize=style.font_size)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=style.font_size * 0.75, ncols=2 if len(attacks) > 6 else 1, loc="upper right")
    fig.suptitle(f"{title}:\nevery attack and the worst case", fontsize=style.font_size)
    return fig


LINESTYLES = ("-", "--", ":", "-.")


def architectures(title: str, models: dict[str, tuple[str, dict]], style: FigureStyle) -> Figure:
    """The worst case of every model of one data set on one axis: colour = training method (label), line style =
    architecture, so MLP and CNN of one method sit side by side. ``models``: legend label -> (architecture title,
    worst case)."""
    fig, (ax,) = _figure(style, width_scale=0.6, height_scale=1.1)
    colours: dict[str, str] = {}
    dashes: dict[str, str] = {}
    for label, (architecture, combined) in models.items():
        method = label.split(" (")[0]
        dash = dashes.setdefault(architecture, LINESTYLES[len(dashes) % len(LINESTYLES)])
        kwargs = {"color": colours[method]} if method in colours else {}
        _worst_case_line(ax, combined, f"{label}, {architecture}", linestyle=dash, marker="o", markersize=3,
                         linewidth=1.8, **kwargs)
        colours.setdefault(method, ax.get_lines()[-1].get_color())
    ax.set_xlabel(grid_title("eps"), fontsize=style.font_size)
    ax.set_ylabel("worst-case accuracy (class-balanced)", fontsize=style.font_size)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=style.font_size * 0.7, loc="upper right")
    fig.suptitle(f"{title}: worst case per model,\narchitectures compared (95% intervals shaded)",
                 fontsize=style.font_size)
    return fig


def padded_tail(beat: np.ndarray, minimum: int = 3) -> int | None:
    """Index where the zero padding at the end of a stored beat starts (None: no run of ``minimum`` zeros)."""
    nonzero = np.flatnonzero(np.asarray(beat) != 0)
    start = int(nonzero[-1]) + 1 if nonzero.size else 0
    return start if np.asarray(beat).size - start >= minimum else None


PADDING_NOTE = "zero padding (not ECG; the attack may still change it)"


def pick_beats(examples: dict[str, np.ndarray], grid_index: int, count: int) -> list[int]:
    """Indices of up to ``count`` kept beats to draw: first those the attack flipped from a correct clean
    prediction (one per true class before a second of any class), then the others in stored order."""
    y, clean, adv = examples["y"], examples["pred_clean"], examples[f"pred_adv_{grid_index}"]
    flipped = [i for i in range(len(y)) if clean[i] == y[i] and adv[i] != clean[i]]
    ordered = flipped + [i for i in range(len(y)) if i not in flipped]
    first_of_class = [i for i in ordered if y[i] not in {y[j] for j in ordered[: ordered.index(i)]}]
    return (first_of_class + [i for i in ordered if i not in first_of_class])[:count]


def grid_index(grid: np.ndarray, strength: float) -> int:
    """Index of ``strength`` in ``grid``, or of the nearest grid value when it is not there."""
    return int(np.argmin(np.abs(np.asarray(grid, dtype=float) - strength)))


def adversarial_examples(title: str, attack: str, examples: dict[str, np.ndarray], grid_param: str, strength: float,
                         *, beats: int, fs_hz: float, amplitude: str, style: FigureStyle,
                         lead: tuple[int, str] | list | None = None) -> Figure:
    """Clean (black) and attacked (red) beats; panel titles: true, clean-predicted and attacked-predicted class.

    ``lead``: (row, name) of a multi-lead record to draw (e.g. CPSC 2018's lead II), over its real samples
    only (the zero padding around them is left out); None: the whole stored input, flattened, its zero-padded
    tail shaded and named in the legend (:data:`PADDING_NOTE`)."""
    g = grid_index(examples["grid"], strength)
    value = float(examples["grid"][g])
    chosen = pick_beats(examples, g, beats)
    classes = [str(c) for c in examples["classes"]]
    ncols = min(3, max(1, len(chosen)))
    nrows = -(-len(chosen) // ncols) if chosen else 1
    fig, axes = _figure(style, ncols=ncols, nrows=nrows, height_scale=max(1.0, 0.85 * nrows))
    strength_text = f"SNR = {strength_label(grid_param, value)}" if grid_param == "snr_db" else f"eps = {value:g}"
    for ax, i in zip(axes, chosen):
        clean, attacked = np.asarray(examples["x_clean"][i]), np.asarray(examples[f"x_adv_{g}"][i])
        if lead is not None:
            real = np.flatnonzero(np.any(clean.reshape(clean.shape[0] if clean.ndim > 1 else 1, -1) != 0, axis=0))
            span = slice(int(real[0]), int(real[-1]) + 1) if real.size else slice(0, 0)
            clean, attacked = clean.reshape(-1, clean.shape[-1])[int(lead[0]), span], \
                attacked.reshape(-1, attacked.shape[-1])[int(lead[0]), span]
        clean, attacked = clean.reshape(-1), attacked.reshape(-1)
        t = np.arange(clean.size) / fs_hz
        pad = padded_tail(clean) if lead is None else None
        if pad is not None:  # the Kachuee beats are zero-padded to 187 samples: the tail is not signal
            ax.axvspan(pad / fs_hz, (clean.size - 1) / fs_hz, color="tab:blue", alpha=0.12, linewidth=0,
                       label=PADDING_NOTE)
        ax.plot(t, clean, color="black", linewidth=1.4, label="clean")
        ax.plot(t, attacked, color="tab:red", linewidth=1.0, alpha=0.85, label=f"attacked ({strength_text})")
        true, before, after = (classes[int(a[i])] for a in (examples["y"], examples["pred_clean"], examples[f"pred_adv_{g}"]))
        ax.set_title(f"true {true} | clean pred {before} | attacked pred {after}", fontsize=style.font_size * 0.9,
                     color="tab:red" if after != true else "black")
        ax.set_xlabel("time (s)", fontsize=style.font_size)
        ax.set_ylabel(amplitude, fontsize=style.font_size)
    for ax in axes[len(chosen):]:
        ax.set_axis_off()
    if chosen:
        handles = {h.get_label(): h for ax in axes[:len(chosen)] for h in ax.get_legend_handles_labels()[0]}
        axes[0].legend(list(handles.values()), list(handles), fontsize=style.font_size * 0.7, loc="upper right")
    where = f", lead {lead[1]}" if lead is not None else ""
    fig.suptitle(f"{title}: {attack}, {strength_text}{where}", fontsize=style.font_size * 1.15)
    return fig


def training_curves(title: str, history: pd.DataFrame, style: FigureStyle) -> Figure:
    """Training loss and validation accuracy per epoch; with a per-epoch validation worst case (``validation_attack``)
    its ACC_robust too, the curve of robust overfitting (Rice et al. 2020), and the epoch ``select_best`` kept."""
    fig, (loss_ax, acc_ax) = _figure(style, ncols=2)
    epochs = history["epoch"]
    loss_ax.plot(epochs, history["train_loss"], marker="o", markersize=3, label="training loss")
    loss_ax.set_ylabel("training loss (objective)", fontsize=style.font_size)
    for column, label in (("val_balanced_accuracy", "validation, class-balanced"), ("val_accuracy", "validation"),
                          ("train_accuracy", "training"),
                          ("val_acc_robust_balanced", "validation worst case, ACC_robust (eq. 8)")):
        if column in history:
            acc_ax.plot(epochs, history[column], marker="o", markersize=3, label=label)
    if "selected" in history and history["selected"].any():
        kept = int(history.loc[history["selected"].astype(bool), "epoch"].iloc[0])
        acc_ax.axvline(kept, color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {kept}")
    acc_ax.set_ylabel("accuracy", fontsize=style.font_size)
    acc_ax.legend(fontsize=style.font_size * 0.85)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch", fontsize=style.font_size)
    fig.suptitle(title, fontsize=style.font_size * 1.15)
    return fig


def placeholder(text: str, style: FigureStyle) -> Figure:
    """A figure that says why there is nothing to draw (a versioned figure folder cannot be empty)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(style.width, style.height / 2), dpi=style.dpi)
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=style.font_size * 1.1)
    return fig


def _agreement_metrics(rows: list[dict]) -> list[tuple[str, str]]:
    """(key, panel title) of a transfer study's rows: average member accuracy, then P(>= k) for every k."""
    ks = sorted(int(k) for k in rows[0]["p_at_least"])
    top = ks[-1] if ks else 0
    return [("mean_member_accuracy", "average member accuracy")] + [
        (str(k), f"P(all {k} members correct)" if k == top else f"P(at least {k} of {top} correct)") for k in ks]


def _agreement_value(row: dict, key: str) -> float:
    return float(row["mean_member_accuracy"] if key == "mean_member_accuracy" else row["p_at_least"][key])


def ensemble_agreement(title: str, attack: str, studies: dict[str, list[dict]], style: FigureStyle, *,
                       eps_label: str = "eps", published: list | None = None,
                       published_label: str = "") -> Figure:
    """Seed 004 Figs. 3-4: average member accuracy and ``P(at least k of M correct)`` against eps, one panel per
    metric, one line per ensemble. ``studies``: legend label -> the transfer study's rows of ``attack``
    (``{"eps", "mean_member_accuracy", "p_at_least": {"1": ..}}``). ``published``: the paper's stated values
    (:class:`~ecg_pipeline.reporting.published.PublishedPoint`), drawn in a panel of their own with their own eps
    axis (``published_label`` names their data and units)."""
    first = next(iter(studies.values()))
    panels = _agreement_metrics(first)
    ncols = -(-len(panels) // 2)
    fig, axes = _figure(style, ncols=ncols + (1 if published else 0), nrows=2, height_scale=1.6)
    grid = axes.reshape(2, -1)
    ours = [grid[i // ncols, i % ncols] for i in range(len(panels))]
    colours = {}
    for label, rows in studies.items():
        eps = [float(r["eps"]) for r in rows]
        for ax, (key, _) in zip(ours, panels):
            line, = ax.plot(eps, [_agreement_value(r, key) for r in rows], marker="o", label=label)
            colours[label.split(" (")[0]] = line.get_color()
    for ax, (_, panel_title) in zip(ours, panels):
        ax.set_title(panel_title, fontsize=style.font_size)
        ax.set_xlabel(eps_label, fontsize=style.font_size)
        ax.set_ylabel("fraction of counted samples", fontsize=style.font_size * 0.85)
        ax.set_ylim(-0.02, 1.02)
    ours[0].legend(fontsize=style.font_size * 0.8, title="ensemble", title_fontsize=style.font_size * 0.8)
    used = set(map(id, ours))
    extra = [ax for ax in axes if id(ax) not in used]
    if published:
        ax = extra.pop(0)
        markers = {1: "o", 2: "s", 3: "^"}
        for point in published:  # the ensemble's colour on the left, the marker says k
            ax.plot([point.eps], [point.value], linestyle="none", marker=markers.get(point.at_least, "D"),
                    color=colours.get(point.ensemble, "grey"), markersize=8,
                    label=f"{point.ensemble}: P(>={point.at_least}) {point.qualifier} {point.value:g}")
        ax.set_title("published (paper's text)", fontsize=style.font_size)
        ax.set_xlabel(published_label, fontsize=style.font_size * 0.8)
        ax.set_ylabel("P(at least k of 3 correct)", fontsize=style.font_size * 0.85)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=style.font_size * 0.65)
    for ax in extra:
        ax.set_axis_off()
    fig.suptitle(f"{title}: {attack} crafted on the base model, transferred to the members", fontsize=style.font_size * 1.15)
    return fig


def ensemble_natural(title: str, clean: dict[str, dict], style: FigureStyle) -> Figure:
    """Seed 004 Fig. 5: average member accuracy and ``P(at least k correct)`` on clean samples, grouped bars (one
    bar per ensemble). ``clean``: legend label -> the study's ``clean`` block (same keys as a row)."""
    fig, (ax,) = _figure(style)
    labels = list(clean)
    panels = _agreement_metrics(list(clean.values()))
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        x = np.arange(len(panels)) + (i - (len(labels) - 1) / 2) * width
        values = [_agreement_value(clean[label], key) for key, _ in panels]
        bars = ax.bar(x, values, width=width, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=style.font_size * 0.55, rotation=90, padding=2)
    ax.set_xticks(np.arange(len(panels)), [t for _, t in panels], fontsize=style.font_size * 0.85)
    ax.set_xlabel("seed 004's ensemble metric", fontsize=style.font_size)
    lowest = min(_agreement_value(c, key) for c in clean.values() for key, _ in panels)
    ax.set_ylim(max(0.0, lowest - 0.1), 1.15)
    ax.set_ylabel("fraction of counted samples", fontsize=style.font_size)
    ax.legend(fontsize=style.font_size * 0.8, loc="upper center", ncols=len(labels))
    fig.suptitle(f"{title}: clean test samples (counted: those the base model gets right)", fontsize=style.font_size * 1.15)
    return fig


def feature_r2_heatmaps(title: str, matrices: dict[str, tuple[list[str], np.ndarray]], style: FigureStyle) -> Figure:
    """Seed 004 Fig. 6: per ensemble, ``R2[i, j]`` (the share of member j's training-set feature variance linear
    in member i's features) as a heatmap with its values written in the cells. ``matrices``: panel title ->
    (member names, matrix)."""
    n = max(1, len(matrices))
    ncols = min(4, n)
    fig, axes = _figure(style, ncols=ncols, nrows=-(-n // ncols), height_scale=1.1 * -(-n // ncols))
    image = None
    for ax, (label, (members, matrix)) in zip(axes, matrices.items()):
        matrix = np.asarray(matrix, dtype=float)
        ax.grid(False)
        image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
        short = [f"m{i}" for i in range(len(members))]
        ax.set_xticks(range(len(members)), short, fontsize=style.font_size * 0.8)
        ax.set_yticks(range(len(members)), short, fontsize=style.font_size * 0.8)
        ax.set_xlabel("regressand j", fontsize=style.font_size * 0.8)
        ax.set_ylabel("regressor i", fontsize=style.font_size * 0.8)
        off = matrix[~np.eye(len(matrix), dtype=bool)]
        ax.set_title(f"{label}\nmean off-diagonal {off.mean():.3f}" if off.size else label, fontsize=style.font_size * 0.85)
        for i in range(len(matrix)):
            for j in range(len(matrix)):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=style.font_size * 0.75,
                        color="white" if matrix[i, j] < 0.6 else "black")
    for ax in axes[len(matrices):]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=list(axes[:len(matrices)]), shrink=0.8, label="R^2")
    fig.suptitle(f"{title}: members' feature R^2 on the training set (m0 = the base model)", fontsize=style.font_size * 1.15)
    return fig


def transfer_vs_adaptive(title: str, ensembles: dict[str, dict[str, dict[str, tuple]]], style: FigureStyle) -> Figure:
    """Beyond seed 004: per ensemble, the deployed ensemble's accuracy under attacks crafted on the base model and
    transferred (``"transfer"``: accuracy on the beats the base gets right clean) and under attacks on the deployed
    ensemble itself (``"adaptive"``: class-balanced accuracy on every beat), on the same axes so the gap shows.
    ``ensembles``: panel title -> {"transfer" | "adaptive": {legend label: (eps values, accuracies)}}."""
    n = max(1, len(ensembles))
    ncols = min(2, n)
    nrows = -(-n // ncols)
    fig, axes = _figure(style, ncols=ncols, nrows=nrows, height_scale=0.85 * nrows)
    for ax, (label, kinds) in zip(axes, ensembles.items()):
        for kind, line_style, marker in (("transfer", "-", "o"), ("adaptive", "--", "s")):
            for curve, (eps, values) in kinds.get(kind, {}).items():
                ax.plot(eps, values, linestyle=line_style, marker=marker, label=f"{kind}: {curve}")
        ax.set_title(label, fontsize=style.font_size)
        ax.set_xlabel("eps", fontsize=style.font_size * 0.9)
        ax.set_ylabel("deployed ensemble's accuracy", fontsize=style.font_size * 0.9)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=style.font_size * 0.6)
    for ax in axes[len(ensembles):]:
        ax.set_axis_off()
    fig.suptitle(f"{title}: transferred (solid; counted beats) vs attacked as deployed (dashed; class-balanced, "
                 "all beats)", fontsize=style.font_size * 1.0)
    return fig
