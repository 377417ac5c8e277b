"""ECG-ATK-GAN's data variant and ``attack_generation`` through real KedroSessions (ci env, real MIT-BIH records)."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.attacks.generation import ATK_GAN_ATTACKS
from ecg_pipeline.errors import EcgDataError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(module_project, processed_mitdb):
    processed_mitdb(module_project, "ingest_mitdb")
    module_project.run("data_atk_gan")
    module_project.run("attack_generation")
    return module_project


def test_variant_is_centred_aami4_smote_beside_the_untouched_nsr_variant(generated):
    catalog = generated.catalog()
    train = catalog.load("atk_gan.mitdb_train_balanced")
    test = catalog.load("atk_gan.mitdb_test")
    assert list(train["classes"]) == ["N", "S", "V", "F"] and train["x"].shape[1] == 280
    assert train["x"].min() >= 0.0 and train["x"].max() <= 1.0
    # ci: at most 60 beats per class, 64 % of them in training, SMOTE up to 60 on the training split only
    assert np.bincount(train["y"]).tolist() == [60, 60, 60, 60] and train["synthetic"].any()
    assert not test.get("synthetic", np.zeros(1, bool)).any() and np.bincount(test["y"]).max() <= 12
    assert not (generated.path / "data" / "03_primary" / "mitdb_beats.npz").exists()  # the NSR variant: not run


def test_attack_generation_writes_the_six_attacked_copies_and_their_union(generated):
    catalog = generated.catalog()
    clean = catalog.load("atk_gan.mitdb_train_balanced")
    union = catalog.load("atk_gan_train_set")
    assert set(union) >= {"x", "x_clean", "y", "attacked", "attack"}
    assert union["x"].dtype == np.float32 and union["y"].dtype == np.int64 and union["attacked"].dtype == bool
    per_attack = {a: int((union["attack"] == a).sum()) for a in ("clean", *ATK_GAN_ATTACKS)}
    # ci per_class: 8 for the gradient attacks, 2 for the decision-based ones, 4 classes
    assert per_attack == {"clean": 240, "fgsm": 32, "bim": 32, "pgd": 32, "cw_linf": 32, "boundary": 8,
                          "hopskipjump": 8}
    delta = np.abs(union["x"] - union["x_clean"]).max(axis=1)
    assert (union["attacked"] == (delta > 0)).all() and not union["attacked"][union["attack"] == "clean"].any()
    eps = np.where(union["attack"] == "cw_linf", 0.1, 0.01)
    assert (delta <= eps + 1e-6).all() and delta[union["attacked"] & (union["attack"] == "fgsm")].min() > 0.009
    fgsm = catalog.load("atk_gan.fgsm.test")
    np.testing.assert_array_equal(fgsm["x_clean"], catalog.load("atk_gan.mitdb_test")["x"][fgsm["source_index"]])
    summary = catalog.load("atk_gan_attack_summary")
    assert len(summary) == 18 and set(summary["split"]) == {"train", "validation", "test"}
    assert (summary["seconds"] > 0).all() and summary["accuracy_attacked"].le(summary["accuracy_clean"]).all()


def test_missing_generated_set_names_the_pipeline_that_produces_it():
    from ecg_pipeline.hooks import producers_of

    assert producers_of("atk_gan_train_set") == ["attack_generation"]
    assert producers_of("atk_gan.mitdb_train_balanced")[0] == "data_atk_gan"


def test_source_classifier_of_other_classes_is_refused_before_any_attack(generated):
    from ecg_pipeline.pipelines.declaration import forget_session_config

    try:
        with pytest.raises(EcgDataError, match=r"runs.atk_gan_source.model.*5 outputs.*4 classes"):
            generated.run("attack_generation", runtime_params={"runs": {"atk_gan_source": {"model": {"n_classes": 5}}}})
    finally:
        # the refusal comes while pipelines are built, before Kedro's run hooks that forget this session's
        # parameters: forget them here, or later registrations in this process would read them
        forget_session_config()
