import numpy as np
import pytest

from ecg_pipeline.data.splits import DS1_RECORDS, DS2_RECORDS, split_beats
from ecg_pipeline.errors import EcgDataError

KEYS = ("train", "validation", "test")


def _ids(part):
    return set(zip(part["record_id"].tolist(), part["r_sample"].tolist()))


def test_random_split_matches_the_nsr_protocol(kachuee_beats):
    parts = split_beats(kachuee_beats, method="random", seed=0)
    n = kachuee_beats["y"].shape[0]
    sizes = {k: parts[k]["y"].shape[0] for k in KEYS}
    assert sum(sizes.values()) == n
    assert sizes["test"] == pytest.approx(0.2 * n, abs=2)
    assert sizes["validation"] == pytest.approx(0.2 * 0.8 * n, abs=2)
    ids = [_ids(parts[k]) for k in KEYS]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    # Stratified: every split keeps the class proportions to within a tenth of a point.
    overall = np.bincount(kachuee_beats["y"]) / n
    for k in KEYS:
        np.testing.assert_allclose(np.bincount(parts[k]["y"]) / sizes[k], overall, atol=1e-3)


def test_random_split_is_seeded(kachuee_beats):
    a = split_beats(kachuee_beats, seed=3)
    b = split_beats(kachuee_beats, seed=3)
    c = split_beats(kachuee_beats, seed=4)
    np.testing.assert_array_equal(a["test"]["r_sample"], b["test"]["r_sample"])
    np.testing.assert_array_equal(a["test"]["x"], b["test"]["x"])
    assert _ids(a["test"]) != _ids(c["test"])


def test_inter_patient_has_no_shared_record(kachuee_beats):
    parts = split_beats(kachuee_beats, method="inter_patient", seed=0)
    records = {k: set(parts[k]["record_id"]) for k in KEYS}
    assert not (records["train"] & records["validation"])
    assert not (records["train"] & records["test"]) and not (records["validation"] & records["test"])
    assert records["test"] == set(DS2_RECORDS)
    assert records["train"] | records["validation"] == set(DS1_RECORDS)
    for paced in ("102", "104", "107", "217"):
        assert all(paced not in r for r in records.values())
    # Validation records are chosen so that every class keeps most of its DS1 beats for training.
    train_counts = np.bincount(parts["train"]["y"], minlength=5)
    ds1_counts = train_counts + np.bincount(parts["validation"]["y"], minlength=5)
    present = ds1_counts > 0
    assert (train_counts[present] / ds1_counts[present] >= 0.5).all(), (train_counts, ds1_counts)


def test_unknown_split_is_an_error(kachuee_beats):
    with pytest.raises(EcgDataError, match=r"unknown split method 'leave_one_out'.*random.*inter_patient"):
        split_beats(kachuee_beats, method="leave_one_out")
    with pytest.raises(EcgDataError, match=r"test_fraction=1.5"):
        split_beats(kachuee_beats, test_fraction=1.5)
