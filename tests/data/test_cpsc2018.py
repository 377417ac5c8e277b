"""CPSC 2018 reference, reader (both formats) and seed-001 split, on the real shared files."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.io

from ecg_pipeline.data.cpsc2018 import (
    CLASS_NAMES,
    STANDARD_LEADS,
    pad_cpsc2018,
    read_cpsc2018,
    read_cpsc2018_reference,
    split_cpsc2018,
)
from ecg_pipeline.data.padding import PADDED_SET_KEYS, materialize, replace_starts
from ecg_pipeline.errors import EcgDataError

WFDB_IDS = [f"A{i:04d}" for i in range(1, 11)]
ORIGINAL_IDS = [f"A{i:04d}" for i in range(1980, 1990)]


@pytest.fixture(scope="module")
def root(shared_data):
    return shared_data / "cpsc2018"


@pytest.fixture(scope="module")
def reference(root):
    return read_cpsc2018_reference(root / "REFERENCE.csv")


@pytest.fixture(scope="module")
def table(root):
    return read_cpsc2018(root)


def _single_label(reference):
    single = reference[reference["n_labels"] == 1]
    return single.assign(label=single["labels"].str[0]).reset_index(drop=True)


def test_reference_counts(reference, root, caplog):
    assert len(reference) == 6877
    assert int((reference["n_labels"] > 1).sum()) == 477
    first = reference["labels"].str[0]
    assert int((first == "1").sum()) == 918  # 900 + the 18 written as '10'
    assert reference.set_index("record_id").loc["A0716", "labels"] == ["1"]
    assert all(set(labels) <= set("123456789") for labels in reference["labels"])
    # A0953 lists class 6 twice; it counts as multi-label, as in the protocol's 477
    assert reference.set_index("record_id").loc["A0953", "labels"] == ["6", "6"]
    raw = pd.read_csv(root / "REFERENCE.csv", dtype=str)
    assert int((raw["First_label"] == "10").sum()) == 18
    with caplog.at_level(logging.INFO, logger="ecg_pipeline.data.cpsc2018"):
        read_cpsc2018_reference(root / "REFERENCE.csv")
    assert "label '10' mapped to '1' (Normal) on 18 records" in caplog.text


def test_reads_the_20_shared_records_in_both_formats(table, reference):
    assert table["record_id"].tolist() == WFDB_IDS + ORIGINAL_IDS
    assert table["file_format"].tolist() == ["wfdb"] * 10 + ["original"] * 10
    assert (table["fs"] == 500.0).all() and (table["units"] == "mV").all()
    assert all(list(leads) == list(STANDARD_LEADS) for leads in table["leads"])
    assert (table["signal"].map(len) == 12 * table["n_samples"]).all()
    assert all(s.dtype == np.float32 for s in table["signal"])
    expected = reference.set_index("record_id")["labels"].str[0]
    assert table["label"].tolist() == expected.loc[table["record_id"]].tolist()
    assert table["label"].tolist() == list("51227528256831885533")
    assert table.set_index("record_id").loc["A1988", "n_samples"] == 27157
    assert table.set_index("record_id").loc["A0001", ["age", "sex"]].tolist() == [74.0, "Male"]
    assert table.set_index("record_id").loc["A1981", ["age", "sex"]].tolist() == [48.0, "Female"]


def test_wfdb_values_are_millivolts(table, root):
    row = table.set_index("record_id").loc["A0001"]
    signal = np.asarray(row["signal"]).reshape(12, row["n_samples"])
    raw = scipy.io.loadmat(root / "records" / "A0001.mat")["val"]
    np.testing.assert_allclose(signal, raw / 1000.0, rtol=0, atol=1e-7)
    assert signal[0, 0] == pytest.approx(0.028)  # lead I, header 'initial value' 28 adu


def test_original_format_values(table, root):
    row = table.set_index("record_id").loc["A1980"]
    signal = np.asarray(row["signal"]).reshape(12, row["n_samples"])
    data = scipy.io.loadmat(root / "records_original_format" / "A1980.mat")["ECG"][0, 0]["data"]
    np.testing.assert_array_equal(signal, data.astype(np.float32))
    assert row["sex"] == "Male" and row["age"] == 52.0


def test_wfdb_header_diagnosis_agrees_with_reference(table, root):
    for rid, label in zip(table["record_id"][:10], table["label"][:10]):
        text = (root / "records" / f"{rid}.hea").read_text()
        dx = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("#Dx"))
        assert dx == CLASS_NAMES[label], rid


def test_multi_label_and_absent_records_are_logged(root, caplog):
    with caplog.at_level(logging.INFO, logger="ecg_pipeline.data.cpsc2018"):
        read_cpsc2018(root)
    assert "dropped 477 multi-label records" in caplog.text
    assert "6380 reference records have no signal file" in caplog.text
    with pytest.raises(EcgDataError, match=r"6380 of 6400 .*'A0011'"):
        read_cpsc2018(root, require_all=True)
    kept = read_cpsc2018(root, single_label_only=False)
    assert len(kept) == 20  # the shared 20 are all single-label


def test_parquet_round_trip(table, tmp_path):
    table.to_parquet(tmp_path / "cpsc.parquet")
    back = pd.read_parquet(tmp_path / "cpsc.parquet")
    assert [list(x) for x in back["leads"]] == [list(x) for x in table["leads"]]
    for a, b in zip(table["signal"], back["signal"]):
        np.testing.assert_array_equal(a, b)


def test_wfdb_files_directly_in_root(root, tmp_path):
    for rid in ("A0001", "A0002"):
        for ext in ("hea", "mat"):
            shutil.copy(root / "records" / f"{rid}.{ext}", tmp_path)
    shutil.copy(root / "REFERENCE.csv", tmp_path)
    flat = read_cpsc2018(tmp_path)
    assert flat["record_id"].tolist() == ["A0001", "A0002"]
    assert flat["file_format"].tolist() == ["wfdb", "wfdb"]


def test_split_protocol_numbers(reference):
    single = _single_label(reference)
    assert len(single) == 6400
    parts = split_cpsc2018(single, val_per_class=5, test_per_class=50, seed=0)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == {"train": 5905, "validation": 45, "test": 450}
    assert (parts["validation"]["label"].value_counts() == 5).all()
    assert (parts["test"]["label"].value_counts() == 50).all()
    ids = [set(p["record_id"]) for p in parts.values()]
    assert ids[0].isdisjoint(ids[1]) and ids[0].isdisjoint(ids[2]) and ids[1].isdisjoint(ids[2])
    assert set().union(*ids) == set(single["record_id"])
    # Membership of the published code's algorithm (RandomState(0), REFERENCE.csv order)
    assert sorted(parts["validation"]["record_id"])[:5] == ["A0044", "A0500", "A0547", "A0556", "A0682"]
    again = split_cpsc2018(single, seed=0)
    assert again["test"]["record_id"].tolist() == parts["test"]["record_id"].tolist()
    assert split_cpsc2018(single, seed=1)["test"]["record_id"].tolist() != parts["test"]["record_id"].tolist()


def test_split_class_too_small(table):
    # class '1' has 2 shared records (A0002, A1983); 5 + 50 requested
    with pytest.raises(EcgDataError, match=r"1 has 2 records.*need at least 55"):
        split_cpsc2018(table)


def test_unknown_label_in_reference(root, tmp_path):
    text = (root / "REFERENCE.csv").read_text()
    bad = tmp_path / "REFERENCE.csv"
    bad.write_text(text.replace("A0002,1,,", "A0002,11,,", 1))
    with pytest.raises(EcgDataError, match=r"A0002.*'11'"):
        read_cpsc2018_reference(bad)


def test_header_without_mat(root, tmp_path):
    (tmp_path / "records").mkdir()
    shutil.copy(root / "records" / "A0001.hea", tmp_path / "records")
    shutil.copy(root / "REFERENCE.csv", tmp_path)
    with pytest.raises(EcgDataError, match=r"CPSC 2018 record A0001: signal file .*A0001\.mat not found"):
        read_cpsc2018(tmp_path)


@pytest.mark.parametrize("cut", [1, 90_000], ids=["one-byte-short", "half"])
def test_short_wfdb_mat_names_record_file_and_expected_length(root, tmp_path, cut):
    (tmp_path / "records").mkdir()
    shutil.copy(root / "records" / "A0001.hea", tmp_path / "records")
    data = (root / "records" / "A0001.mat").read_bytes()  # 24-byte header + 12 x 7,500 int16
    (tmp_path / "records" / "A0001.mat").write_bytes(data[:-cut])
    shutil.copy(root / "REFERENCE.csv", tmp_path)
    held = (len(data) - cut - 24) // 24
    with pytest.raises(EcgDataError) as err:
        read_cpsc2018(tmp_path)
    message = str(err.value)
    assert message.startswith(f"CPSC 2018 record A0001: {tmp_path / 'records' / 'A0001.mat'} holds {held:,} samples "
                              "per channel, the header A0001.hea says 7,500: truncated?")
    assert "reshape" not in message


def test_wrong_sampling_rate_in_header(root, tmp_path):
    shutil.copy(root / "records" / "A0001.mat", tmp_path)
    header = (root / "records" / "A0001.hea").read_text()
    (tmp_path / "A0001.hea").write_text(header.replace("A0001 12 500 ", "A0001 12 250 ", 1))
    shutil.copy(root / "REFERENCE.csv", tmp_path)
    with pytest.raises(EcgDataError, match=r"A0001\.hea.*250 Hz, expected 500 Hz"):
        read_cpsc2018(tmp_path)
    assert len(read_cpsc2018(tmp_path, expected_fs=250)) == 1


def test_bad_original_file(root, tmp_path):
    scipy.io.savemat(tmp_path / "A0002.mat", {"ECG": {"sex": "Male", "age": 50, "data": np.zeros((8, 100))}})
    shutil.copy(root / "REFERENCE.csv", tmp_path)
    with pytest.raises(EcgDataError, match=r"A0002\.mat.*\(8, 100\).*12"):
        read_cpsc2018(tmp_path)


# --- padding recipe (Ma & Liang, seed 001) -------------------------------------------------

KEEP = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def cpsc(table):
    return table


def _leads(row):
    return np.asarray(row["signal"]).reshape(len(row["leads"]), row["n_samples"])


def _dense_cpsc(dense, table, starts=None, truncate=30720, length=33792):
    signals = []
    for _, row in table.iterrows():
        leads = list(row["leads"])
        sig = _leads(row)[[leads.index(lead) for lead in KEEP], :truncate]
        peak = np.abs(sig).max(axis=1, keepdims=True)
        signals.append(sig / np.where(peak == 0, 1, peak))
    if starts is None:  # right-aligned
        starts = [length - s.shape[1] for s in signals]
    return dense(signals, length, starts)


def _seeded_starts(kept, length, max_shift, seed):
    """The paper's training placement: right-aligned, moved left by a uniform shift."""
    rng = np.random.default_rng(seed)
    out = []
    for n in kept:
        slack = length - n
        out.append(slack - int(rng.integers(0, min(max_shift, slack) + 1)))
    return out


def test_pad_cpsc2018_right_aligned_and_scaled(cpsc, dense_windows):
    out = pad_cpsc2018(cpsc)
    x, mask = materialize(out)
    assert x.shape == (20, 8, 33792) and mask.shape == (20, 1, 33792)
    assert x.dtype == np.float32 and mask.dtype == np.float32
    assert out["values"].shape == (8, cpsc["n_samples"].clip(upper=30720).sum())
    assert out["leads"].tolist() == list(KEEP) and out["classes"].tolist() == [str(i) for i in range(1, 10)]
    n = cpsc["n_samples"].to_numpy()
    np.testing.assert_array_equal(mask.sum(axis=(1, 2)), np.minimum(n, 30720))
    assert (x * (1 - mask) == 0).all()
    for i in range(20):
        assert mask[i, 0, 33792 - n[i]:].all() and not mask[i, 0, : 33792 - n[i]].any()
    # each lead scaled into [-1, 1], its largest |value| exactly 1
    peaks = np.abs(x).max(axis=2)
    np.testing.assert_array_equal(peaks, np.ones_like(peaks))
    # leads chosen by name: output row 2 is V1 (input row 6)
    row = cpsc.iloc[0]
    v1 = _leads(row)[6]
    np.testing.assert_allclose(x[0, 2, 33792 - n[0]:], v1 / np.abs(v1).max(), rtol=1e-6)
    np.testing.assert_array_equal(out["y"], cpsc["label"].astype(int).to_numpy() - 1)
    # the same as the dense reference
    x_ref, mask_ref = _dense_cpsc(dense_windows, cpsc)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(mask, mask_ref)


def test_pad_cpsc2018_random_placement(cpsc, dense_windows):
    a = pad_cpsc2018(cpsc, placement="random", max_shift=3072, seed=3)
    b = pad_cpsc2018(cpsc, placement="random", max_shift=3072, seed=3)
    c = pad_cpsc2018(cpsc, placement="random", max_shift=3072, seed=4)
    xa, ma = materialize(a)
    xb, mb = materialize(b)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ma, mb)
    assert not np.array_equal(ma, materialize(c)[1])
    n = cpsc["n_samples"].to_numpy()
    starts = ma[:, 0].argmax(axis=1)
    right = 33792 - n
    assert ((starts <= right) & (starts >= right - 3072)).all()
    np.testing.assert_array_equal(ma.sum(axis=(1, 2)), n)
    assert (xa * (1 - ma) == 0).all()
    # the paper's rule, drawn record by record, gives the same arrays
    x_ref, mask_ref = _dense_cpsc(dense_windows, cpsc, starts=_seeded_starts(n, 33792, 3072, 3))
    np.testing.assert_array_equal(xa, x_ref)
    np.testing.assert_array_equal(ma, mask_ref)
    # re-drawing the evaluation set's starts with the same seed = building it randomly
    redrawn = replace_starts(pad_cpsc2018(cpsc), max_shift=3072, rng=3)
    np.testing.assert_array_equal(redrawn["start"], a["start"])
    with pytest.raises(EcgDataError, match="seed"):
        pad_cpsc2018(cpsc, placement="random", seed="x")


def test_pad_cpsc2018_truncates_long_record_and_keeps_zero_lead(cpsc):
    row = cpsc.iloc[[0]].copy()
    sig = np.tile(_leads(row.iloc[0]), (1, 5))  # 37,500 samples
    sig[6] = 0.0  # V1 flat
    row["signal"] = [sig.ravel()]
    row["n_samples"] = sig.shape[1]
    out = pad_cpsc2018(row)
    assert out["values"].shape == (8, 30720)
    x, mask = materialize(out)
    assert mask.sum() == 30720 and mask[0, 0, :3072].sum() == 0
    assert (x[0, 2] == 0).all() and np.isfinite(x).all()
    expected = sig[0, :30720] / np.abs(sig[0, :30720]).max()
    np.testing.assert_allclose(x[0, 0, 3072:], expected, rtol=1e-6)


def test_pad_cpsc2018_missing_lead(cpsc):
    row = cpsc.iloc[[3]].copy()
    sig = _leads(row.iloc[0])
    leads = [lead for lead in row.iloc[0]["leads"] if lead != "V4"]
    row["leads"] = [leads]
    row["signal"] = [np.delete(sig, 9, axis=0).ravel()]
    with pytest.raises(EcgDataError, match=r"record A0004.*'V4'"):
        pad_cpsc2018(row)


def test_pad_cpsc2018_after_parquet_and_npz(cpsc, tmp_path):
    cpsc.to_parquet(tmp_path / "cpsc.parquet")
    back = pd.read_parquet(tmp_path / "cpsc.parquet")
    out = pad_cpsc2018(cpsc)
    np.testing.assert_array_equal(materialize(pad_cpsc2018(back))[0], materialize(out)[0])
    np.savez(tmp_path / "cpsc.npz", **out)
    with np.load(tmp_path / "cpsc.npz", allow_pickle=False) as f:
        loaded = dict(f)
    for key in PADDED_SET_KEYS:
        np.testing.assert_array_equal(loaded[key], out[key])
    np.testing.assert_array_equal(materialize(loaded, [5, 1])[0], materialize(out, [5, 1])[0])


def test_pad_cpsc2018_empty_table(cpsc):
    out = pad_cpsc2018(cpsc.iloc[:0])  # e.g. a validation split with 0 records per class
    assert out["values"].shape == (8, 0) and out["offsets"].tolist() == [0]
    x, mask = materialize(out)
    assert x.shape == (0, 8, 33792) and mask.shape == (0, 1, 33792)


def test_pad_cpsc2018_bad_parameters(cpsc):
    with pytest.raises(EcgDataError, match="placement"):
        pad_cpsc2018(cpsc, placement="center")
    with pytest.raises(EcgDataError, match="truncate"):
        pad_cpsc2018(cpsc, truncate=40000)
    with pytest.raises(EcgDataError, match="keep_leads"):
        pad_cpsc2018(cpsc, keep_leads=())
    with pytest.raises(EcgDataError, match="max_shift"):
        pad_cpsc2018(cpsc, placement="random", max_shift=-1)


def test_a_damaged_wfdb_signal_file_is_named(root, tmp_path):
    """Samples at wfdb's invalid value (-32768 in format 16) read back as NaN: the message names the .mat
    that holds them, not the header that was opened."""
    (tmp_path / "records").mkdir()
    for suffix in (".hea", ".mat"):
        shutil.copy(root / "records" / f"A0001{suffix}", tmp_path / "records" / f"A0001{suffix}")
    ref = pd.read_csv(root / "REFERENCE.csv", dtype=str)
    ref[ref.iloc[:, 0] == "A0001"].to_csv(tmp_path / "REFERENCE.csv", index=False)
    data = bytearray((tmp_path / "records" / "A0001.mat").read_bytes())
    data[-2000:] = b"\x00\x80" * 1000  # little-endian -32768
    (tmp_path / "records" / "A0001.mat").write_bytes(bytes(data))
    with pytest.raises(EcgDataError, match=r"record A0001: .*A0001\.mat holds NaN or infinite samples"):
        read_cpsc2018(tmp_path)
