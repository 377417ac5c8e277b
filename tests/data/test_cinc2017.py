"""CinC 2017 reader and split, on the real training2017.zip."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

from ecg_pipeline.data.cinc2017 import pad_cinc2017, read_cinc2017, split_cinc2017
from ecg_pipeline.data.padding import PADDED_SET_KEYS, materialize
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
def test_reads_all_records_from_zip(full):
    table, _ = full
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


# --- padding recipe (Han et al. 2020) ------------------------------------------------------

# short (A00001: 9,000 samples), odd-length (A00105: 18,170) and the longest (A05736: 18,286)
CINC_IDS = ["A00001", "A00004", "A00022", "A00105", "A05736"]
# a larger real sample for the dense comparison and the size ratio: the first 400 plus the longest
CINC_MANY = [f"A{i:05d}" for i in range(1, 401)] + ["A05736"]


@pytest.fixture(scope="module")
def cinc(zip_path):
    return read_cinc2017(zip_path, records=CINC_IDS)


@pytest.fixture(scope="module")
def cinc_many(zip_path):
    return read_cinc2017(zip_path, records=CINC_MANY)


def _dense_cinc(dense, table, length=18000, truncate="center"):
    signals, starts = [], []
    for sig in table["signal"]:
        sig = np.asarray(sig, dtype=np.float32)
        if len(sig) > length:
            cut = (len(sig) - length) // 2 if truncate == "center" else 0
            sig = sig[cut : cut + length]
        signals.append(sig[None, :])
        starts.append((length - len(sig)) // 2)
    return dense(signals, length, starts)


def test_pad_cinc2017_real_records(cinc):
    out = pad_cinc2017(cinc)
    assert set(out) == set(PADDED_SET_KEYS)
    x, mask = materialize(out)
    assert x.shape == (5, 1, 18000) and mask.shape == (5, 1, 18000)
    assert out["record_id"].tolist() == CINC_IDS
    np.testing.assert_array_equal(out["y"], [0, 1, 3, 0, 0])  # N A ~ N N in (N, A, O, ~)
    assert out["y"].dtype == np.int64
    assert out["classes"].tolist() == ["N", "A", "O", "~"] and out["leads"].tolist() == ["ECG"]
    np.testing.assert_array_equal(mask.sum(axis=(1, 2)), np.minimum(cinc["n_samples"], 18000))
    np.testing.assert_array_equal(np.diff(out["offsets"]), np.minimum(cinc["n_samples"], 18000))
    assert (x[mask == 0] == 0).all()  # padded positions exactly zero
    # short record: centred, raw amplitudes untouched
    sig = cinc["signal"][0]
    np.testing.assert_array_equal(x[0, 0, 4500:13500], sig)
    assert mask[0, 0, 4499] == 0 and mask[0, 0, 4500] == 1 and mask[0, 0, 13500] == 0
    assert out["start"][0] == 4500
    # longest record 18,286: 143 samples cut from each end
    sig = cinc["signal"][4]
    np.testing.assert_array_equal(x[4, 0], sig[143:18143])
    # the published code's variant keeps the head instead
    head = pad_cinc2017(cinc, truncate="head")
    x_head, _ = materialize(head)
    np.testing.assert_array_equal(x_head[4, 0], sig[:18000])
    np.testing.assert_array_equal(x_head[:3], x[:3])


def test_pad_cinc2017_matches_dense_reference_and_is_compact(cinc_many, tmp_path, dense_windows):
    assert (cinc_many["n_samples"] > 18000).any() and (cinc_many["n_samples"] % 2 == 1).any()
    for truncate in ("center", "head"):
        out = pad_cinc2017(cinc_many, truncate=truncate)
        x, mask = materialize(out)
        x_ref, mask_ref = _dense_cinc(dense_windows, cinc_many, truncate=truncate)
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(mask, mask_ref)
    # the artifact: plain arrays, no pickle, and a fraction of the dense x + mask
    np.savez(tmp_path / "cinc.npz", **out)
    with np.load(tmp_path / "cinc.npz", allow_pickle=False) as f:
        back = dict(f)
    assert back["record_id"].dtype.kind == "U" and back["classes"].dtype.kind == "U"
    assert back["length"].shape == () and back["offsets"].dtype == np.int64
    assert back["values"].dtype == np.float32 and back["start"].dtype == np.int64
    x_back, mask_back = materialize(back, [0, 400])
    np.testing.assert_array_equal(x_back, x_ref[[0, 400]])
    np.testing.assert_array_equal(mask_back, mask_ref[[0, 400]])
    compact = (tmp_path / "cinc.npz").stat().st_size
    dense = x_ref.nbytes + mask_ref.nbytes
    # CinC records average ~32 s of the 60 s window: x alone would be ~0.55, x + mask ~0.27
    assert compact / dense < 0.35
    assert compact / x_ref.nbytes < 0.7


def test_pad_cinc2017_unknown_label(cinc):
    bad = cinc.assign(label=["N", "A", "X", "N", "N"])
    with pytest.raises(EcgDataError, match="'X'"):
        pad_cinc2017(bad)
    with pytest.raises(EcgDataError, match="truncate"):
        pad_cinc2017(cinc, truncate="tail")
    with pytest.raises(EcgDataError, match="lacks column"):
        pad_cinc2017(cinc.drop(columns="signal"))


def test_validation_split_is_carved_from_the_training_part(full):
    table, _ = full
    parts = split_cinc2017(table, test_fraction=0.1, seed=0, validation_fraction=0.1)
    plain = split_cinc2017(table, test_fraction=0.1, seed=0)
    assert parts["test"]["record_id"].tolist() == plain["test"]["record_id"].tolist()   # the 90/10 test split unchanged
    assert (len(parts["train"]), len(parts["validation"])) == (6907, 768)
    assert set(parts["train"]["record_id"]) | set(parts["validation"]["record_id"]) == set(plain["train"]["record_id"])
    assert set(parts["train"]["record_id"]).isdisjoint(parts["validation"]["record_id"])
    share = parts["validation"]["label"].value_counts() / plain["train"]["label"].value_counts()
    assert share.between(0.09, 0.11).all()                                               # stratified
    with pytest.raises(EcgDataError, match=r"validation_fraction must be in \(0, 1\)"):
        split_cinc2017(table, validation_fraction=1.0)
