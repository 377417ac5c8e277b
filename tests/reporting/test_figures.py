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
    legend = [t.get_text() for t in first.get_legend().get_texts()]
    assert legend[:2] == ["clean", "attacked (eps = 0.05)"] and set(legend[2:]) <= {figures.PADDING_NOTE}


def test_example_beats_shade_and_name_their_zero_padded_tail(examples):
    """A Kachuee beat is zero-padded to 187 samples: the figure shades that tail and says it is not ECG."""
    x = examples["x_clean"].copy()
    x[:, :, :120] = np.clip(x[:, :, :120], 0.05, 1.0)   # signal up to sample 120, exact zeros after it
    x[:, :, 120:] = 0.0
    shown = {**examples, "x_clean": x, "x_adv_1": np.clip(x + 0.05, 0, 1)}
    fig = figures.adversarial_examples("CE (ce_mlp)", "pgd", shown, "eps", 0.05, beats=3, fs_hz=125.0,
                                       amplitude="normalised amplitude (0-1)", style=STYLE)
    first = fig.axes[0]
    spans = [p for p in first.patches if p.get_label() == figures.PADDING_NOTE]
    assert len(spans) == 1
    left, right = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert (left, right) == pytest.approx((120 / 125.0, 186 / 125.0))
    assert figures.PADDING_NOTE in [t.get_text() for t in first.get_legend().get_texts()]
    assert "not ECG" in figures.PADDING_NOTE

    unpadded = {**examples, "x_clean": np.full_like(x, 0.5), "x_adv_1": np.full_like(x, 0.55)}
    fig = figures.adversarial_examples("CE (ce_mlp)", "pgd", unpadded, "eps", 0.05, beats=3, fs_hz=125.0,
                                       amplitude="normalised amplitude (0-1)", style=STYLE)
    assert not [p for p in fig.axes[0].patches if p.get_label() == figures.PADDING_NOTE]


def test_training_curves():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.9, 0.5, 0.3], "train_accuracy": [0.6, 0.8, 0.9],
                            "val_accuracy": [0.5, 0.7, 0.8], "val_balanced_accuracy": [0.4, 0.6, 0.7]})
    fig = figures.training_curves("CE (ce_mlp)", history, STYLE)
    _check_legible(fig)
    loss, accuracy = fig.axes
    assert loss.get_xlabel() == accuracy.get_xlabel() == "epoch"
    assert list(loss.lines[0].get_ydata()) == [0.9, 0.5, 0.3]
    assert len(accuracy.get_legend().get_texts()) == 3


def test_training_curves_show_the_validation_worst_case_and_the_epoch_kept():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.9, 0.5, 0.3], "train_accuracy": [0.6, 0.8, 0.9],
                            "val_balanced_accuracy": [0.4, 0.6, 0.7], "val_acc_robust_balanced": [0.3, 0.5, 0.4],
                            "selected": [False, True, False]})
    _, accuracy = figures.training_curves("adv (adv_mlp_es)", history, STYLE).axes
    lines = {line.get_label(): line for line in accuracy.lines}
    assert list(lines["validation worst case, ACC_robust (eq. 8)"].get_ydata()) == [0.3, 0.5, 0.4]
    assert list(lines["kept: epoch 2"].get_xdata()) == [2, 2]


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


def _study_rows(grid, mean, p1, p2, p3, deployed):
    return [{"eps": e, "mean_member_accuracy": m, "p_at_least": {"1": a, "2": b, "3": c}, "ensemble_accuracy": d}
            for e, m, a, b, c, d in zip(grid, mean, p1, p2, p3, deployed)]


COR = _study_rows([0.0, 0.05, 0.1], [0.98, 0.6, 0.48], [1.0, 0.9, 0.83], [0.98, 0.7, 0.59], [0.95, 0.08, 0.005],
                  [0.99, 0.76, 0.61])
DEC = _study_rows([0.0, 0.05, 0.1], [0.97, 0.58, 0.5], [1.0, 0.94, 0.9], [0.98, 0.73, 0.59], [0.94, 0.08, 0.004],
                  [0.99, 0.83, 0.65])


def test_ensemble_agreement_has_seed_004s_four_panels_and_the_published_values_apart():
    from ecg_pipeline.reporting.published import SEED004_DATA, seed004_points

    fig = figures.ensemble_agreement("MIT-BIH, MLP", "sap", {"cor (cor_mlp)": COR, "dec (dec_mlp)": DEC}, STYLE,
                                     eps_label="eps (MIT-BIH input units)", published=seed004_points("sap"),
                                     published_label=SEED004_DATA)
    _check_legible(fig)
    shown = [ax for ax in fig.axes if ax.axison]
    titles = [ax.get_title() for ax in shown]
    assert titles == ["average member accuracy", "P(at least 1 of 3 correct)", "published (paper's text)",
                      "P(at least 2 of 3 correct)", "P(all 3 members correct)"]
    by_title = dict(zip(titles, shown))
    for title, key in (("average member accuracy", "mean_member_accuracy"), ("P(at least 1 of 3 correct)", "1"),
                       ("P(at least 2 of 3 correct)", "2"), ("P(all 3 members correct)", "3")):
        ax = by_title[title]
        assert ax.get_xlabel() == "eps (MIT-BIH input units)" and len(ax.lines) == 2
        expected = [r["mean_member_accuracy"] if key == "mean_member_accuracy" else r["p_at_least"][key] for r in DEC]
        assert list(ax.lines[1].get_ydata()) == expected and list(ax.lines[1].get_xdata()) == [0.0, 0.05, 0.1]
    published = by_title["published (paper's text)"]
    assert published.get_xlabel() == SEED004_DATA  # its own axis: CinC 2017 raw-amplitude eps, never ours
    points = {(float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in published.lines}
    assert {(150.0, 0.217), (150.0, 0.772)} <= points
    # the published cor points take cor's colour on the left
    cor_colour = by_title["average member accuracy"].lines[0].get_color()
    assert all(line.get_color() == cor_colour for line in published.lines if "cor" in line.get_label())
    without = figures.ensemble_agreement("MIT-BIH, MLP", "pgd", {"cor": COR}, STYLE)
    assert len([ax for ax in without.axes if ax.axison]) == 4


def test_ensemble_natural_bars_hold_the_clean_numbers():
    clean = {"cor": COR[0], "dec": DEC[0]}
    fig = figures.ensemble_natural("MIT-BIH, MLP", clean, STYLE)
    _check_legible(fig)
    ax = fig.axes[0]
    heights = [bar.get_height() for container in ax.containers for bar in container]
    assert heights == [0.98, 1.0, 0.98, 0.95, 0.97, 1.0, 0.98, 0.94]
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "average member accuracy"


def test_feature_r2_heatmaps_write_every_cell():
    r2 = np.array([[1.0, 0.93, 0.92], [0.93, 1.0, 0.94], [0.92, 0.93, 1.0]])
    fig = figures.feature_r2_heatmaps("MIT-BIH, MLP", {"cor": (["ce_mlp", "m1", "m2"], r2),
                                                      "dec": (["ce_mlp", "d1", "d2"], np.eye(3) * 0.9 + 0.1)}, STYLE)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 2
    np.testing.assert_array_equal(panels[0].get_images()[0].get_array(), r2)
    assert [t.get_text() for t in panels[0].texts][:3] == ["1.00", "0.93", "0.92"]
    assert panels[0].get_title() == f"cor\nmean off-diagonal {r2[~np.eye(3, dtype=bool)].mean():.3f}"


def test_transfer_and_adaptive_share_the_axes():
    panels = {"cor": {"transfer": {"pgd on base, mean_logits": ([0.0, 0.05, 0.1], [0.99, 0.76, 0.61])},
                      "adaptive": {"autoattack on mean_logits": ([0.0, 0.05, 0.1, 0.3], [0.9, 0.01, 0.0, 0.0]),
                                   "autoattack_vote on vote": ([0.0, 0.05, 0.1, 0.3], [0.9, 0.02, 0.0, 0.0])}}}
    fig = figures.transfer_vs_adaptive("MIT-BIH, MLP", panels, STYLE)
    _check_legible(fig)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["transfer: pgd on base, mean_logits",
                                                       "adaptive: autoattack on mean_logits",
                                                       "adaptive: autoattack_vote on vote"]
    assert list(ax.lines[0].get_ydata()) == [0.99, 0.76, 0.61] and ax.lines[1].get_linestyle() == "--"
    assert list(ax.lines[2].get_xdata()) == [0.0, 0.05, 0.1, 0.3]


def _combined(balanced, n=50):
    grid = [0.0, 0.05, 0.1]
    return {"n": n, "eps_max": 0.1, "curve": [{"eps": e, "balanced_accuracy": b} for e, b in zip(grid, balanced)],
            "intervals": {"curve": [{"low": b - 0.05, "high": b + 0.05} for b in balanced]}}


def test_one_figure_per_model_has_every_attack_and_the_worst_case_on_one_axis(make_metrics):
    attacks = {"pgd": make_metrics([0.0, 0.05, 0.1], [0.9, 0.5, 0.3]) | {"n": 50},
               "spsa": make_metrics([0.0, 0.05, 0.1], [0.9, 0.6, 0.4]) | {"n": 20}}
    fig = figures.model_attacks("MIT-BIH, MLP: CE (ce_mlp)", _combined([0.9, 0.4, 0.2]), attacks, STYLE)
    _check_legible(fig)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["pgd (n = 50)", "spsa (n = 20)", "worst case over all (n = 50, 95% interval shaded)"]
    assert list(ax.lines[2].get_ydata()) == [0.9, 0.4, 0.2] and ax.collections  # the interval band


def test_the_cross_architecture_figure_draws_mlp_and_cnn_of_one_method_in_one_colour():
    fig = figures.architectures("MIT-BIH", {"CE (ce_mlp)": ("MLP", _combined([0.9, 0.4, 0.2])),
                                            "CE (ce_cnn)": ("Kachuee CNN", _combined([0.95, 0.5, 0.3]))}, STYLE)
    _check_legible(fig)
    (ax,) = fig.axes
    mlp, cnn = ax.lines
    assert mlp.get_color() == cnn.get_color() and mlp.get_linestyle() != cnn.get_linestyle()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CE (ce_mlp), MLP", "CE (ce_cnn), Kachuee CNN"]
