import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.metrics import classification_metrics, confusion, robust_score


def test_metrics_on_a_hand_checked_case():
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    m = classification_metrics(y, p, 3, ["N", "S", "V"])
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    # Class S: tp 1, fp 2, fn 1 -> F1 = 2/5; specificity = 4 / 6.
    assert m["per_class"]["S"]["f1"] == pytest.approx(0.4)
    assert m["per_class"]["S"]["specificity"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx(np.mean([2 * 3 / (2 * 3 + 1 + 1), 0.4, 2 / 3]))
    assert confusion(y, p, 3).sum() == 8


def test_balanced_accuracy_equals_accuracy_on_a_class_balanced_stream():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 200)
    p = np.where(rng.random(1000) < 0.8, y, rng.integers(0, 5, 1000))
    m = classification_metrics(y, p, 5)
    assert m["balanced_accuracy"] == pytest.approx(m["accuracy"])


def test_robust_score_is_eq8():
    eps = [0, 0.01, 0.03, 0.05, 0.1, 0.2]
    acc = [0.9, 0.8, 0.6, 0.4, 0.2, 0.0]
    r = robust_score(eps, acc, eps_max=0.1)
    auc = (0.01 * (0.9 + 0.8) / 2 + 0.02 * (0.8 + 0.6) / 2 + 0.02 * (0.6 + 0.4) / 2 + 0.05 * (0.4 + 0.2) / 2) / 0.1
    assert r["auc"] == pytest.approx(auc)
    assert r["robust"] == pytest.approx(np.sqrt(0.9 * auc))
    assert robust_score([0, 0.1], [0.5, 0.5], 0.1)["robust"] == pytest.approx(0.5)


def test_bad_inputs():
    with pytest.raises(EcgDataError, match="must start at 0"):
        robust_score([0.01, 0.1], [0.5, 0.4], 0.1)
    with pytest.raises(EcgDataError, match="eps_max=0.05 must be a grid point"):
        robust_score([0, 0.1], [0.5, 0.4], 0.05)
    with pytest.raises(EcgDataError, match="outside the class set"):
        confusion([0, 3], [0, 1], 3)


def test_cinc2017_f1_is_the_challenge_mean_over_n_a_o():
    from ecg_pipeline.evaluation.metrics import cinc2017_f1

    # N, A, O, ~ = 0..3; hand-checked: F1_N = 2*2/(2*2+1+0) = 0.8, F1_A = 2/(2+0+1) = 2/3, F1_O = 2/(2+1+1) = 0.5
    y_true = np.array([0, 0, 1, 1, 2, 2, 3])
    y_pred = np.array([0, 0, 1, 2, 2, 3, 0])
    m = classification_metrics(y_true, y_pred, 4, ["N", "A", "O", "~"])
    assert m["cinc2017_f1"] == pytest.approx((0.8 + 2 / 3 + 0.5) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0.5 + 0.0) / 4)   # ~ counts in macro F1, not in the challenge's
    assert "cinc2017_f1" not in classification_metrics(y_true, y_pred, 4)  # no class names: not a CinC set
    with pytest.raises(EcgDataError, match=r"cinc2017_f1: the classes \['O'\] are missing"):
        cinc2017_f1({"N": 1.0, "A": 1.0})
