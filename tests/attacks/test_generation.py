"""Attacked copies of a beat set (ECG-ATK-GAN's E'_x): real MIT-BIH beats, the shared small trained MLP."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.attacks.base import AttackError
from ecg_pipeline.attacks.generation import ATK_GAN_ATTACKS, attack_summary, attacked_set, union_of_sets
from ecg_pipeline.errors import EcgDataError

CLASSES = np.array(["N", "S", "V", "F", "Q"])


@pytest.fixture(scope="module")
def beats(beat_data):
    _, _, x_test, y_test = beat_data  # 100 test beats per class, [0, 1]
    return {"x": x_test[:, 0, :].numpy(), "y": y_test.numpy(), "classes": CLASSES}


def loss_of(model, x, y) -> np.ndarray:
    with torch.no_grad():
        return nn.functional.cross_entropy(model(torch.from_numpy(x)[:, None, :]), torch.from_numpy(y),
                                           reduction="none").numpy()


def test_fgsm_copy_moves_every_beat_by_eps_within_bounds_and_raises_the_loss(trained_mlp, beats):
    out = attacked_set(trained_mlp, beats, attack="fgsm", eps=0.01, per_class=20)
    assert out["x"].shape == (100, 187) and out["x"].dtype == np.float32
    assert np.bincount(out["y"]).tolist() == [20] * 5 and set(out["attack"]) == {"fgsm"}
    np.testing.assert_array_equal(out["x_clean"], beats["x"][out["source_index"]])
    delta = np.abs(out["x"] - out["x_clean"])
    inside = (out["x_clean"] > 0.01) & (out["x_clean"] < 0.99)  # where the [0, 1] bounds cannot clip
    moved = delta.max(axis=1) > 0
    assert delta.max() <= 0.01 + 1e-6 and moved.mean() > 0.5
    # a beat left as it was is one the model already gets wrong (the attack returns the first misclassified
    # iterate); it is not flagged as attacked
    assert (out["pred_clean"] != out["y"])[~moved].all() and (out["pred_clean"] == out["y"])[moved].all()
    np.testing.assert_array_equal(out["attacked"], moved)
    assert np.allclose(delta[moved][inside[moved]], 0.01, atol=1e-6)  # a sign step: every sample moved by eps
    assert (out["x"] >= 0).all() and (out["x"] <= 1).all()
    assert (loss_of(trained_mlp, out["x"], out["y"]) > loss_of(trained_mlp, out["x_clean"], out["y"]))[moved].mean() > 0.95
    assert np.array_equal(out["pred_clean"], trained_mlp(torch.from_numpy(out["x_clean"])[:, None]).argmax(1).numpy())


def test_same_seed_same_set_other_seed_other_subset(trained_mlp, beats):
    a = attacked_set(trained_mlp, beats, attack="pgd", eps=0.01, params={"steps": 3}, per_class=10, seed=1)
    b = attacked_set(trained_mlp, beats, attack="pgd", eps=0.01, params={"steps": 3}, per_class=10, seed=1)
    c = attacked_set(trained_mlp, beats, attack="pgd", eps=0.01, params={"steps": 3}, per_class=10, seed=2)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["source_index"], c["source_index"])


def test_decision_based_point_is_projected_onto_the_eps_ball(trained_mlp, beats):
    out = attacked_set(trained_mlp, beats, attack="hopskipjump", eps=0.02, params={"max_queries": 80}, per_class=2)
    delta = np.abs(out["x"] - out["x_clean"]).max(axis=1)
    assert out["x"].shape[0] == 10 and delta.max() <= 0.02 + 1e-6 and delta.max() > 0.0


def test_attack_outside_the_six_is_refused(trained_mlp, beats):
    with pytest.raises(AttackError, match=r"'square' is not one of ECG-ATK-GAN's six attacks"):
        attacked_set(trained_mlp, beats, attack="square", eps=0.01)
    assert ATK_GAN_ATTACKS == ("fgsm", "bim", "pgd", "cw_linf", "boundary", "hopskipjump")


def test_source_classifier_of_other_classes_is_refused(trained_mlp, beats):
    model = copy.deepcopy(trained_mlp)
    model.meta = {"classes": ["N", "S", "V", "F"]}
    with pytest.raises(EcgDataError, match=r"trained on classes \['N', 'S', 'V', 'F'\].*\['N', 'S', 'V', 'F', 'Q'\]"):
        attacked_set(model, beats, attack="fgsm", eps=0.01, per_class=2)
    model.meta = {}
    model.model_config = {"n_classes": 4}
    with pytest.raises(EcgDataError, match="has 4 outputs, the beats to attack have 5 classes"):
        attacked_set(model, beats, attack="fgsm", eps=0.01, per_class=2)


def test_union_and_summary(trained_mlp, beats):
    fgsm = attacked_set(trained_mlp, beats, attack="fgsm", eps=0.01, per_class=5)
    bim = attacked_set(trained_mlp, beats, attack="bim", eps=0.01, params={"steps": 5, "step_size": 0.003}, per_class=5)
    union = union_of_sets(beats, [fgsm, bim])
    assert union["x"].shape == (500 + 25 + 25, 187)
    assert int(union["attacked"].sum()) == int(fgsm["attacked"].sum() + bim["attacked"].sum()) > 25
    assert (union["attack"][:500] == "clean").all() and np.array_equal(union["x"][:500], union["x_clean"][:500])
    rows = {r["attack"]: r for r in attack_summary({("fgsm", "test"): fgsm, ("bim", "test"): bim},
                                                   {"fgsm": 0.01, "bim": 0.01})}
    correct = fgsm["pred_clean"] == fgsm["y"]
    assert rows["fgsm"]["n"] == 25 and rows["fgsm"]["accuracy_clean"] == pytest.approx(correct.mean())
    assert rows["fgsm"]["accuracy_attacked"] == pytest.approx((correct & (fgsm["pred"] == fgsm["y"])).mean())
    assert rows["bim"]["linf_max"] <= 0.01 + 1e-6 and rows["fgsm"]["linf_max"] == pytest.approx(0.01, abs=1e-6)
    assert np.isnan(rows["fgsm"]["found_linf_median"])  # only decision-based copies carry their search distance
    other = dict(bim, classes=np.array(["N", "S", "V", "F"]))
    with pytest.raises(EcgDataError, match="attacked set 'bim' has classes"):
        union_of_sets(beats, [fgsm, other])


def test_full_confidence_copies_as_declared_step_every_beat_and_push_further(trained_mlp, beats, project_root):
    """parameters_atk_gan.yml declares the transfer protocol's gradient attacks at confidence .inf (issue 24): every
    beat is stepped (a beat the source already gets wrong too, and it is flagged attacked), and a fooled beat leaves
    with a higher source loss than its first misclassified iterate."""
    import yaml

    declared = yaml.safe_load((project_root / "conf/base/parameters_atk_gan.yml").read_text())
    attacks = declared["attack_generation"]["attacks"]
    assert {a: attacks[a]["params"]["confidence"] for a in ("fgsm", "bim", "pgd", "cw_linf")} == dict.fromkeys(
        ("fgsm", "bim", "pgd", "cw_linf"), float("inf"))
    assert "confidence" not in declared["evaluate_atk_gan"]["evasion"]   # white-box on the deployed model: 0

    full = attacked_set(trained_mlp, beats, attack="fgsm", eps=0.01, params={"confidence": float("inf")}, per_class=20)
    wrong = full["pred_clean"] != full["y"]
    assert wrong.any() and full["attacked"][wrong].all()
    params = {"steps": 10, "step_size": 0.0025}
    first = attacked_set(trained_mlp, beats, attack="pgd", eps=0.01, params=params, per_class=20)
    pushed = attacked_set(trained_mlp, beats, attack="pgd", eps=0.01, params={**params, "confidence": float("inf")},
                          per_class=20)
    fooled = first["pred"] != first["y"]
    np.testing.assert_array_equal(pushed["pred"] != pushed["y"], fooled)   # the same beats fooled, further
    gain = loss_of(trained_mlp, pushed["x"], pushed["y"]) - loss_of(trained_mlp, first["x"], first["y"])
    assert (gain >= -1e-6).all() and np.median(gain[fooled]) > 0.1
