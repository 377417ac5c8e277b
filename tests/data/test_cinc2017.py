"""CinC 2017 reader and split, on the real training2017.zip."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

from ecg_pipeline.data.cinc2017 import read_cinc2017, split_cinc2017
from ecg_pipeline.errors import EcgDataError

FEW = ["A00001", "A00004", "A05736"]  # N, A, and the longest record (18,286 samples)


@pytest.fixture(scope="module")
def zip_path(shared_data):
    return shared_data / "cinc2017" / "training2017.zip"


@pytest.fixture(scope="module")
def full(zip_path):
    started = time.perf_counter()
    table = read_cinc2017(zip_path)
    return table, time.perf_counter() - started


def _extract(zip_path, dest, names, *, reference=True):
    with zipfile.ZipFile(zip_path) as z:
        for name in names:
            (dest / name).write_bytes(z.read(f"training2017/{name}"))
        if reference:
            (dest / "REFERENCE.csv").write_bytes(z.read("training2017/REFERENCE.csv"))


@pytest.mark.slow
def test_reads_all_records_from_zip_quickly(full):
    table, seconds = full
    assert len(table) == 8528
    assert table["record_id"].is_unique
    assert table["label"].value_counts().to_dict() == {"N": 5050, "O": 2456, "A": 738, "~": 284}
    assert (table["fs"] == 300.0).all()
    assert (table["units"] == "adu").all() and (table["lead"] == "ECG").all()
    seconds_long = table["n_samples"] / table["fs"]
    assert seconds_long.min() >= 9 and seconds_long.max() <= 61
    assert table["n_samples"].min() == 2714 and table["n_samples"].max() == 18286
    assert all(s.dtype == np.float32 and s.ndim == 1 for s in table["signal"])
    assert (table["signal"].map(len) == table["n_samples"]).all()
    assert seconds < 15, f"reading the zip took {seconds:.1f} s"


def test_raw_adc_values(full):
    table, _ = full
    first = table.set_index("record_id").loc["A00001", "signal"]
    # raw int16 ADC units, not mV: the first samples of A00001
    np.testing.assert_array_equal(first[:3], [-127, -162, -197])
    assert np.array_equal(first, np.round(first))


def test_split_is_stratified_and_seeded(full):
    table, _ = full
    parts = split_cinc2017(table, test_fraction=0.1, seed=0)
    train, test = parts["train"], parts["test"]
    assert (len(train), len(test)) == (7675, 853)
    assert set(train["record_id"]).isdisjoint(test["record_id"])
    assert set(train["record_id"]) | set(test["record_id"]) == set(table["record_id"])
    share = test["label"].value_counts() / table["label"].value_counts()
    assert share.between(0.09, 0.11).all()
    again = split_cinc2017(table, test_fraction=0.1, seed=0)["test"]
    assert again["record_id"].tolist() == test["record_id"].tolist()
    other = split_cinc2017(table, test_fraction=0.1, seed=1)["test"]
    assert other["record_id"].tolist() != test["record_id"].tolist()


def test_zip_and_extracted_folder_agree(zip_path, tmp_path):
    names = [f"{r}.{ext}" for r in FEW for ext in ("hea", "mat")]
    nested = tmp_path / "nested" / "training2017"
    flat = tmp_path / "flat"
    nested.mkdir(parents=True)
    flat.mkdir()
    _extract(zip_path, nested, names)
    _extract(zip_path, flat, names)

    from_zip = read_cinc2017(zip_path, records=FEW)
    for folder in (tmp_path / "nested", flat):
        from_dir = read_cinc2017(folder, records=FEW)
        assert from_dir["record_id"].tolist() == FEW
        assert from_dir.drop(columns="signal").equals(from_zip.drop(columns="signal"))
        for a, b in zip(from_zip["signal"], from_dir["signal"]):
            np.testing.assert_array_equal(a, b)
    assert from_zip["n_samples"].tolist() == [9000, 9000, 18286]


def test_max_records_and_parquet_round_trip(zip_path, tmp_path):
    table = read_cinc2017(zip_path, max_records=5)
    assert table["record_id"].tolist() == [f"A0000{i}" for i in range(1, 6)]
    table.to_parquet(tmp_path / "t.parquet")
    import pandas as pd

    back = pd.read_parquet(tmp_path / "t.parquet")
    for a, b in zip(table["signal"], back["signal"]):
        np.testing.assert_array_equal(a, b)


def test_unknown_label_in_reference(zip_path, tmp_path):
    _extract(zip_path, tmp_path, ["A00001.hea", "A00001.mat"], reference=False)
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\nA00002,X\n")
    with pytest.raises(EcgDataError, match=r"A00002.*'X'"):
        read_cinc2017(tmp_path)


def test_listed_record_without_mat(zip_path, tmp_path):
    _extract(zip_path, tmp_path, ["A00001.hea", "A00001.mat", "A00002.hea"], reference=False)
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\nA00002,N\n")
    with pytest.raises(EcgDataError, match=r"A00002.*A00002\.mat is missing"):
        read_cinc2017(tmp_path)


def test_wrong_sampling_rate_in_header(zip_path, tmp_path):
    _extract(zip_path, tmp_path, ["A00001.hea", "A00001.mat"], reference=False)
    header = tmp_path / "A00001.hea"
    header.write_text(header.read_text().replace(" 300 ", " 250 ", 1))
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\n")
    with pytest.raises(EcgDataError, match=r"A00001\.hea.*250 Hz, expected 300 Hz"):
        read_cinc2017(tmp_path)


def test_bad_arguments(zip_path, tmp_path):
    with pytest.raises(EcgDataError, match="A99999"):
        read_cinc2017(zip_path, records=["A00001", "A99999"])
    with pytest.raises(EcgDataError, match="max_records"):
        read_cinc2017(zip_path, max_records=0)
    with pytest.raises(EcgDataError, match="REFERENCE.csv"):
        read_cinc2017(tmp_path)
    with pytest.raises(EcgDataError, match="does not exist"):
        read_cinc2017(tmp_path / "nowhere.zip")
    table = read_cinc2017(zip_path, max_records=20)
    with pytest.raises(EcgDataError, match="test_fraction"):
        split_cinc2017(table, test_fraction=1.5)
