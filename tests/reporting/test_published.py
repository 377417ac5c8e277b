"""Seed 001's published numbers: like-for-like lookup only."""

import pytest

from ecg_pipeline.reporting.published import EPS_GRID, published_table


def test_like_for_like_tables_only():
    table = published_table("mitdb_cnn", "pgd_nsr", "accuracy")
    assert table.source == "seed 001 Table 4 C"
    assert table.rows["CE"][-1] == 43.57 and table.rows["0.3NSR"][-1] == 88.64  # reference-notes headline
    assert published_table("mitdb_mlp", "sap", "f1").source == "seed 001 Table 5 B"
    assert published_table("mitdb_cnn", "white_noise", "f1").source == "seed 001 Table 6 D"
    assert published_table("mitdb_mlp", "pgd", "accuracy") is None  # textbook PGD is not the paper's 100-PGD
    assert published_table("cinc2017_cnn", "pgd_nsr", "accuracy") is None
    assert "CE" not in published_table("mitdb_mlp", "pgd_nsr", "accuracy").rows  # garbled in the seed text


def test_every_row_has_the_grid_and_a_robust_score():
    for family in ("mitdb_mlp", "mitdb_cnn"):
        for attack in ("pgd_nsr", "sap", "white_noise"):
            for metric in ("accuracy", "f1"):
                for values in published_table(family, attack, metric).rows.values():
                    assert len(values) == len(EPS_GRID) + 1 and all(0 <= v <= 100 for v in values)


def test_the_cpsc_tables_and_their_robust_column_follow_eq_8():
    """Tables 4-6 E/F (CPSC 2018): their own grids; eq. (8) over [0, 0.01] reproduces Tables 4-5's robust column."""
    from ecg_pipeline.evaluation.metrics import robust_score
    from ecg_pipeline.reporting.published import CPSC_EPS_GRID, CPSC_NOISE_GRID

    table = published_table("cpsc2018_masked_resnet", "pgd_cpsc", "accuracy")
    assert table.source == "seed 001 Table 4 E" and table.grid == CPSC_EPS_GRID and table.eps_max == 0.01
    assert published_table("cpsc2018_masked_resnet", "sap_cpsc", "f1").source == "seed 001 Table 5 F"
    noise = published_table("cpsc2018_masked_resnet", "white_noise_cpsc", "accuracy")
    assert noise.grid == CPSC_NOISE_GRID and noise.eps_max is None  # its robust column is not eq. (8)
    assert published_table("cpsc2018_masked_resnet", "pgd_nsr", "accuracy") is None  # not run on CPSC
    for attack in ("pgd_cpsc", "sap_cpsc"):
        for metric in ("accuracy", "f1"):
            for label, values in published_table("cpsc2018_masked_resnet", attack, metric).rows.items():
                assert len(values) == len(CPSC_EPS_GRID) + 1
                robust = robust_score(list(CPSC_EPS_GRID), [v / 100 for v in values[:-1]], 0.01)["robust"]
                assert robust == pytest.approx(values[-1] / 100, abs=6e-4), (attack, metric, label)
