"""The report's figures (matplotlib ``Figure`` objects, no pyplot state; saved by the caller).

- :func:`robustness_curves`: accuracy and macro F1 against attack strength, every method overlaid
  (seed 001 Figs. 3, 6, 7);
- :func:`adversarial_examples`: clean beats with their attacked versions drawn over them, labels and
  strength in the titles (seed 001 Figs. 1, 4);
- :func:`training_curves`: loss and validation accuracy per epoch of one training run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .spec import FigureStyle
from .tables import grid_title, strength_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(style: FigureStyle, ncols: int = 1, nrows: int = 1, height_scale: float = 1.0) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure  # imported when drawing: matplotlib costs ~1 s at every kedro startup

    fig = Figure(figsize=(style.width, style.height * height_scale), dpi=style.dpi, layout="constrained")
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
    only (the zero padding around them is left out); None: the whole stored input, flattened."""
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
        axes[0].legend(fontsize=style.font_size * 0.8, loc="upper right")
    where = f", lead {lead[1]}" if lead is not None else ""
    fig.suptitle(f"{title}: {attack}, {strength_text}{where}", fontsize=style.font_size * 1.15)
    return fig


def training_curves(title: str, history: pd.DataFrame, style: FigureStyle) -> Figure:
    """Training loss and validation accuracy per epoch."""
    fig, (loss_ax, acc_ax) = _figure(style, ncols=2)
    epochs = history["epoch"]
    loss_ax.plot(epochs, history["train_loss"], marker="o", markersize=3, label="training loss")
    loss_ax.set_ylabel("training loss (objective)", fontsize=style.font_size)
    for column, label in (("val_balanced_accuracy", "validation, class-balanced"), ("val_accuracy", "validation"),
                          ("train_accuracy", "training")):
        if column in history:
            acc_ax.plot(epochs, history[column], marker="o", markersize=3, label=label)
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
