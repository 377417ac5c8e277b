"""ECG-ATK-GAN's paper-protocol evaluation (evaluation.atk_gan) on the test-set schema attack_generation writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.atk_gan import (
    check_union,
    detection_rows,
    evasion_rows,
    fidelity_rows,
    flagged,
    protocol_rows,
)
from ecg_pipeline.models import build_model


@pytest.fixture(scope="module")
def union(gan_sets):
    return gan_sets(6, seed=2)    # 24 clean beats (N, S, V, F) and their FGSM copies


@pytest.fixture(scope="module")
def discriminator():
    torch.manual_seed(0)
    return build_model("atk_gan_discriminator", input_length=280, n_classes=4, width=4).eval()


class IdentityGenerator(nn.Module):
    """G(E'_x, E_y, z) = E'_x: the generator whose fidelity to its input is perfect."""

    n_classes = 4

    def forward(self, x, y, z=None):
        return x.reshape(x.shape[0], 1, -1)


def test_protocol_rows_follow_table_1(discriminator, union):
    rows = protocol_rows(discriminator, union, run="gan", batch_size=7)
    assert [r["set"] for r in rows] == ["clean", "fgsm"] and [r["beats"] for r in rows] == [24, 24]
    pred = discriminator(torch.from_numpy(union["x"])).argmax(1).numpy()
    for row in rows:
        sel = union["attack"] == row["set"]
        assert row["accuracy"] == pytest.approx(float((pred[sel] == union["y"][sel]).mean()))
        # accuracy is the support-weighted mean of the sensitivities (6 beats of each class)
        assert row["accuracy"] == pytest.approx(np.mean([row[f"{c}_sensitivity"] for c in "NSVF"]))
        assert all(0 <= row[f"{c}_specificity"] <= 1 for c in "NSVF")


def test_detection_on_clean_is_the_complement_of_its_false_positive_rate(discriminator, union):
    rows = {r["set"]: r for r in detection_rows(discriminator, union, run="gan")}
    clean, fgsm = rows["clean"], rows["fgsm"]
    assert clean["attacked_beats"] == 0 and np.isnan(clean["detection_rate"])
    assert clean["accuracy"] == pytest.approx(1 - clean["false_positive_rate"])
    assert clean["flagged"] == pytest.approx(clean["false_positive_rate"])
    flags = flagged(discriminator, union["x"])[union["attack"] == "fgsm"]
    attacked = union["attacked"][union["attack"] == "fgsm"]
    assert fgsm["attacked_beats"] == attacked.sum() > 0
    assert fgsm["detection_rate"] == pytest.approx(flags[attacked].mean())
    assert fgsm["flagged"] == pytest.approx(flags.mean())


def test_detection_needs_the_attack_head(union):
    cnn = build_model("kachuee_cnn", input_length=280, n_classes=4)
    with pytest.raises(EcgDataError, match="needs a three-head discriminator .* got KachueeCNN"):
        detection_rows(cnn, union, run="ce_atk_gan_cnn")


def test_the_fidelity_of_the_identity_generator_is_perfect_to_its_input(union):
    rows, examples = fidelity_rows(IdentityGenerator(), union, run="gan")
    by = {(r["set"], r["reference"]): r for r in rows}
    for name in ("clean", "fgsm"):
        assert by[(name, "input")]["mse"] == 0 and by[(name, "input")]["ssim"] == pytest.approx(1)
        assert by[(name, "input")]["cross_correlation"] == pytest.approx(1) and by[(name, "input")]["nrmse"] == 0
    assert by[("clean", "clean")] == {**by[("clean", "input")], "reference": "clean"}   # clean beats are their own E_x
    # against E_x, the FGSM beats are off by at most eps 0.01 per sample
    assert 0 < by[("fgsm", "clean")]["mse"] <= 1e-4 + 1e-9 and by[("fgsm", "clean")]["ssim"] < 1
    assert list(examples["set"]) == ["clean", "fgsm"] and examples["generated"].shape == (2, 280)
    assert union["attacked"][examples["row"][1]] and np.array_equal(examples["generated"][1], examples["x"][1])


def test_a_real_generator_is_imperfect_and_seeded(union):
    torch.manual_seed(0)
    generator = build_model("atk_gan_generator", input_length=280, n_classes=4, width=4)
    first, _ = fidelity_rows(generator, union, run="gan", seed=3)
    again, _ = fidelity_rows(generator, union, run="gan", seed=3)
    assert first == again
    assert all(r["mse"] > 0 and r["ssim"] < 1 and 0 < r["nrmse"] for r in first)


def test_evasion_rows_stay_in_the_ball_and_count_consistently(discriminator, union):
    clean = {"x": union["x_clean"][:24], "y": union["y"][:24], "classes": union["classes"]}
    rows = evasion_rows(discriminator, clean, run="gan", eps=0.01, steps=3, per_class=3)
    assert [(r["attack"], r["loss"]) for r in rows] == [("pgd", "ce"), ("pgd", "evasion"), ("apgd", "ce"),
                                                         ("apgd", "evasion")]
    for r in rows:
        assert r["beats"] == 12 and r["linf"] <= 0.01 + 1e-6
        assert r["accuracy"] <= r["clean_accuracy"] and 0 <= r["undetected_fooled"] <= r["fooled"] <= 1
        assert r["flagged_clean"] == rows[0]["flagged_clean"]


def test_a_test_union_out_of_schema_is_refused(union):
    with pytest.raises(EcgDataError, match=r"gan: the test union lacks \['attacked'\]"):
        check_union({k: v for k, v in union.items() if k != "attacked"}, "gan")
    odd = {**union, "attack": np.where(union["attack"] == "fgsm", "square", union["attack"])}
    with pytest.raises(EcgDataError, match=r"attack\(s\) \['square'\]; expected 'clean' and ECG-ATK-GAN's six"):
        check_union(odd, "gan")


def test_a_model_of_another_class_set_is_refused(union):
    five = build_model("atk_gan_discriminator", input_length=280, n_classes=5, width=4)
    with pytest.raises(EcgDataError, match="has 5 outputs, the beats to attack have 4 classes"):
        protocol_rows(five, union, run="gan")


def test_evasion_attacks_other_than_pgd_and_apgd_are_refused(discriminator, union):
    clean = {"x": union["x_clean"][:24], "y": union["y"][:24], "classes": union["classes"]}
    with pytest.raises(EcgDataError, match=r"gan: evasion attacks \['square'\]; expected some of \['pgd', 'apgd'\]"):
        evasion_rows(discriminator, clean, run="gan", eps=0.01, attacks=["square"])
