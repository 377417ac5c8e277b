"""Padded sets and their dense windows: synthetic edge cases plus the real CinC 2017 / CPSC 2018 records.

The dense expectations are built here independently (``np.zeros`` + one slice assignment per
record), the way the former dense code laid records out.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.data.cinc2017 import read_cinc2017
from ecg_pipeline.data.cpsc2018 import read_cpsc2018
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.data.padding import (
    PADDED_SET_KEYS,
    materialize,
    pack_signals,
    pad_cinc2017,
    pad_cpsc2018,
    replace_starts,
)

# short (A00001: 9,000 samples), odd-length (A00105: 18,170) and the longest (A05736: 18,286)
CINC_IDS = ["A00001", "A00004", "A00022", "A00105", "A05736"]
# a larger real sample for the dense comparison and the size ratio: the first 400 plus the longest
CINC_MANY = [f"A{i:05d}" for i in range(1, 401)] + ["A05736"]
KEEP = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def cinc(shared_data):
    return read_cinc2017(shared_data / "cinc2017" / "training2017.zip", records=CINC_IDS)


@pytest.fixture(scope="module")
def cinc_many(shared_data):
    return read_cinc2017(shared_data / "cinc2017" / "training2017.zip", records=CINC_MANY)


@pytest.fixture(scope="module")
def cpsc(shared_data):
    return read_cpsc2018(shared_data / "cpsc2018")


def _leads(row):
    return np.asarray(row["signal"]).reshape(len(row["leads"]), row["n_samples"])


def _dense(signals, length, starts):
    """Reference: each (already fitting) signal written at its start into a zero window."""
    n_leads = signals[0].shape[0]
    x = np.zeros((len(signals), n_leads, length), dtype=np.float32)
    mask = np.zeros((len(signals), 1, length), dtype=np.float32)
    for i, (sig, s) in enumerate(zip(signals, starts)):
        x[i, :, s : s + sig.shape[1]] = sig
        mask[i, :, s : s + sig.shape[1]] = 1
    return x, mask


def _dense_cinc(table, length=18000, truncate="center"):
    signals, starts = [], []
    for sig in table["signal"]:
        sig = np.asarray(sig, dtype=np.float32)
        if len(sig) > length:
            cut = (len(sig) - length) // 2 if truncate == "center" else 0
            sig = sig[cut : cut + length]
        signals.append(sig[None, :])
        starts.append((length - len(sig)) // 2)
    return _dense(signals, length, starts)


def _dense_cpsc(table, starts=None, truncate=30720, length=33792):
    signals = []
    for _, row in table.iterrows():
        leads = list(row["leads"])
        sig = _leads(row)[[leads.index(lead) for lead in KEEP], :truncate]
        peak = np.abs(sig).max(axis=1, keepdims=True)
        signals.append(sig / np.where(peak == 0, 1, peak))
    if starts is None:  # right-aligned
        starts = [length - s.shape[1] for s in signals]
    return _dense(signals, length, starts)


def _seeded_starts(kept, length, max_shift, seed):
    """The paper's training placement: right-aligned, moved left by a uniform shift."""
    rng = np.random.default_rng(seed)
    out = []
    for n in kept:
        slack = length - n
        out.append(slack - int(rng.integers(0, min(max_shift, slack) + 1)))
    return out


# --- pack_signals + materialize: placement rules -----------------------------------------


def test_center_pads_and_truncates_symmetrically():
    packed = pack_signals([np.arange(1, 4), np.arange(1, 8)], 6, align="center")
    x, mask = materialize(packed)
    assert x.dtype == np.float32 and mask.dtype == np.float32
    assert x.shape == (2, 1, 6) and mask.shape == (2, 1, 6)
    np.testing.assert_array_equal(x[0, 0], [0, 1, 2, 3, 0, 0])  # odd pad goes right
    np.testing.assert_array_equal(mask[0, 0], [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(x[1, 0], [1, 2, 3, 4, 5, 6])  # 7 -> 6: the odd cut at the end
    # only the kept samples are stored
    np.testing.assert_array_equal(packed["values"], [[1, 2, 3, 1, 2, 3, 4, 5, 6]])
    np.testing.assert_array_equal(packed["offsets"], [0, 3, 9])
    np.testing.assert_array_equal(packed["start"], [1, 0])
    assert packed["length"].shape == () and int(packed["length"]) == 6
    x, _ = materialize(pack_signals([np.arange(1, 11)], 6, align="center"))
    np.testing.assert_array_equal(x[0, 0], [3, 4, 5, 6, 7, 8])  # 2 cut from each end


def test_left_and_right():
    x, mask = materialize(pack_signals([np.ones((2, 3))], 5, align="right"))
    np.testing.assert_array_equal(mask[0, 0], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(x[0], [[0, 0, 1, 1, 1]] * 2)
    x, _ = materialize(pack_signals([np.arange(1, 8)], 5, align="right"))
    np.testing.assert_array_equal(x[0, 0], [3, 4, 5, 6, 7])
    x, mask = materialize(pack_signals([np.arange(1, 8), np.arange(1, 3)], 5, align="left"))
    np.testing.assert_array_equal(x[:, 0], [[1, 2, 3, 4, 5], [1, 2, 0, 0, 0]])
    np.testing.assert_array_equal(mask[:, 0], [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])


def test_random_is_seeded_and_bounded():
    signals = [np.ones(100)] * 200
    a = pack_signals(signals, 400, align="random", max_shift=50, rng=7)
    b = pack_signals(signals, 400, align="random", max_shift=50, rng=np.random.default_rng(7))
    x1, m1 = materialize(a)
    x2, m2 = materialize(b)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(m1, m2)
    starts = m1[:, 0].argmax(axis=1)
    np.testing.assert_array_equal(starts, a["start"])
    assert starts.min() >= 300 - 50 and starts.max() <= 300  # right-aligned start = 300
    assert len(np.unique(starts)) > 20
    x3, _ = materialize(pack_signals(signals, 400, align="random", max_shift=50, rng=8))
    assert not np.array_equal(x1, x3)
    full = pack_signals(signals, 400, align="random", rng=0)  # no max_shift: anywhere
    starts = materialize(full)[1][:, 0].argmax(axis=1)
    assert starts.min() >= 0 and starts.max() <= 300 and starts.min() < 100


def test_bad_inputs():
    with pytest.raises(EcgDataError, match="align"):
        pack_signals([np.ones(3)], 5, align="middle")
    with pytest.raises(EcgDataError, match="length"):
        pack_signals([np.ones(3)], 0)
    with pytest.raises(EcgDataError, match="rng"):
        pack_signals([np.ones(3)], 5, align="random")
    with pytest.raises(EcgDataError, match="max_shift"):
        pack_signals([np.ones(3)], 5, align="random", max_shift=-1, rng=0)
    with pytest.raises(EcgDataError, match="signal 1: has 2 leads, expected 1"):
        pack_signals([np.ones(3), np.ones((2, 3))], 5)
    with pytest.raises(EcgDataError, match="signal 0: contains NaN"):
        pack_signals([np.array([1.0, np.nan])], 5)
    with pytest.raises(EcgDataError, match="signal 0: expected a non-empty"):
        pack_signals([np.ones(0)], 5)
    with pytest.raises(EcgDataError, match="empty"):
        pack_signals([], 5)
    x, mask = materialize(pack_signals([], 5, n_leads=2))  # an empty set, when the leads are known
    assert x.shape == (0, 2, 5) and mask.shape == (0, 1, 5)


def test_materialize_index_and_bad_sets():
    packed = pack_signals([np.full(2, 1.0), np.full(3, 2.0), np.full(4, 3.0)], 6, align="left")
    x_all, m_all = materialize(packed)
    for index, rows in (([2, 0], [2, 0]), (np.array([1]), [1]), (slice(1, None), [1, 2]),
                        ([True, False, True], [0, 2]), (-1, [2]), ([], [])):
        x, mask = materialize(packed, index)
        np.testing.assert_array_equal(x, x_all[rows])
        np.testing.assert_array_equal(mask, m_all[rows])
    with pytest.raises(EcgDataError, match="index"):
        materialize(packed, [3])
    with pytest.raises(EcgDataError, match="lacks key"):
        materialize({k: v for k, v in packed.items() if k != "offsets"})
    with pytest.raises(EcgDataError, match="does not fit"):
        materialize({**packed, "start": np.array([0, 0, 3])})
    with pytest.raises(EcgDataError, match="inconsistent"):
        materialize({**packed, "offsets": packed["offsets"][:-1]})


def test_replace_starts_redraws_within_bounds():
    packed = pack_signals([np.ones((2, n)) for n in range(50, 250)], 300, align="right")
    right = packed["start"].copy()
    a = replace_starts(packed, max_shift=40, rng=1)
    b = replace_starts(packed, max_shift=40, rng=np.random.default_rng(1))
    c = replace_starts(packed, max_shift=40, rng=2)
    np.testing.assert_array_equal(a["start"], b["start"])  # seeded
    assert not np.array_equal(a["start"], c["start"])
    assert ((a["start"] <= right) & (a["start"] >= right - 40)).all()
    assert (a["start"] != right).mean() > 0.8
    np.testing.assert_array_equal(packed["start"], right)  # the input is untouched
    assert a["values"] is packed["values"] and a["offsets"] is packed["offsets"]  # shallow copy
    # one generator across epochs: a fresh shift each time
    rng = np.random.default_rng(0)
    epochs = [replace_starts(packed, max_shift=40, rng=rng)["start"] for _ in range(2)]
    assert not np.array_equal(*epochs)
    # the same rule as building with align="random"
    built = pack_signals([np.ones((2, n)) for n in range(50, 250)], 300, align="random", max_shift=40, rng=1)
    np.testing.assert_array_equal(a["start"], built["start"])
    anywhere = replace_starts(packed, max_shift=None, rng=0)["start"]
    assert anywhere.min() >= 0 and (anywhere < right - 40).any()
    x, mask = materialize(a)
    assert (x[mask.repeat(2, axis=1) == 0] == 0).all() and (x[mask.repeat(2, axis=1) == 1] == 1).all()
    with pytest.raises(EcgDataError, match="max_shift"):
        replace_starts(packed, max_shift=-3, rng=0)
    with pytest.raises(EcgDataError, match="rng"):
        replace_starts(packed, max_shift=3, rng=None)


# --- CinC 2017 -------------------------------------------------------------------------------


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


def test_pad_cinc2017_matches_dense_reference_and_is_compact(cinc_many, tmp_path):
    assert (cinc_many["n_samples"] > 18000).any() and (cinc_many["n_samples"] % 2 == 1).any()
    for truncate in ("center", "head"):
        out = pad_cinc2017(cinc_many, truncate=truncate)
        x, mask = materialize(out)
        x_ref, mask_ref = _dense_cinc(cinc_many, truncate=truncate)
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


# --- CPSC 2018 -------------------------------------------------------------------------------


def test_pad_cpsc2018_right_aligned_and_scaled(cpsc):
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
    x_ref, mask_ref = _dense_cpsc(cpsc)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(mask, mask_ref)


def test_pad_cpsc2018_random_placement(cpsc):
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
    x_ref, mask_ref = _dense_cpsc(cpsc, starts=_seeded_starts(n, 33792, 3072, 3))
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
