"""Paper-style tables: cells -> wide layout -> Markdown; published rows only where like-for-like."""

from __future__ import annotations

import pytest

from ecg_pipeline.reporting import tables


def test_robustness_table_rows_models_columns_eps_then_robust(paper_grid_metrics):
    cells = tables.robustness_cells("mitdb_mlp", "MIT-BIH, MLP", "pgd_nsr",
                                    {"ce_mlp": ("CE", paper_grid_metrics, "v1")})
    layout = tables.layout(cells)
    accuracy = layout["MIT-BIH, MLP · pgd_nsr · Accuracy (class-balanced)"]
    assert list(accuracy.columns) == ["0", "0.01", "0.03", "0.05", "0.1", "0.2", "0.3", "ACC_robust"]
    assert accuracy.loc["CE (ce_mlp)", "0.01"] == 0.6 and accuracy.loc["CE (ce_mlp)", "ACC_robust"] == 0.41
    f1 = layout["MIT-BIH, MLP · pgd_nsr · Macro F1"]
    # Table 4 B, row CE: every eps and F1_robust (same grid, same eps_max 0.1).
    assert f1.loc["CE: published (seed 001 Table 4 B)"].tolist() == pytest.approx(
        [0.9219, 0.7014, 0.1958, 0.0263, 0.0001, 0.0, 0.0, 0.4291])
    assert set(cells.loc[cells["source"] == "this project", "version"]) == {"v1"}


def test_published_rows_only_at_shared_eps_and_matching_eps_max(make_metrics):
    metrics = make_metrics([0.0, 0.05], [0.8, 0.3], eps_max=0.05, robust=0.6)
    f1 = tables.layout(tables.robustness_cells("mitdb_mlp", "MLP", "pgd_nsr", {"ce_mlp": ("CE", metrics, "v")}))["MLP · pgd_nsr · Macro F1"]
    published = f1.loc["CE: published (seed 001 Table 4 B)"]
    assert published["0"] == pytest.approx(0.9219) and published["0.05"] == pytest.approx(0.0263)
    assert published.isna()["F1_robust"]  # ACC_robust up to 0.05 is not the paper's (0.1)
    no_label = tables.robustness_cells("mitdb_mlp", "MLP", "pgd_nsr", {"ce_mlp": ("my CE", metrics, "v")})
    assert not no_label["row"].str.contains("published").any()
    textbook = tables.robustness_cells("mitdb_mlp", "MLP", "pgd", {"ce_mlp": ("CE", metrics, "v")})
    assert not textbook["row"].str.contains("published").any()


def test_snr_grid_columns_and_no_robust_score(make_metrics):
    metrics = make_metrics([24, 0], [0.85, 0.4], grid_param="snr_db")
    accuracy = tables.layout(tables.robustness_cells("mitdb_mlp", "MLP", "real_noise_em",
                                                     {"ce_mlp": ("CE", metrics, "v")}))["MLP · real_noise_em · Accuracy (class-balanced)"]
    assert list(accuracy.columns) == ["24 dB", "0 dB"]


def test_per_class_table_seed002_layout(paper_grid_metrics):
    cells = tables.per_class_cells("mitdb_mlp", "MLP", "pgd_nsr", {"ce_mlp": ("CE", paper_grid_metrics, "v")},
                                   [0.0, 0.05, 0.07])
    table = tables.layout(cells)["MLP · pgd_nsr · per-class sensitivity / specificity"]
    assert list(table.index) == ["eps 0 · CE (ce_mlp)", "eps 0.05 · CE (ce_mlp)"]  # 0.07 is not on the grid
    assert list(table.columns[:4]) == ["accuracy", "balanced accuracy", "N sensitivity", "N specificity"]
    assert table.loc["eps 0.05 · CE (ce_mlp)", "V sensitivity"] == pytest.approx(0.05 - 0.02)


def test_markdown(paper_grid_metrics):
    cells = tables.robustness_cells("mitdb_cnn", "CNN", "fgsm", {"ce_cnn": ("CE", paper_grid_metrics, "v")})
    text = tables.to_markdown(tables.layout(cells))
    assert "### CNN · fgsm · Accuracy (class-balanced)" in text
    assert "| CE (ce_cnn) | 0.9000 | 0.6000 | 0.2000 | 0.0500 | 0.0000 | 0.0000 | 0.0000 | 0.4100 |" in text


def test_cpsc_published_rows_on_the_cpsc_grid(make_metrics):
    """The CPSC group's table shows Table 4 E's row at the eps it shares, with ACC_robust when eps_max is 0.01."""
    metrics = make_metrics([0.0, 0.001, 0.01], [0.8, 0.6, 0.2], eps_max=0.01, robust=0.5)
    accuracy = tables.layout(tables.robustness_cells("cpsc2018_masked_resnet", "CPSC", "pgd_cpsc",
                                                     {"nsr_cpsc": ("1.0NSR", metrics, "v")}))["CPSC · pgd_cpsc · Accuracy (class-balanced)"]
    published = accuracy.loc["1.0NSR: published (seed 001 Table 4 E)"]
    assert published["0.001"] == pytest.approx(0.82) and published["0.01"] == pytest.approx(0.6733)
    assert published["ACC_robust"] == pytest.approx(0.7967)
