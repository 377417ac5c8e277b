"""Seed 001's published numbers: like-for-like lookup only."""

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
