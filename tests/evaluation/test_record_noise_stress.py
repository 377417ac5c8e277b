"""Record-level noise stress of a real model (evaluation.noise_stress): a small MLP trained on real MIT-BIH beats,
scored on its test beats cut again from the records after nst added real ``em`` noise."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.data.mitdb import read_nstdb_noise
from ecg_pipeline.data.mitdb.noise_stress import STRESS_SNRS_DB
from ecg_pipeline.errors import EcgConfigError, EcgDataError
from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy
from ecg_pipeline.evaluation.noise_stress import in_noisy_segment, predict_beats, record_noise_stress


@pytest.fixture(scope="module")
def em(shared_data):
    table = read_nstdb_noise(shared_data / "nstdb", records=["em"])
    return np.asarray(table.loc[table["lead"] == "noise1", "signal"].iloc[0], dtype=np.float64)


@pytest.mark.slow  # stresses all 48 records six times
def test_balanced_accuracy_falls_as_snr_falls(trained_mitdb_mlp, mitdb_table, em):
    model, parts = trained_mitdb_mlp(1500, 3)
    test = parts["test"]
    table, correct = record_noise_stress(model, mitdb_table, test, em, snrs_db=STRESS_SNRS_DB,
                                         bootstrap=Bootstrap(resamples=200))
    assert table["condition"].tolist() == ["clean"] + [f"em {s:g} dB" for s in STRESS_SNRS_DB]
    assert correct.shape == (7, test["y"].shape[0])
    np.testing.assert_array_equal(correct[0], predict_beats(model, test["x"]) == test["y"])  # row 0: clean
    assert table["balanced_accuracy"].iloc[0] == pytest.approx(balanced_accuracy(test["y"], correct[0]))

    noisy = table["balanced_accuracy_noisy_segments"].to_numpy()
    assert noisy[0] > 0.6  # the model works on clean beats (0.72 after 3 epochs)
    assert np.all(np.diff(noisy) <= 0.02)  # never better with more noise (0.02: sampling wobble)
    assert noisy[-1] < noisy[0] - 0.2  # and far worse at -6 dB
    overall = table["balanced_accuracy"].to_numpy()
    assert overall[-1] < overall[0] - 0.1
    assert np.all(table["balanced_accuracy_low"] <= overall) and np.all(overall <= table["balanced_accuracy_high"])
    # beats outside the noisy segments move far less than those inside (only windows that straddle a boundary)
    inside = in_noisy_segment(mitdb_table, test)
    assert 0.25 < inside.mean() < 0.6
    flipped = correct[0] != correct[-1]
    assert flipped[inside].mean() > 3 * flipped[~inside].mean()


def test_refuses_bad_settings_before_any_work(trained_mitdb_mlp, mitdb_table, em):
    model, parts = trained_mitdb_mlp(1500, 3)
    with pytest.raises(EcgConfigError, match="snrs_db holds"):
        record_noise_stress(model, mitdb_table, parts["test"], em, snrs_db=[12, float("inf")])
    with pytest.raises(EcgConfigError, match="unknown calibration 'whole'"):
        record_noise_stress(model, mitdb_table, parts["test"], em, calibration="whole")
    beats = {k: v for k, v in parts["test"].items() if k != "r_sample"}
    with pytest.raises(EcgDataError, match="the split lacks 'r_sample'"):
        record_noise_stress(model, mitdb_table, beats, em)


def test_metrics_from_a_parameter_block_on_the_stored_record_table(trained_mitdb_mlp, mitdb_table, shared_data,
                                                                   tmp_path):
    """The node form: the record table as the catalog stores it (parquet), a conf-like block, JSON-ready metrics."""
    import json

    import pandas as pd

    from ecg_pipeline.data.splits import take
    from ecg_pipeline.evaluation.noise_stress import noise_stress_metrics

    model, parts = trained_mitdb_mlp(1500, 3)
    test = take(parts["test"], np.flatnonzero(np.isin(parts["test"]["record_id"], ["208", "119"])))
    mitdb_table[mitdb_table["record_id"].isin(["208", "119"])].to_parquet(tmp_path / "records.parquet")
    records = pd.read_parquet(tmp_path / "records.parquet")
    noise = read_nstdb_noise(shared_data / "nstdb", records=["ma"])
    metrics, outcomes = noise_stress_metrics(model, test, records, noise,
                                             {"noise_record": "ma", "snrs_db": [12, -6]}, {"scheme": "kachuee"})
    json.dumps(metrics, allow_nan=False)
    assert [row["condition"] for row in metrics["curve"]] == ["clean", "ma 12 dB", "ma -6 dB"]
    assert metrics["curve"][0]["snr_db"] is None and metrics["n"] == test["y"].shape[0] > 50
    assert outcomes["correct"].shape == (3, test["y"].shape[0])
    np.testing.assert_array_equal(outcomes["r_sample"], test["r_sample"])
    noisy = [row["balanced_accuracy_noisy_segments"] for row in metrics["curve"]]
    assert noisy[2] < noisy[0]
    with pytest.raises(EcgConfigError, match="unknown key\\(s\\) \\['snr_db'\\].*did you mean 'snrs_db'"):
        noise_stress_metrics(model, test, records, noise, {"snr_db": [12]})
    with pytest.raises(EcgConfigError, match="NSTDB noise em/noise1 is not in the noise table"):
        noise_stress_metrics(model, test, records, noise, {"noise_record": "em"})
