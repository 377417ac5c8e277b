"""The figures are legible: titles, axis labels with units, legends, readable font sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.reporting import figures
from ecg_pipeline.reporting.spec import FigureStyle

STYLE = FigureStyle(dpi=50, width=8, height=4, font_size=11)


def _check_legible(fig, min_font=8.0):
    assert fig.get_suptitle()
    for ax in fig.axes:
        if not ax.axison:
            continue
        assert ax.get_xlabel() and ax.get_ylabel()
        assert ax.xaxis.label.get_fontsize() >= min_font and ax.yaxis.label.get_fontsize() >= min_font
        assert all(t.get_fontsize() >= min_font for t in ax.get_xticklabels())


def test_robustness_curves_overlay_every_model(paper_grid_metrics, make_metrics):
    other = make_metrics(paper_grid_metrics["grid"], [0.9, 0.85, 0.8, 0.7, 0.5, 0.3, 0.2], eps_max=0.1, robust=0.8)
    fig = figures.robustness_curves("MIT-BIH, MLP", "pgd_nsr", {"CE (ce_mlp)": paper_grid_metrics,
                                                                  "0.4NSR (nsr_mlp)": other}, STYLE)
    _check_legible(fig)
    accuracy, f1 = fig.axes
    assert accuracy.get_xlabel() == "eps (L-inf bound, normalised amplitude)"
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == ["CE (ce_mlp)", "0.4NSR (nsr_mlp)"]
    assert len(accuracy.lines) == len(f1.lines) == 2
    assert list(accuracy.lines[1].get_ydata()) == [p["balanced_accuracy"] for p in other["curve"]]


def test_snr_axis_runs_from_weak_to_strong_noise(make_metrics):
    fig = figures.robustness_curves("MLP", "real_noise_em", {"CE": make_metrics([24, 0], [0.9, 0.4], grid_param="snr_db")}, STYLE)
    assert fig.axes[0].get_xlabel() == "SNR (dB)" and fig.axes[0].xaxis_inverted()


def test_adversarial_examples_titles_and_units(examples):
    assert figures.pick_beats(examples, 1, 2) == [2, 0]  # the flipped V beat first, then another class
    fig = figures.adversarial_examples("CE (ce_mlp)", "pgd", examples, "eps", 0.05, beats=3, fs_hz=125.0,
                                       amplitude="normalised amplitude (0-1)", style=STYLE)
    _check_legible(fig)
    assert fig.get_suptitle() == "CE (ce_mlp): pgd, eps = 0.05"
    first = fig.axes[0]
    assert first.get_title() == "true V | clean pred V | attacked pred N"
    assert first.get_xlabel() == "time (s)" and first.get_ylabel() == "normalised amplitude (0-1)"
    assert first.lines[0].get_xdata()[-1] == 186 / 125.0  # 187 samples at 125 Hz
    assert [t.get_text() for t in first.get_legend().get_texts()] == ["clean", "attacked (eps = 0.05)"]


def test_training_curves():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.9, 0.5, 0.3], "train_accuracy": [0.6, 0.8, 0.9],
                            "val_accuracy": [0.5, 0.7, 0.8], "val_balanced_accuracy": [0.4, 0.6, 0.7]})
    fig = figures.training_curves("CE (ce_mlp)", history, STYLE)
    _check_legible(fig)
    loss, accuracy = fig.axes
    assert loss.get_xlabel() == accuracy.get_xlabel() == "epoch"
    assert list(loss.lines[0].get_ydata()) == [0.9, 0.5, 0.3]
    assert len(accuracy.get_legend().get_texts()) == 3


def test_published_curve_drawn_dashed_in_the_model_colour(paper_grid_metrics):
    from ecg_pipeline.reporting.published import published_curve

    published = {"CE (ce_mlp)": {"accuracy": None, "f1": published_curve("mitdb_mlp", "pgd_nsr", "f1", "CE")}}
    fig = figures.robustness_curves("MIT-BIH, MLP", "pgd_nsr", {"CE (ce_mlp)": paper_grid_metrics}, STYLE,
                                    published=published)
    accuracy, f1 = fig.axes
    assert len(accuracy.lines) == 1  # Table 4 A has no legible CE row
    ours, paper = f1.lines
    assert paper.get_linestyle() == "--" and paper.get_color() == ours.get_color()
    assert list(paper.get_ydata()) == pytest.approx([0.9219, 0.7014, 0.1958, 0.0263, 0.0001, 0.0, 0.0])
    assert [t.get_text() for t in f1.get_legend().get_texts()] == ["CE (ce_mlp)", "CE: published (seed 001 Table 4 B)"]


def test_a_multi_lead_example_draws_one_lead_over_its_real_samples(examples):
    """CPSC records: lead II (row 1) at 500 Hz, the zero padding before the right-aligned record left out."""
    x = np.zeros((4, 8, 1000), dtype=np.float32)
    x[:, :, 600:] = np.linspace(-1, 1, 400, dtype=np.float32)
    x[:, 1, 600:] *= 0.5
    records = {**examples, "x_clean": x, "x_adv_0": x, "x_adv_1": x + 0.01}
    fig = figures.adversarial_examples("1.0NSR (nsr_cpsc)", "pgd_cpsc", records, "eps", 0.05, beats=1, fs_hz=500.0,
                                       amplitude="lead amplitude", style=STYLE, lead=(1, "II"))
    line = fig.axes[0].lines[0]
    assert len(line.get_xdata()) == 400 and line.get_xdata()[-1] == 399 / 500.0
    assert np.allclose(line.get_ydata(), x[0, 1, 600:])
    assert fig.get_suptitle().endswith("eps = 0.05, lead II")
