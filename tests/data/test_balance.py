import numpy as np
import pytest

from ecg_pipeline.data.balance import balance_training_set, balanced_subset, cap_per_class
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.errors import EcgDataError


@pytest.fixture(scope="module")
def parts(kachuee_beats):
    return split_beats(kachuee_beats, seed=0)


def test_upsample_equalises_classes_with_real_beats(parts):
    train = parts["train"]
    out = balance_training_set(train, method="upsample", seed=0)
    counts = np.bincount(out["y"])
    assert (counts == np.bincount(train["y"]).max()).all()
    assert not out["synthetic"].any()
    # Every upsampled beat is a copy of a training beat: same (record, sample) keys.
    train_keys = set(zip(train["record_id"].tolist(), train["r_sample"].tolist()))
    assert set(zip(out["record_id"].tolist(), out["r_sample"].tolist())) == train_keys


def test_smote_reaches_target_and_flags_synthetic(parts):
    train = cap_per_class(parts["train"], 3000, seed=0)
    out = balance_training_set(train, method="smote", smote_target_per_class=3000, seed=0)
    assert (np.bincount(out["y"]) == 3000).all()
    n_new = out["y"].shape[0] - train["y"].shape[0]
    assert out["synthetic"].sum() == n_new > 0
    np.testing.assert_array_equal(out["x"][: train["y"].shape[0]], train["x"])
    assert out["x"][out["synthetic"]].min() >= 0 and out["x"][out["synthetic"]].max() <= 1
    # Seeded: the same seed gives the same synthetic beats.
    again = balance_training_set(train, method="smote", smote_target_per_class=3000, seed=0)
    np.testing.assert_array_equal(out["x"], again["x"])


def test_validation_and_test_are_never_resampled(parts, kachuee_beats):
    # The resampling node only receives the train split; the other two keep the split's counts.
    n = kachuee_beats["y"].shape[0]
    assert parts["validation"]["y"].shape[0] + parts["test"]["y"].shape[0] + parts["train"]["y"].shape[0] == n


def test_smote_refuses_a_class_smaller_than_k_plus_one(parts):
    train = cap_per_class(parts["train"], 200, seed=0)
    keep = np.flatnonzero(train["y"] != 3)[:]
    f_beats = np.flatnonzero(train["y"] == 3)[:4]
    from ecg_pipeline.data.splits import take

    tiny = take(train, np.sort(np.concatenate([keep, f_beats])))
    with pytest.raises(EcgDataError, match=r"SMOTE cannot grow class 'F': it has 4 training beats, k_neighbors=5"):
        balance_training_set(tiny, method="smote", smote_target_per_class=300)


def test_unknown_method_is_an_error(parts):
    with pytest.raises(EcgDataError, match=r"unknown resampling method 'adasyn'"):
        balance_training_set(parts["train"], method="adasyn")


def test_balanced_subset_is_the_rule_behind_cap_per_class(parts):
    train = parts["train"]
    y = train["y"]
    index = balanced_subset(y, 200, seed=3)
    assert (np.diff(index) > 0).all()
    counts = np.bincount(y[index], minlength=len(train["classes"]))
    np.testing.assert_array_equal(counts, np.minimum(np.bincount(y, minlength=len(counts)), 200))
    np.testing.assert_array_equal(index, balanced_subset(y, 200, seed=3))  # seeded
    assert not np.array_equal(index, balanced_subset(y, 200, seed=4))
    capped = cap_per_class(train, 200, seed=3)
    np.testing.assert_array_equal(capped["x"], train["x"][index])
    np.testing.assert_array_equal(balanced_subset(y, None), np.arange(y.shape[0]))
    with pytest.raises(EcgDataError, match="positive"):
        cap_per_class(train, 0)


@pytest.mark.parametrize("params, message", [
    ({"smote_k_neighbors": 0}, r"^SMOTE smote_k_neighbors=0: expected an integer >= 1"),
    ({"smote_k_neighbors": -3}, r"^SMOTE smote_k_neighbors=-3: expected an integer >= 1"),
    ({"smote_k_neighbors": 2.5}, r"^SMOTE smote_k_neighbors=2.5: expected an integer >= 1"),
    ({"smote_target_per_class": -100}, r"^SMOTE smote_target_per_class=-100: the target for every class is -100; "
                                       r"expected a beat count >= 0"),
    ({"smote_target_per_class": {"S": 50, "F": -1}}, r"^SMOTE smote_target_per_class=\{'S': 50, 'F': -1\}: "
                                                     r"the target for F is -1"),
])
def test_bad_smote_parameters_are_named_before_resampling(synthetic_beats, monkeypatch, params, message):
    import imblearn.over_sampling

    def no_smote(*args, **kwargs):
        raise AssertionError("SMOTE ran")

    monkeypatch.setattr(imblearn.over_sampling, "SMOTE", no_smote)
    beats = {**synthetic_beats(10), "synthetic": np.zeros(50, dtype=bool)}
    with pytest.raises(EcgDataError, match=message):
        balance_training_set(beats, method="smote", **params)


def test_smote_itself_names_its_own_parameter(synthetic_beats):
    from ecg_pipeline.data.balance import smote

    with pytest.raises(EcgDataError, match=r"^SMOTE k_neighbors=0: expected an integer >= 1"):
        smote({**synthetic_beats(10), "synthetic": np.zeros(50, dtype=bool)}, k_neighbors=0)


def test_extra_copies_index_adds_fixed_copies_per_class():
    from ecg_pipeline.data.balance import extra_copies_index

    y = np.array([0, 1, 3, 0, 3, 2])
    index = extra_copies_index(y, {3: 5, 1: 1})                  # Han et al.: 5 extra of ~ (3), 1 extra of A (1)
    assert index.tolist() == [0, 1, 1, 2, 2, 2, 2, 2, 2, 3, 4, 4, 4, 4, 4, 4, 5]
    assert np.bincount(y[index]).tolist() == [2, 2, 1, 12]       # N, O once; A twice; ~ six times
    assert extra_copies_index(y, {}).tolist() == list(range(6))
    with pytest.raises(EcgDataError, match=r"expected class index -> count >= 0"):
        extra_copies_index(y, {3: -1})
