"""R-peak detection (XQRS + gated refinement) and its agreement with MIT-BIH annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.data.rpeaks import (
    BEAT_SYMBOLS,
    beat_samples,
    detect_rpeaks,
    evaluate_detector,
    rpeak_agreement,
)

FS = 360.0
SECONDS = 120.0

# Measured (wfdb 4.3.1, first 120 s of each of the 48 MIT-BIH records, MLII / V5 for 102
# and 104, tolerance 150 ms): tp=7165 fn=115 fp=154, pooled sensitivity 0.9842, PPV 0.9790.
# Lower than on whole records (0.9921 / 0.9930) because XQRS is still adapting during the
# first seconds and 108, 207 and 208 are hard from the start. 39 of 48 records have both
# sensitivity and PPV >= 0.99. Floors a little under the measurement:
SENSITIVITY_FLOOR = 0.980
PPV_FLOOR = 0.975
NEAR_PERFECT_RECORDS_FLOOR = 37


def load_mitdb(mitdb: Path, record: str, seconds: float | None = SECONDS):
    """(record, signal, fs, reference beat samples); MLII, or V5 where there is no MLII."""
    path = str(mitdb / record)
    lead = "MLII" if "MLII" in wfdb.rdheader(path).sig_name else "V5"
    sampto = None if seconds is None else int(seconds * FS)
    signal = wfdb.rdrecord(path, channel_names=[lead], sampto=sampto)
    ann = wfdb.rdann(path, "atr", sampto=sampto)
    return record, signal.p_signal[:, 0], float(signal.fs), beat_samples(ann.sample, ann.symbol)


@pytest.fixture(scope="module")
def mitdb(shared_data: Path) -> Path:
    return shared_data / "mitdb"


@pytest.fixture(scope="module")
def mitdb_120s(mitdb: Path):
    records = (mitdb / "RECORDS").read_text().split()
    assert len(records) == 48
    return [load_mitdb(mitdb, record) for record in records]


@pytest.fixture(scope="module")
def evaluation(mitdb_120s):
    return evaluate_detector(mitdb_120s, max_seconds=SECONDS, n_jobs=2)


# ------------------------------------------------------------------------ agreement math


class TestRpeakAgreement:
    def test_known_counts(self):
        reference = np.array([100, 500, 900, 1300])
        detected = np.array([105, 560, 890, 2000])  # 560 is 60 samples (167 ms) late
        result = rpeak_agreement(reference, detected, FS)
        assert (result["tp"], result["fn"], result["fp"]) == (2, 2, 2)
        assert result["sensitivity"] == pytest.approx(0.5)
        assert result["ppv"] == pytest.approx(0.5)

    def test_tolerance_is_inclusive(self):
        window = round(0.150 * FS)  # 54 samples
        assert rpeak_agreement([1000], [1000 + window], FS)["tp"] == 1
        assert rpeak_agreement([1000], [1000 - window], FS)["tp"] == 1
        assert rpeak_agreement([1000], [1000 + window + 1], FS)["tp"] == 0
        assert rpeak_agreement([1000], [1010], FS, tolerance_s=0.02)["tp"] == 0

    def test_one_to_one(self):
        # one detection between two beats counts once; two detections on one beat: one fp
        assert rpeak_agreement([100, 140], [120], FS) == {
            "tp": 1, "fn": 1, "fp": 0, "sensitivity": 0.5, "ppv": 1.0}
        assert rpeak_agreement([100], [95, 105], FS)["fp"] == 1

    def test_matching_is_maximum(self):
        # nearest-first would pair 100<->120 and leave 150 unmatched; the maximum is 2 pairs
        assert rpeak_agreement([100, 150], [60, 120], FS)["tp"] == 2

    def test_unsorted_input_and_empty_sides(self):
        assert rpeak_agreement([900, 100], [95, 905], FS)["tp"] == 2
        no_detections = rpeak_agreement([100, 200], [], FS)
        assert (no_detections["tp"], no_detections["fn"], no_detections["fp"]) == (0, 2, 0)
        assert no_detections["sensitivity"] == 0.0 and np.isnan(no_detections["ppv"])
        no_reference = rpeak_agreement([], [100], FS)
        assert np.isnan(no_reference["sensitivity"]) and no_reference["ppv"] == 0.0

    def test_equals_brute_force_maximum_matching(self):
        rng = np.random.default_rng(7)
        window = round(0.150 * FS)
        for _ in range(200):
            reference = np.sort(rng.choice(2000, size=rng.integers(0, 15), replace=False))
            detected = np.sort(rng.choice(2000, size=rng.integers(0, 15), replace=False))
            close = np.abs(reference[:, None] - detected[None, :]) <= window
            expected = int((maximum_bipartite_matching(csr_matrix(close.astype(np.int8))) >= 0).sum()) if close.size else 0
            result = rpeak_agreement(reference, detected, FS)
            assert result["tp"] == expected
            assert result["fn"] == len(reference) - expected
            assert result["fp"] == len(detected) - expected

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"reference": [[1, 2]], "detected": [1]}, "reference has shape"),
            ({"reference": [1.5], "detected": [1]}, "integer sample indices"),
            ({"reference": [-3], "detected": [1]}, "negative sample index"),
            ({"reference": [1], "detected": [1], "fs": 0}, "fs=0"),
            ({"reference": [1], "detected": [1], "tolerance_s": -0.1}, "tolerance_s"),
        ],
    )
    def test_bad_input(self, kwargs, message):
        kwargs = {"fs": FS, **kwargs}
        with pytest.raises(EcgDataError, match=message):
            rpeak_agreement(**kwargs)


def test_beat_symbols_and_beat_samples():
    assert BEAT_SYMBOLS == set("NLRejAaJSVEF/fQ")
    samples = beat_samples([10, 20, 30, 40, 50], ["+", "N", "~", "V", "/"])
    assert samples.tolist() == [20, 40, 50]
    with pytest.raises(EcgDataError, match="same length"):
        beat_samples([1, 2], ["N"])


# ----------------------------------------------------------------------------- detection


class TestDetectRpeaks:
    def test_nan_in_signal(self):
        signal = np.zeros(int(10 * FS))
        signal[1234] = np.nan
        with pytest.raises(EcgDataError, match=r"rec-x: signal has 1 NaN/inf sample\(s\), first at sample 1234"):
            detect_rpeaks(signal, FS, source="rec-x")

    def test_nan_through_evaluate_names_the_record(self):
        signal = np.zeros(int(10 * FS))
        signal[-1] = np.nan
        with pytest.raises(EcgDataError, match="record 'broken'.*NaN"):
            evaluate_detector([("broken", signal, FS, np.array([100]))])

    @pytest.mark.parametrize(
        ("signal", "kwargs", "message"),
        [
            (np.zeros((100, 2)), {}, "expected one lead"),
            (np.zeros(100), {}, "expected at least 1 s"),
            (np.zeros(1000), {"method": "pan-tompkins"}, "method='pan-tompkins'"),
            (np.zeros(1000), {"fs": -1}, "fs=-1"),
            (np.array(["a"] * 1000), {}, "expected a numeric"),
        ],
    )
    def test_bad_input(self, signal, kwargs, message):
        kwargs = {"fs": FS, **kwargs}
        with pytest.raises(EcgDataError, match=message):
            detect_rpeaks(signal, **kwargs)

    def test_flat_signal_has_no_peaks(self):
        peaks = detect_rpeaks(np.zeros(int(10 * FS)), FS)
        assert peaks.dtype == np.int64 and peaks.size == 0

    def test_refinement_tightens_timing_without_changing_150ms_agreement(self, mitdb):
        # Record 119, first 120 s (measured): 130 beats; at 150 ms both variants are
        # perfect; at 50 ms XQRS alone matches 110, refined 130 (its 20 bigeminal ectopic
        # beats are marked > 50 ms off by XQRS).
        _, signal, fs, reference = load_mitdb(mitdb, "119")
        raw = detect_rpeaks(signal, fs, refine=False)
        refined = detect_rpeaks(signal, fs)
        assert rpeak_agreement(reference, raw, fs)["tp"] == rpeak_agreement(reference, refined, fs)["tp"] == 130
        assert rpeak_agreement(reference, refined, fs, 0.05)["tp"] >= rpeak_agreement(reference, raw, fs, 0.05)["tp"] + 15
        assert np.all(np.abs(refined[:, None] - raw[None, :]).min(axis=1) <= round(0.05 * fs))


# ---------------------------------------------------------------------------- evaluation


class TestEvaluateDetectorOnMitdb:
    def test_table_layout(self, evaluation, mitdb_120s):
        assert list(evaluation.columns) == ["record_id", "tp", "fn", "fp", "sensitivity", "ppv"]
        assert evaluation["record_id"].tolist() == [r[0] for r in mitdb_120s] + ["ALL"]
        per_record, total = evaluation.iloc[:-1], evaluation.iloc[-1]
        for column in ("tp", "fn", "fp"):
            assert total[column] == per_record[column].sum()
        assert total["sensitivity"] == pytest.approx(total["tp"] / (total["tp"] + total["fn"]))
        assert total["ppv"] == pytest.approx(total["tp"] / (total["tp"] + total["fp"]))
        # reference beats beyond the first 120 s were dropped
        n_reference = sum(int((r[3] < SECONDS * FS).sum()) for r in mitdb_120s)
        assert total["tp"] + total["fn"] == n_reference

    def test_pooled_agreement_floors(self, evaluation):
        total = evaluation.set_index("record_id").loc["ALL"]
        assert total["sensitivity"] > SENSITIVITY_FLOOR
        assert total["ppv"] > PPV_FLOOR

    def test_per_record_sanity(self, evaluation):
        table = evaluation.set_index("record_id")
        # record 100: clean normal sinus rhythm, 148 beats in 120 s, all found, nothing extra
        assert table.loc["100", ["tp", "fn", "fp"]].tolist() == [148, 0, 0]
        # 102 (paced, V5 lead) and 231 are also perfect in the measurement
        assert table.loc["102", "sensitivity"] == table.loc["102", "ppv"] == 1.0
        per_record = table.drop(index="ALL")
        near_perfect = (per_record["sensitivity"] >= 0.99) & (per_record["ppv"] >= 0.99)
        assert near_perfect.sum() >= NEAR_PERFECT_RECORDS_FLOOR
        assert (per_record["sensitivity"] > 0.7).all()

    def test_max_seconds_crops_signal_and_reference(self, mitdb):
        record = load_mitdb(mitdb, "100", seconds=60.0)
        table = evaluate_detector([record], max_seconds=30.0).set_index("record_id")
        n_reference_30s = int((record[3] < 30.0 * FS).sum())
        assert n_reference_30s < len(record[3])
        assert table.loc["100", "tp"] + table.loc["100", "fn"] == n_reference_30s
        assert table.loc["100", "fp"] == 0

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [({"max_seconds": 0}, "max_seconds=0"), ({"n_jobs": 0}, "n_jobs=0"), ({"tolerance_s": "x"}, "tolerance_s")],
    )
    def test_bad_parameters(self, kwargs, message):
        with pytest.raises(EcgDataError, match=message):
            evaluate_detector([], **kwargs)

    def test_bad_records(self):
        signal = np.zeros(int(5 * FS))
        with pytest.raises(EcgDataError, match=r"records\[0\]"):
            evaluate_detector([("only-two", signal)])
        with pytest.raises(EcgDataError, match="appears twice"):
            evaluate_detector([("a", signal, FS, []), ("a", signal, FS, [])])
        with pytest.raises(EcgDataError, match="reserved"):
            evaluate_detector([("ALL", signal, FS, [])])

    def test_no_records(self):
        table = evaluate_detector([])
        assert table["record_id"].tolist() == ["ALL"]
        assert table.iloc[0][["tp", "fn", "fp"]].tolist() == [0, 0, 0]
