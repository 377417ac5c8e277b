import numpy as np
import pytest

from ecg_pipeline.data.beats import bad_sample_mask, segment_beats, segment_record
from ecg_pipeline.errors import EcgDataError

# Reference AAMI counts of the MIT-BIH annotations (../shared/data/README.md).
README_COUNTS = {"N": 90631, "S": 2781, "V": 7236, "F": 803, "Q": 8043}


def _per_class(beats):
    return {c: int((beats["y"] == i).sum()) for i, c in enumerate(beats["classes"])}


def test_kachuee_counts_within_one_percent_of_reference(kachuee_beats):
    counts = _per_class(kachuee_beats)
    for cls, expected in README_COUNTS.items():
        assert abs(counts[cls] - expected) <= 0.01 * expected, (cls, counts[cls], expected)
    x = kachuee_beats["x"]
    assert x.shape == (sum(counts.values()), 187) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_kachuee_beats_start_at_r_peak_and_end_in_zero_padding(kachuee_beats):
    x = kachuee_beats["x"]
    # Each beat starts at its R peak: the first sample is high in its normalised window.
    assert np.median(x[:, 0]) > 0.6
    # 1.2 x median RR is shorter than 187 samples at 125 Hz for heart rates above ~48 bpm: a zero tail.
    assert (x[:, -1] == 0).mean() > 0.9


def test_every_beat_keeps_record_and_sample(kachuee_beats, mitdb_table):
    assert len(set(kachuee_beats["record_id"])) == 48
    row = mitdb_table.set_index("record_id").loc["208"]
    mine = kachuee_beats["r_sample"][kachuee_beats["record_id"] == "208"]
    assert np.isin(mine, row["ann_sample"]).all()
    assert (kachuee_beats["synthetic"] == False).all()  # noqa: E712


def test_centered_scheme_counts_and_range(mitdb_table):
    beats = segment_beats(mitdb_table, scheme="centered", label_set="aami4")
    counts = _per_class(beats)
    assert set(counts) == {"N", "S", "V", "F"}
    for cls in counts:
        assert abs(counts[cls] - README_COUNTS[cls]) <= 0.01 * README_COUNTS[cls]
    x = beats["x"]
    assert x.shape[1] == 280 and x.min() == 0.0 and x.max() == 1.0
    # Centred on the R peak: the per-beat maximum sits near the middle for most N beats of MLII.
    assert np.median(np.abs(x.argmax(axis=1) - 140)) < 20


def test_nan_and_flatline_beats_are_dropped_and_counted():
    fs = 360.0
    t = np.arange(int(60 * fs)) / fs
    signal = np.sin(2 * np.pi * 1.2 * t).astype(np.float32)
    r = np.arange(200, signal.size - 400, 300)
    signal[5000:5010] = np.nan
    signal[9000:9000 + 200] = 0.25  # 0.56 s flat line
    beats, kept, counts = segment_record(signal, fs, r, scheme="centered", flatline_seconds=0.5)
    touched = ((r + 140 > 5000) & (r - 140 < 5010)) | ((r + 140 > 9000) & (r - 140 < 9200))
    assert counts["bad_signal"] == touched.sum() > 0
    assert (~kept == touched).all()
    assert not np.isnan(beats).any()


def test_bad_sample_mask_only_marks_long_runs():
    x = np.array([1, 2, 2, 2, 3, 4, 4, 4, 4, 4, 5], dtype=np.float32)
    assert bad_sample_mask(x, fs=1.0, flatline_seconds=5).tolist() == [False] * 5 + [True] * 5 + [False]


def test_unknown_scheme_is_an_error(mitdb_table):
    with pytest.raises(EcgDataError, match=r"unknown beat scheme 'pan'.*kachuee.*centered"):
        segment_beats(mitdb_table.head(1), scheme="pan")


def test_centered_scheme_refuses_another_sampling_rate(mitdb_table):
    records = mitdb_table[mitdb_table["record_id"].isin(["100", "101"])].copy()
    records.loc[records["record_id"] == "101", "fs"] = 500.0
    with pytest.raises(EcgDataError, match=r"beat scheme 'centered': record 101 has fs = 500 Hz; the scheme's "
                                           r"280-sample window is defined at 360 Hz only"):
        segment_beats(records, scheme="centered")
    with pytest.raises(EcgDataError, match=r"record 7 has fs = 250 Hz"):
        segment_record(np.zeros(2500, dtype=np.float32), 250.0, [1000], scheme="centered", record_id="7")
    assert segment_beats(records, scheme="kachuee")["x"].shape[1] == 187  # kachuee resamples: any rate


def test_record_without_annotations_is_refused(mitdb_table):
    records = mitdb_table[mitdb_table["record_id"].isin(["100", "101"])].copy()
    records["ann_sample"] = [records["ann_sample"].iloc[0], np.zeros(0, dtype=np.int64)]
    records["ann_symbol"] = [records["ann_symbol"].iloc[0], np.zeros(0, dtype=str)]
    with pytest.raises(EcgDataError, match=r"segment_beats: record 101 has no annotations"):
        segment_beats(records)


def test_an_empty_beat_set_is_refused(mitdb_table):
    records = mitdb_table[mitdb_table["record_id"] == "100"].copy()
    records["ann_symbol"] = [np.full(len(records["ann_sample"].iloc[0]), "+")]  # rhythm marks only: no beats
    with pytest.raises(EcgDataError, match=r"segment_beats: no beats from 1 record\(s\) \['100'\].*"
                                           r"refusing to write an empty beat set"):
        segment_beats(records)
