"""Padding, truncation and masks: synthetic edge cases plus the real CinC 2017 / CPSC 2018 records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.data.cinc2017 import read_cinc2017
from ecg_pipeline.data.cpsc2018 import read_cpsc2018
from ecg_pipeline.data.errors import EcgDataError
from ecg_pipeline.data.padding import pad_cinc2017, pad_cpsc2018, pad_or_truncate

# short (A00001: 9,000 samples), odd-length (A00105: 18,170) and the longest (A05736: 18,286)
CINC_IDS = ["A00001", "A00004", "A00022", "A00105", "A05736"]
KEEP = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def cinc(shared_data):
    return read_cinc2017(shared_data / "cinc2017" / "training2017.zip", records=CINC_IDS)


@pytest.fixture(scope="module")
def cpsc(shared_data):
    return read_cpsc2018(shared_data / "cpsc2018")


def _leads(row):
    return np.asarray(row["signal"]).reshape(len(row["leads"]), row["n_samples"])


# --- pad_or_truncate -------------------------------------------------------------------------


def test_center_pads_and_truncates_symmetrically():
    x, mask = pad_or_truncate([np.arange(1, 4), np.arange(1, 8)], 6, align="center")
    assert x.dtype == np.float32 and mask.dtype == np.float32
    assert x.shape == (2, 1, 6) and mask.shape == (2, 1, 6)
    np.testing.assert_array_equal(x[0, 0], [0, 1, 2, 3, 0, 0])  # odd pad goes right
    np.testing.assert_array_equal(mask[0, 0], [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(x[1, 0], [1, 2, 3, 4, 5, 6])  # 7 -> 6: the odd cut at the end
    x, _ = pad_or_truncate([np.arange(1, 11)], 6, align="center")
    np.testing.assert_array_equal(x[0, 0], [3, 4, 5, 6, 7, 8])  # 2 cut from each end


def test_left_and_right():
    x, mask = pad_or_truncate([np.ones((2, 3))], 5, align="right")
    np.testing.assert_array_equal(mask[0, 0], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(x[0], [[0, 0, 1, 1, 1]] * 2)
    x, _ = pad_or_truncate([np.arange(1, 8)], 5, align="right")
    np.testing.assert_array_equal(x[0, 0], [3, 4, 5, 6, 7])
    x, mask = pad_or_truncate([np.arange(1, 8), np.arange(1, 3)], 5, align="left")
    np.testing.assert_array_equal(x[:, 0], [[1, 2, 3, 4, 5], [1, 2, 0, 0, 0]])
    np.testing.assert_array_equal(mask[:, 0], [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])


def test_random_is_seeded_and_bounded():
    signals = [np.ones(100)] * 200
    x1, m1 = pad_or_truncate(signals, 400, align="random", max_shift=50, rng=7)
    x2, m2 = pad_or_truncate(signals, 400, align="random", max_shift=50, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(m1, m2)
    starts = m1[:, 0].argmax(axis=1)
    assert starts.min() >= 300 - 50 and starts.max() <= 300  # right-aligned start = 300
    assert len(np.unique(starts)) > 20
    x3, _ = pad_or_truncate(signals, 400, align="random", max_shift=50, rng=8)
    assert not np.array_equal(x1, x3)
    full, _ = pad_or_truncate(signals, 400, align="random", rng=0)  # no max_shift: anywhere
    starts = full[:, 0].argmax(axis=1)
    assert starts.min() >= 0 and starts.max() <= 300 and starts.min() < 100


def test_bad_inputs():
    with pytest.raises(EcgDataError, match="align"):
        pad_or_truncate([np.ones(3)], 5, align="middle")
    with pytest.raises(EcgDataError, match="length"):
        pad_or_truncate([np.ones(3)], 0)
    with pytest.raises(EcgDataError, match="rng"):
        pad_or_truncate([np.ones(3)], 5, align="random")
    with pytest.raises(EcgDataError, match="signal 1: has 2 leads, expected 1"):
        pad_or_truncate([np.ones(3), np.ones((2, 3))], 5)
    with pytest.raises(EcgDataError, match="signal 0: contains NaN"):
        pad_or_truncate([np.array([1.0, np.nan])], 5)
    with pytest.raises(EcgDataError, match="empty"):
        pad_or_truncate([], 5)


# --- CinC 2017 -------------------------------------------------------------------------------


def test_pad_cinc2017_real_records(cinc):
    out = pad_cinc2017(cinc)
    x, mask = out["x"], out["mask"]
    assert x.shape == (5, 1, 18000) and mask.shape == (5, 1, 18000)
    assert out["record_id"].tolist() == CINC_IDS
    np.testing.assert_array_equal(out["y"], [0, 1, 3, 0, 0])  # N A ~ N N in (N, A, O, ~)
    assert out["y"].dtype == np.int64
    np.testing.assert_array_equal(mask.sum(axis=(1, 2)), np.minimum(cinc["n_samples"], 18000))
    assert (x[mask == 0] == 0).all()  # padded positions exactly zero
    # short record: centred, raw amplitudes untouched
    sig = cinc["signal"][0]
    np.testing.assert_array_equal(x[0, 0, 4500:13500], sig)
    assert mask[0, 0, 4499] == 0 and mask[0, 0, 4500] == 1 and mask[0, 0, 13500] == 0
    # longest record 18,286: 143 samples cut from each end
    sig = cinc["signal"][4]
    np.testing.assert_array_equal(x[4, 0], sig[143:18143])
    # the published code's variant keeps the head instead
    head = pad_cinc2017(cinc, truncate="head")
    np.testing.assert_array_equal(head["x"][4, 0], sig[:18000])
    np.testing.assert_array_equal(head["x"][:3], x[:3])


def test_pad_cinc2017_unknown_label(cinc):
    bad = cinc.assign(label=["N", "A", "X", "N", "N"])
    with pytest.raises(EcgDataError, match="'X'"):
        pad_cinc2017(bad)


# --- CPSC 2018 -------------------------------------------------------------------------------


def test_pad_cpsc2018_right_aligned_and_scaled(cpsc):
    out = pad_cpsc2018(cpsc)
    x, mask = out["x"], out["mask"]
    assert x.shape == (20, 8, 33792) and mask.shape == (20, 1, 33792)
    assert x.dtype == np.float32 and mask.dtype == np.float32
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


def test_pad_cpsc2018_random_placement(cpsc):
    a = pad_cpsc2018(cpsc, placement="random", max_shift=3072, seed=3)
    b = pad_cpsc2018(cpsc, placement="random", max_shift=3072, seed=3)
    c = pad_cpsc2018(cpsc, placement="random", max_shift=3072, seed=4)
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["mask"], b["mask"])
    assert not np.array_equal(a["mask"], c["mask"])
    n = cpsc["n_samples"].to_numpy()
    starts = a["mask"][:, 0].argmax(axis=1)
    right = 33792 - n
    assert ((starts <= right) & (starts >= right - 3072)).all()
    np.testing.assert_array_equal(a["mask"].sum(axis=(1, 2)), n)
    assert (a["x"] * (1 - a["mask"]) == 0).all()


def test_pad_cpsc2018_truncates_long_record_and_keeps_zero_lead(cpsc):
    row = cpsc.iloc[[0]].copy()
    sig = np.tile(_leads(row.iloc[0]), (1, 5))  # 37,500 samples
    sig[6] = 0.0  # V1 flat
    row["signal"] = [sig.ravel()]
    row["n_samples"] = sig.shape[1]
    out = pad_cpsc2018(row)
    assert out["mask"].sum() == 30720 and out["mask"][0, 0, :3072].sum() == 0
    assert (out["x"][0, 2] == 0).all() and np.isfinite(out["x"]).all()
    expected = sig[0, :30720] / np.abs(sig[0, :30720]).max()
    np.testing.assert_allclose(out["x"][0, 0, 3072:], expected, rtol=1e-6)


def test_pad_cpsc2018_missing_lead(cpsc):
    row = cpsc.iloc[[3]].copy()
    sig = _leads(row.iloc[0])
    leads = [lead for lead in row.iloc[0]["leads"] if lead != "V4"]
    row["leads"] = [leads]
    row["signal"] = [np.delete(sig, 9, axis=0).ravel()]
    with pytest.raises(EcgDataError, match=r"record A0004.*'V4'"):
        pad_cpsc2018(row)


def test_pad_cpsc2018_after_parquet(cpsc, tmp_path):
    cpsc.to_parquet(tmp_path / "cpsc.parquet")
    back = pd.read_parquet(tmp_path / "cpsc.parquet")
    np.testing.assert_array_equal(pad_cpsc2018(back)["x"], pad_cpsc2018(cpsc)["x"])


def test_pad_cpsc2018_bad_parameters(cpsc):
    with pytest.raises(EcgDataError, match="placement"):
        pad_cpsc2018(cpsc, placement="center")
    with pytest.raises(EcgDataError, match="truncate"):
        pad_cpsc2018(cpsc, truncate=40000)
