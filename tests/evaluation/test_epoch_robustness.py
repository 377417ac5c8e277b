"""The validation worst case a run computes each epoch (Rice et al. 2020's early stopping on a robust score): the
column, its agreement with the evaluation it reuses, selection on it, a run that is otherwise untouched, and the
checks of its settings. Real beats (a few hundred a class), a few epochs of the MLP."""

import numpy as np
import pytest
import torch

from ecg_pipeline.attacks.registry import get_attack
from ecg_pipeline.data.balance import cap_per_class
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import CrossEntropy
from ecg_pipeline.defenses.trainer import train
from ecg_pipeline.errors import EcgConfigError, EcgDataError
from ecg_pipeline.evaluation.epoch_robustness import COLUMN, EpochRobustness
from ecg_pipeline.evaluation.robustness import evaluate_attack
from ecg_pipeline.models import build_model
from ecg_pipeline.runtime import torch_threads

SMALL = {"per_class": 20, "params": {"steps": 10, "restarts": 1, "max_queries": 50,
                                     "attacks": ["apgd_ce", "apgd_t", "square"]}}


@pytest.fixture(scope="module")
def sets(kachuee_beats):
    parts = split_beats(cap_per_class(kachuee_beats, 200, seed=0), seed=0)
    return Batches(parts["train"]), Batches(parts["validation"])


def _fit(sets, epochs=3, **kw):
    torch.manual_seed(0)
    config = TrainingConfig(epochs=epochs, batch_size=64, seed=0, device="cpu", progress=False, num_threads=1, **kw)
    return train(build_model("mlp"), *sets, config, objective=CrossEntropy(), run_fingerprint="test")


def test_every_epoch_has_the_validation_worst_case_and_the_last_equals_the_evaluation_it_reuses(sets):
    model, history = _fit(sets, validation_attack=SMALL)
    scores = [row[COLUMN] for row in history]
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert all(row["val_robust_seconds"] > 0 for row in history)
    with torch_threads(1):  # as the run computed it (the tiny MLP thrashes on two threads of a busy machine)
        result, _ = evaluate_attack(model, sets[1], get_attack("autoattack"), grid=[0.0, 0.01, 0.03, 0.05, 0.1],
                                    attack_params=SMALL["params"], bounds=(0.0, 1.0), eps_max=0.1, per_class=20,
                                    seed=0, progress=False)
    assert scores[-1] == pytest.approx(result["acc_robust_balanced"], abs=1e-12)
    # eq. 8 is sqrt(clean x AUC) and the worst case only lowers the curve: never above the subset's clean score
    assert scores[-1] <= result["curve"][0]["balanced_accuracy"] + 1e-12
    assert result["curve"][-1]["balanced_accuracy"] < result["curve"][0]["balanced_accuracy"]  # the attack bites


def test_the_worst_case_column_leaves_the_trained_weights_bit_identical(sets):
    plain, history_plain = _fit(sets, epochs=2)
    watched, history_watched = _fit(sets, epochs=2, validation_attack=SMALL)
    for (name, p), q in zip(plain.named_parameters(), watched.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert [r["val_balanced_accuracy"] for r in history_plain] == [r["val_balanced_accuracy"] for r in history_watched]


def test_early_stopping_on_the_validation_worst_case_keeps_its_best_epoch(sets):
    model, history = _fit(sets, epochs=4, validation_attack=SMALL, select_best=COLUMN)
    best = int(np.argmax([row[COLUMN] for row in history]))  # the first epoch wins ties, as argmax
    assert [row["selected"] for row in history] == [i == best for i in range(4)]
    with torch_threads(1):
        again = EpochRobustness.from_params(SMALL, "test").score(model, sets[1], torch.device("cpu"))
    assert again[COLUMN] == pytest.approx(history[best][COLUMN], abs=1e-12)


def test_settings_are_checked_before_training_and_resolved_in_the_fingerprint(sets):
    with pytest.raises(EcgConfigError, match=r"validation_attack.grid.*eps_max 0.1"):
        TrainingConfig(validation_attack={"grid": [0.0, 0.01, 0.05]})
    with pytest.raises(EcgConfigError, match=r"validation_attack.params.stepz"):
        TrainingConfig(validation_attack={"params": {"stepz": 3}})
    with pytest.raises(EcgDataError, match=r"validation_attack.*unknown key\(s\) \['per_clas'\]"):
        TrainingConfig(validation_attack={"per_clas": 3})
    with pytest.raises(EcgDataError, match="tiny: validation_attack needs a validation set"):
        train(build_model("mlp"), sets[0], None, TrainingConfig(epochs=1, validation_attack={}, progress=False),
              objective=CrossEntropy(), run_name="tiny")
    defaults = EpochRobustness().as_dict()
    assert TrainingConfig(validation_attack={}).fingerprinted() == TrainingConfig(validation_attack=defaults).fingerprinted()
    assert "validation_attack" not in TrainingConfig().fingerprinted()  # runs without it keep their fingerprints
    assert TrainingConfig(validation_attack={}).fingerprinted() != TrainingConfig(validation_attack=SMALL).fingerprinted()
