"""The record-level noise stress test (data.mitdb.noise_stress) against PhysioNet's nst, on real records and noise.

The SNR checks measure the generated record with a reference written here from the text of nst(1) ("Signal-to-
noise ratios") and sigamp(1), one plain loop per measurement, not with the module's own functions: the gain is
read back from the record (least squares of the added term on the noise in each noisy segment), S from the clean
record's first 300 normal QRS complexes, N from the first 300 one-second chunks of the noise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg_pipeline.data.mitdb import read_mitdb, read_nstdb_noise
from ecg_pipeline.data.mitdb.noise_stress import (
    STRESS_SNRS_DB,
    nst_schedule,
    nst_snr_scale,
    schedule_mask,
    stress_record,
    stress_split,
)
from ecg_pipeline.data.splits import split_beats, take
from ecg_pipeline.errors import EcgDataError

FS = 360
NORMAL = set("NLRaJASj/QBenf")  # WFDB map1 NORMAL (ecgmap.h)


def reference_qrs_amplitude(signal, samples, symbols) -> float:
    """nst(1): peak-to-peak over 50 ms either side of each of the first 300 normal QRS annotations; drop the
    largest and smallest 5 %, average the rest."""
    amplitudes = []
    for t, s in zip(samples, symbols):
        if s in NORMAL and t - 18 >= 0 and t + 18 < len(signal):
            window = signal[t - 18 : t + 19]
            amplitudes.append(float(np.max(window) - np.min(window)))
        if len(amplitudes) == 300:
            break
    amplitudes.sort()
    k = len(amplitudes) // 20
    return float(np.mean(amplitudes[k : len(amplitudes) - k]))


def reference_noise_rms(noise) -> float:
    """nst(1): RMS about the mean of each of the first 300 one-second chunks, trimmed mean as above."""
    values = []
    for i in range(300):
        chunk = np.asarray(noise[i * FS : (i + 1) * FS], dtype=np.float64)
        if chunk.size < FS:
            break
        values.append(math.sqrt(float(np.mean((chunk - chunk.mean()) ** 2))))
    values.sort()
    k = len(values) // 20
    return float(np.mean(values[k : len(values) - k]))


def gain_read_back(clean, noisy, noise, segments):
    """Least squares of (noisy - clean) on [noise, 1] in each noisy segment: (gains, largest residual)."""
    added = np.asarray(noisy, dtype=np.float64) - np.asarray(clean, dtype=np.float64)
    gains, residual = [], 0.0
    for start, stop in segments:
        design = np.stack([noise[start:stop], np.ones(stop - start)], axis=1)
        coef, *_ = np.linalg.lstsq(design, added[start:stop], rcond=None)
        gains.append(coef[0])
        residual = max(residual, float(np.abs(design @ coef - added[start:stop]).max()))
    return np.array(gains), residual


@pytest.fixture(scope="module")
def records(shared_data):
    table = read_mitdb(shared_data / "mitdb", records=["100", "119"])
    return {row.record_id: row for row in table.itertuples()}


@pytest.fixture(scope="module")
def noise(shared_data):
    table = read_nstdb_noise(shared_data / "nstdb")
    return {(r.record_id, r.lead): np.asarray(r.signal, dtype=np.float64) for r in table.itertuples()}


@pytest.mark.parametrize("record", ["100", "119"])
def test_measured_snr_equals_the_requested_one(records, noise, record):
    """nst's definition: S from the record's QRS, N = a^2 x the noise record's trimmed RMS; a read off the record."""
    row, em = records[record], noise[("em", "noise1")]
    a_s, a_n = reference_qrs_amplitude(row.signal, row.ann_sample, row.ann_symbol), reference_noise_rms(em)
    for snr in STRESS_SNRS_DB:
        out = stress_record(row.signal, (row.ann_sample, row.ann_symbol), em, snr, record=record)
        gains, residual = gain_read_back(row.signal, out.signal, em, out.segments)
        assert gains.size == 7 and np.ptp(gains) <= 1e-4 * gains.mean()  # one gain for every noisy segment
        assert residual < 1e-4  # the added term is gain x noise + one offset per segment (float32 record)
        measured = 10 * math.log10((a_s**2 / 8) / (gains.mean() ** 2 * a_n**2))
        assert abs(measured - snr) < 0.5, (record, snr, measured)
        assert abs(measured - snr) < 0.01  # in fact exact up to the float32 output


def test_snr_in_the_noisy_segments_with_segment_calibration(records, noise):
    """calibration="segments" measures N on the noise that lands in the noisy segments: the SNR measured there,
    on the record alone (noisy - clean), equals the request; nst's own calibration on em puts 5.9 dB more noise
    there, because em channel 0 is quiet in its first five minutes (the stretch nst calibrates on)."""
    row, em = records["119"], noise[("em", "noise1")]
    a_s = reference_qrs_amplitude(row.signal, row.ann_sample, row.ann_symbol)
    for calibration, offset in (("segments", 0.0), ("nst", -5.86)):
        for snr in (24.0, 0.0, -6.0):
            out = stress_record(row.signal, (row.ann_sample, row.ann_symbol), em, snr, calibration=calibration)
            added = np.concatenate([(out.signal.astype(np.float64) - row.signal)[a:b] for a, b in out.segments])
            measured = 10 * math.log10((a_s**2 / 8) / reference_noise_rms(added) ** 2)
            assert abs(measured - (snr + offset)) < 0.05, (calibration, snr, measured)


def test_gain_follows_the_nst_formula(records, noise):
    """a = 10^(-SNR/20) sqrt(2)/4 A_s / A_n (nst.c), so 6 dB less SNR doubles the gain (x 1.995)."""
    row, em = records["100"], noise[("em", "noise1")]
    a_s, a_n = reference_qrs_amplitude(row.signal, row.ann_sample, row.ann_symbol), reference_noise_rms(em)
    gains = [nst_snr_scale(row.signal, (row.ann_sample, row.ann_symbol), em, s) for s in STRESS_SNRS_DB]
    np.testing.assert_allclose(gains, [10 ** (-s / 20) * math.sqrt(2) / 4 * a_s / a_n for s in STRESS_SNRS_DB],
                               rtol=1e-9)
    np.testing.assert_allclose(np.array(gains[1:]) / gains[:-1], 10 ** (6 / 20), rtol=1e-9)


def test_schedule_is_clean_five_minutes_then_alternating_two_minute_segments(records, noise):
    n = 650_000  # every MIT-BIH record: 30 min 5.6 s at 360 Hz
    segments = nst_schedule(n)
    starts = [(5 + 4 * k) * 60 * FS for k in range(7)]
    assert segments.tolist() == [[s, min(s + 120 * FS, n)] for s in starts]
    assert segments[-1].tolist() == [29 * 60 * FS, n]  # the last noisy segment runs to the record's end

    row, em = records["100"], noise[("em", "noise1")]
    out = stress_record(row.signal, (row.ann_sample, row.ann_symbol), em, 0.0)
    added = out.signal.astype(np.float64) - row.signal
    noisy = schedule_mask(n, segments)
    assert not np.any(added[: 5 * 60 * FS])  # clean learning period
    for start, stop in zip(segments[:-1, 1], segments[1:, 0]):  # clean segments: one constant offset each
        assert stop - start == 120 * FS and np.ptp(added[start:stop]) < 1e-5
    assert all(np.std(added[a:b]) > 0.1 for a, b in segments)  # noise on, at 0 dB about 0.3 mV RMS
    # nst's offsets: the added term does not step where the gain changes
    steps = np.abs(np.diff(added))
    boundaries = np.concatenate([segments[:, 0], segments[:-1, 1]])
    assert steps[boundaries - 1].max() <= steps[noisy[1:]].max()


def test_stressed_beats_pair_one_to_one_with_the_split(kachuee_beats, mitdb_table, noise):
    """The stressed test beats are the split's beats (same record, R peak, label, order), cut again from the noisy
    records; at a negligible noise level they are the clean beats bit for bit."""
    test = split_beats(kachuee_beats, seed=0)["test"]
    part = take(test, np.flatnonzero(np.isin(test["record_id"], ["100", "119", "208", "232"])))
    em = noise[("em", "noise1")]
    quiet = stress_split(mitdb_table, part, em, 300.0)
    np.testing.assert_array_equal(quiet["x"], part["x"])
    loud = stress_split(mitdb_table, part, em, 0.0)
    for key in ("y", "label", "record_id", "r_sample"):
        np.testing.assert_array_equal(loud[key], part[key])
    r_in_noise = np.array([schedule_mask(650_000, nst_schedule(650_000))[r] for r in part["r_sample"]])
    changed = np.abs(loud["x"] - part["x"]).max(axis=1) > 1e-3
    assert changed[r_in_noise].all()  # every beat in a noisy segment is changed ...
    assert not changed[part["r_sample"] < 5 * 60 * FS - 10 * FS].any()  # ... none in the learning period
    gains = {r: np.unique(loud["stressed_gain"][part["record_id"] == r]) for r in np.unique(part["record_id"])}
    assert all(g.size == 1 for g in gains.values())  # one gain per record, set by its own QRS amplitude
    assert len({float(g[0]) for g in gains.values()}) == len(gains)


def test_refusals_name_what_is_wrong(records, noise, mitdb_table, kachuee_beats):
    row, em = records["100"], noise[("em", "noise1")]
    with pytest.raises(EcgDataError, match="snr_db must be a finite number"):
        stress_record(row.signal, (row.ann_sample, row.ann_symbol), em, float("nan"))
    with pytest.raises(EcgDataError, match="unknown calibration 'first'"):
        stress_record(row.signal, (row.ann_sample, row.ann_symbol), em, 6.0, calibration="first")
    with pytest.raises(EcgDataError, match="record 100 has no NORMAL-class"):
        stress_record(row.signal, (row.ann_sample, np.full(row.ann_symbol.shape, "V")), em, 6.0, record="100")
    with pytest.raises(EcgDataError, match="no one-second window of non-zero RMS"):
        stress_record(row.signal, (row.ann_sample, row.ann_symbol), np.zeros(FS * 400), 6.0)
    test = split_beats(kachuee_beats, seed=0)["test"]
    with pytest.raises(EcgDataError, match=r"record\(s\) \['119'\]"):
        stress_split(mitdb_table[mitdb_table["record_id"] == "100"],
                     take(test, np.flatnonzero(np.isin(test["record_id"], ["100", "119"]))), em, 6.0)
