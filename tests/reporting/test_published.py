"""The seed papers' published numbers: read from the package's data files by one loader; seed 001's like-for-like
lookup only."""

import pytest

from ecg_pipeline.reporting.published import EPS_GRID, published_table


def test_like_for_like_tables_only():
    table = published_table("mitdb_cnn", "pgd_nsr", "accuracy")
    assert table.source == "seed 001 Table 4 C"
    assert table.rows["CE"][-1] == 43.57 and table.rows["0.3NSR"][-1] == 88.64  # seed 001's headline (Table 4 C)
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


def test_the_data_files_ship_with_the_package_and_load_as_printed():
    """The numbers live in ``reporting/published_data/*.yaml`` (package data in pyproject.toml), not in Python."""
    from importlib.resources import files

    from ecg_pipeline.reporting import published

    shipped = sorted(p.name for p in (files("ecg_pipeline.reporting") / "published_data").iterdir() if p.name.endswith(".yaml"))
    assert shipped == ["seed001.yaml", "seed002.yaml", "seed004.yaml"]
    assert published.load_published("seed001")["grids"]["mitdb"]["eps"] == list(published.EPS_GRID)
    # a few numbers, as printed in the papers
    assert published.published_table("mitdb_mlp", "sap", "f1").rows["0.4NSR"] == (
        90.16, 87.55, 85.95, 84.69, 81.57, 75.35, 64.28, 87.47)  # seed 001 Table 5 B
    cpsc = published.published_table("cpsc2018_masked_resnet", "white_noise_cpsc", "f1")
    assert cpsc.rows["CE"] == (79.56, 75.11, 69.33, 63.33, 56.67, 67.95) and cpsc.eps_max is None  # Table 6 F
    eps, fractions, source = published.published_curve("mitdb_cnn", "pgd_nsr", "accuracy", "0.3NSR")
    assert eps == list(published.EPS_GRID) and source == "seed 001 Table 4 C"
    assert fractions == pytest.approx([0.9333, 0.9058, 0.8875, 0.86, 0.7236, 0.3899, 0.2202], abs=1e-12)
    assert published.ATK_GAN_TABLE1["pgd"][published.ATK_GAN_PROPOSED][0] == 98.4  # seed 002 Table 1
    assert published.ATK_GAN_TABLE1["hopskipjump"][published.ATK_GAN_KACHUEE][0] == 68.6
    assert published.ATK_GAN_TABLE3["clean"] == (0.0129, 99.90, 99.86, 3.487e-5)  # seed 002 Table 3 (YAML 1.1 floats)
    assert len(published.ATK_GAN_TABLE1_COLUMNS) == 9 and published.ATK_GAN_TABLE3_COLUMNS[-1] == "nrmse"
    points = published.seed004_points("sap")
    assert [(p.ensemble, p.at_least, p.eps, p.value, p.qualifier) for p in points] == [
        ("cor", 1, 150.0, 0.217, "="), ("fdec", 1, 150.0, 0.772, "="), ("cor", 2, 10.0, 0.80, "~"),
        ("cor", 1, 10.0, 0.90, ">")]
    assert published.seed004_points("pgd") == []


def test_a_bad_data_file_is_refused_by_name(monkeypatch):
    from ecg_pipeline.errors import EcgDataError
    from ecg_pipeline.reporting import published

    with pytest.raises(EcgDataError, match=r"published numbers 'seed999': .*seed999.yaml is missing"):
        published.load_published("seed999")
    with pytest.raises(EcgDataError, match=r"Table 4 C, row CE: expected 8 values, got 7"):
        published._numbers([1.0] * 7, "seed 001 Table 4 C, row CE", 8)
