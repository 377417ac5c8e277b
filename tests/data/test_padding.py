"""Padded sets and their dense windows: the generic format on synthetic edge cases.

The per-dataset recipes (``pad_cinc2017``, ``pad_cpsc2018``) are tested with their readers in
``test_cinc2017.py`` / ``test_cpsc2018.py`` on the real records.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.data.padding import materialize, pack_signals, replace_starts
from ecg_pipeline.errors import EcgDataError


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
