"""The evaluation entry point on a tiny model and synthetic beats (fast tier): the spec's defaults and
checks, the curve's properties, noise preparation, class checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation import AttackSpec, diagnostics, evaluate


@pytest.fixture(scope="module")
def tiny(synthetic_beats):
    """An MLP fitted for a few steps on synthetic beats (mostly correct clean, breakable by PGD)."""
    from ecg_pipeline.defenses import TrainingConfig, fit

    data = synthetic_beats(30)
    config = TrainingConfig(model={"name": "mlp"}, epochs=8, batch_size=32, progress=False, device="cpu")
    model, meta, _ = fit(config, data, None, checkpoints=None, run_name="tiny")
    model.meta = meta
    return model, synthetic_beats(8, seed=1)


def test_spec_defaults_and_validation():
    spec = AttackSpec.from_params({"grid": [0, 0.05], "eps_max": 0.05}, "pgd")
    assert (spec.attack, spec.grid, spec.batch_size, spec.seed, spec.per_class) == ("pgd", (0.0, 0.05), 512, 0, None)
    with pytest.raises(EcgDataError, match=r"'attacks.pgd': unknown key\(s\) \['step'\]"):
        AttackSpec.from_params({"grid": [0, 0.05], "step": 3}, "pgd")
    with pytest.raises(EcgDataError, match=r"'attacks.pgd': missing required key\(s\) \['grid'\]"):
        AttackSpec.from_params({}, "pgd")
    with pytest.raises(EcgDataError, match=r"'attacks.pgd.eps_max': 0.1 must be a positive grid point"):
        AttackSpec.from_params({"grid": [0, 0.05], "eps_max": 0.1}, "pgd")
    with pytest.raises(EcgDataError, match=r"'attacks.pgd.per_class': expected a positive integer or null, got 0"):
        AttackSpec.from_params({"grid": [0, 0.05], "per_class": 0}, "pgd")


def test_pgd_curve_is_monotone_bounded_and_summarised(tiny):
    model, data = tiny
    spec = AttackSpec.from_params({"grid": [0, 0.02, 0.1], "eps_max": 0.1, "bounds": [0, 1], "progress": False,
                                   "params": {"steps": 10, "step_size": 0.02}}, "pgd")
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    metrics, examples = evaluate(model, data, spec, name="tiny.pgd")
    accuracy = [point["balanced_accuracy"] for point in metrics["curve"]]
    assert accuracy[0] > 0.6 and accuracy == sorted(accuracy, reverse=True) and accuracy[-1] < accuracy[0]
    assert 0 < metrics["acc_robust_balanced"] <= accuracy[0]
    assert metrics["run"] == "tiny.pgd" and metrics["attack"] == "pgd" and metrics["n"] == 40
    assert metrics["model"]["run"] == "tiny" and list(examples["classes"]) == ["N", "S", "V", "F", "Q"]
    delta = examples["x_adv_2"] - examples["x_clean"]
    assert np.abs(delta).max() <= 0.1 + 1e-6 and examples["x_adv_2"].min() >= 0 and examples["x_adv_2"].max() <= 1
    for key, value in model.state_dict().items():
        assert torch.equal(weights[key], value)  # the attack never trains the model


def test_real_noise_takes_the_record_from_the_noise_table(tiny):
    model, data = tiny
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"record_id": ["em", "ma"], "lead": ["noise1", "noise1"], "fs": [360.0, 360.0],
                          "signal": [rng.standard_normal(36_000), np.zeros(36_000)]})
    spec = AttackSpec.from_params({"attack": "real_noise", "grid_param": "snr_db", "grid": [24, -6], "progress": False,
                                   "noise_record": "em", "params": {"definition": "nst", "r_index": 0}}, "real_noise_em")
    metrics, _ = evaluate(model, data, spec, name="tiny.real_noise_em", noise_table=table)
    assert metrics["params"]["fs"] == 125.0 and "noise" not in metrics["params"]
    assert metrics["curve"][1]["balanced_accuracy"] <= metrics["curve"][0]["balanced_accuracy"]
    with pytest.raises(EcgDataError, match=r"NSTDB noise bw/noise1 is not in the noise table"):
        evaluate(model, data, dataclasses.replace(spec, noise_record="bw"), name="tiny.real_noise_bw", noise_table=table)
    with pytest.raises(EcgDataError, match=r"no noise table was given"):
        evaluate(model, data, spec, name="tiny.real_noise_em")


def test_classes_of_the_model_and_the_split_must_agree(tiny, synthetic_beats):
    model, _ = tiny
    other = synthetic_beats(4, classes=("N", "S", "V", "Q", "F"))
    spec = AttackSpec.from_params({"grid": [0.0], "progress": False}, "fgsm")
    with pytest.raises(EcgDataError, match=r"trained on classes \['N', 'S', 'V', 'F', 'Q'\], the evaluation set has"):
        evaluate(model, other, spec, name="tiny.fgsm")


def test_a_beat_misclassified_clean_is_never_counted_robust(tiny):
    """Audit fix: robust accuracy was plain accuracy on x_adv, so a perturbation that fixed a wrong beat
    counted it as robust. Here the 'attack' replaces every beat by a clean beat of its own class."""
    from ecg_pipeline.data.batches import Batches
    from ecg_pipeline.evaluation.robustness import evaluate_attack

    model, data = tiny
    y = data["y"].copy()
    y[:4] = (y[:4] + 1) % 5  # four beats the model now gets wrong clean
    batches = Batches({**data, "y": y})
    correct = torch.as_tensor(model(batches.x).argmax(1) == batches.y)
    prototype = {int(c): batches.x[(batches.y == c) & correct][0] for c in batches.y.unique()}

    def fixing_attack(model, x, y, eps, **_):
        return torch.stack([prototype[int(c)] for c in y]) if eps > 0 else x

    metrics, examples = evaluate_attack(model, batches, fixing_attack, grid=[0.0, 0.1], progress=False)
    clean, attacked = (row["accuracy"] for row in metrics["curve"])
    assert clean < 1.0 and attacked == pytest.approx(clean)
    wrong = examples["pred"][0] != examples["subset_y"]
    np.testing.assert_array_equal(examples["pred"][1][wrong], examples["pred"][0][wrong])


class Quantised(torch.nn.Module):
    """A deliberately gradient-masked model: ``model`` behind a step function (inputs rounded to 0.1),
    so every input gradient is exactly zero while the decision is unchanged for small noise."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.meta = getattr(model, "meta", {})

    def forward(self, x):
        return self.inner(torch.round(x * 10) / 10)


def _autoattack_spec(**extra):
    return AttackSpec.from_params({"attack": "autoattack", "grid": [0.0, 0.05, 0.3], "eps_max": 0.05,
                                   "bounds": [0, 1], "progress": False, "diagnostics": True,
                                   "diagnostics_per_class": 4,
                                   "params": {"steps": 10, "max_queries": 300}, **extra}, "autoattack")


def test_masking_flags_fire_on_a_masked_model_and_stay_quiet_on_a_plain_one(tiny):
    model, data = tiny
    quiet, _ = evaluate(model, data, _autoattack_spec(), name="tiny.autoattack")
    assert diagnostics.raised(quiet["flags"]) == []
    masked, examples = evaluate(Quantised(model), data, _autoattack_spec(), name="masked.autoattack")
    raised = diagnostics.raised(masked["flags"])
    assert "zero_input_gradients" in raised and "gradient_free_beats_white_box" in raised
    assert (examples["broken_by"] == 2).any()  # only Square (index 2 of the ensemble) breaks the masked model


def test_the_transfer_check_catches_a_model_that_only_hides_its_gradients(tiny):
    model, data = tiny
    masked, _ = evaluate(Quantised(model), data, _autoattack_spec(params={"steps": 10, "max_queries": 300,
                                                                           "attacks": ["apgd_ce", "apgd_t"]}),
                         name="masked.autoattack", reference=model, reference_name="tiny")
    assert "transfer_beats_white_box" in diagnostics.raised(masked["flags"])


@pytest.mark.parametrize("attack, params, doubled", [
    ("autoattack", {"steps": 10}, {"steps": 20, "restarts": 2, "max_queries": 10000}),
    ("fab_t", {"restarts": 2, "alpha_max": 0.1}, {"steps": 200, "restarts": 4, "alpha_max": 0.1}),
    ("sap", {}, {"steps": 80, "pgd_steps": 40}),
    ("hopskipjump", {"max_queries": 100}, {"max_queries": 200}),
    ("fgsm", {"loss": "ce"}, {"loss": "ce"}),
])
def test_the_more_effort_check_doubles_the_keys_each_algorithm_declares(attack, params, doubled):
    from ecg_pipeline.attacks.registry import effort_keys, get_attack
    from ecg_pipeline.evaluation.evaluate import _doubled_effort

    assert _doubled_effort(get_attack(attack), params, effort_keys(attack)) == doubled
