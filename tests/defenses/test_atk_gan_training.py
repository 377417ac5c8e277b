"""ECG-ATK-GAN training: the losses of eqs. (1)-(5) on hand-computed numbers, the bad parameters, the
label-conditioned real/fake score of eq. (4) (what the objective gives it, that it trains, that it leaves every
existing fingerprint alone), and the GAN trained by the one trainer (both players step, the generator's state is
checkpointed: a killed run resumes bit-identically, and validation selects the epoch), with and without the
conditioned discriminator. Tiny beats (40 samples, widths 4) in memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.atk_gan import (AtkGan, arrhythmia_loss, attack_loss, combined_loss,
                                           discriminator_adversarial_loss, generator_adversarial_loss,
                                           real_fake_labels, reconstruction_loss)
from ecg_pipeline.defenses.checkpoints import fingerprint
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.fit import fit_with_companions
from ecg_pipeline.defenses.objectives import CrossEntropy, build_objective
from ecg_pipeline.defenses.trainer import CHECKPOINT_FILE, PARTIAL_CHECKPOINT_FILE, train
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model

LENGTH = 40
D_MODEL = {"name": "atk_gan_discriminator", "input_length": LENGTH, "width": 4}
D_CONDITIONED = {**D_MODEL, "conditioned": True}   # eq. (4)'s D(E'_x, E_y) by projection
GAN = {"name": "atk_gan", "generator": {"width": 4}}


# ------------------------------------------------------------------------------------------ losses


def test_eq1_weights_each_beat_by_kappa_of_its_true_class():
    logits = torch.zeros(2, 2)  # p = 0.5 each: CE = ln 2
    assert attack_loss(logits, torch.tensor([False, True]), (1.0, 1.05)).item() == pytest.approx(1.025 * math.log(2))
    assert attack_loss(logits, torch.tensor([True, True]), (1.0, 1.05)).item() == pytest.approx(1.05 * math.log(2))
    assert attack_loss(logits, torch.tensor([False, False]), (0.0, 1.0)).item() == 0


def test_eq2_to_eq4_on_hand_computed_numbers():
    assert arrhythmia_loss(torch.zeros(3, 4), torch.tensor([0, 1, 3])).item() == pytest.approx(math.log(4))
    assert reconstruction_loss(torch.zeros(2, 1, 3), torch.full((2, 3), 0.5)).item() == pytest.approx(0.25)
    # (D(real) - 1)^2 averages (0, 1); (D(generated) + 1)^2 averages (0, 4)
    assert discriminator_adversarial_loss(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])).item() == 2.5
    assert generator_adversarial_loss(torch.tensor([1.0, -1.0])).item() == 2.0


def test_eq5_weights():
    total = combined_loss(torch.tensor(1.0), mse=2.0, atk=3.0, ary=4.0, lambda_mse=1, lambda_atk=10, lambda_ary=10)
    assert total.item() == 1 + 2 + 30 + 40


@pytest.mark.parametrize(
    ("params", "key", "expected"),
    [
        ({"kappa": [1.0]}, "kappa", "2 weights >= 0"),
        ({"kappa": [1.0, 1.05, 1.1]}, "kappa", "2 weights >= 0"),
        ({"kappa": [1.0, -1.05]}, "kappa", r"got \[1.0, -1.05\]"),
        ({"kappa": "1, 1.05"}, "kappa", "2 weights >= 0"),
        ({"lambda_atk": -10}, "lambda_atk", "lambda_atk .* >= 0, got -10"),
        ({"lambda_mse": -0.1}, "lambda_mse", ">= 0, got -0.1"),
        ({"generator": {"widht": 4}}, "generator", r"unknown key\(s\) \['widht'\]"),
    ],
)
def test_bad_parameters_are_named(params, key, expected):
    with pytest.raises(EcgDataError, match=expected) as err:
        build_objective("atk_gan", **params)
    assert err.value.key == key


def test_the_paper_settings_are_the_defaults():
    gan = AtkGan()
    assert gan.kappa == (1.0, 1.05)
    assert gan.lambdas == {"lambda_atk": 10.0, "lambda_ary": 10.0, "lambda_mse": 1.0}


# ---------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_gan_sets(gan_sets):
    return gan_sets(10, length=LENGTH, seed=0), gan_sets(4, length=LENGTH, seed=1)  # 80 beats: 5 batches of 16


def _config(**kw) -> TrainingConfig:
    settings = dict(model=D_MODEL, objective=GAN, optimizer="adam", lr=1e-3, optimizer_args={"betas": [0.5, 0.999]},
                    epochs=2, batch_size=16, seed=0, device="cpu", progress=False, num_threads=1)
    return TrainingConfig(**{**settings, **kw})


def _fit(sets, checkpoints=None, **kw):
    return fit_with_companions(_config(**kw), *sets, checkpoints=checkpoints, run_name="atk_gan")


@pytest.mark.parametrize("d_model", [D_MODEL, D_CONDITIONED], ids=["plain", "conditioned"])
def test_both_players_learn_and_the_history_has_every_loss(tiny_gan_sets, d_model):
    model, meta, history, companions = _fit(tiny_gan_sets, model=d_model)
    generator = companions["generator"]
    assert set(companions) == {"generator"} and not generator.training
    assert generator.model_config["input_length"] == LENGTH and generator.model_config["n_classes"] == 4
    # fit seeds 0 and builds D; the trainer seeds 0 again and the objective builds G: their initial weights
    torch.manual_seed(0)
    d_init = build_model(**d_model)
    torch.manual_seed(0)
    g_init = build_model("atk_gan_generator", input_length=LENGTH, n_classes=4, width=4)
    for trained, init in ((model, d_init), (generator, g_init)):
        changed = [not torch.equal(p, q) for p, q in zip(trained.parameters(), init.parameters(), strict=True)]
        assert all(changed)  # every weight tensor of both players was stepped (the label embedding included)
    row = history[-1]
    for key in ("train_d_adv", "train_g_adv", "train_mse", "train_atk", "train_ary", "train_attack_accuracy",
                "val_accuracy"):
        assert np.isfinite(row[key]), key
    # The trainer's loss is the discriminator's side of eq. (5): L_adv(D) + 10 L_atk + 10 L_ary, batch-averaged.
    assert row["train_loss"] == pytest.approx(row["train_d_adv"] + 10 * row["train_atk"] + 10 * row["train_ary"])
    assert meta["epochs"] == 2


@pytest.mark.parametrize("d_model", [D_MODEL, D_CONDITIONED], ids=["plain", "conditioned"])
def test_a_killed_gan_run_resumes_bit_identically_generator_included(tiny_gan_sets, tmp_path, monkeypatch, d_model):
    uninterrupted = _fit(tiny_gan_sets, model=d_model)
    calls = []
    original = AtkGan.__call__

    def killed_in_epoch_2_batch_3(self, model, x, y, mask, epoch, **kw):
        calls.append(epoch)
        if calls.count(2) == 3:
            raise RuntimeError("killed")
        return original(self, model, x, y, mask, epoch, **kw)

    monkeypatch.setattr(AtkGan, "__call__", killed_in_epoch_2_batch_3)
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tiny_gan_sets, tmp_path, checkpoint_every_s=1e-6, model=d_model)
    monkeypatch.setattr(AtkGan, "__call__", original)
    (folder,) = tmp_path.iterdir()
    saved = torch.load(folder / PARTIAL_CHECKPOINT_FILE, weights_only=True)
    assert (saved["epoch"], saved["batch"]) == (1, 2) and "generator" in saved["objective"]
    resumed = _fit(tiny_gan_sets, tmp_path, checkpoint_every_s=1e-6, model=d_model)
    for a, b in ((uninterrupted[0], resumed[0]), (uninterrupted[3]["generator"], resumed[3]["generator"])):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(p, q), name
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(uninterrupted[2]) == strip(resumed[2])
    assert torch.load(folder / CHECKPOINT_FILE, weights_only=True)["epoch"] == 2


# ---------------------------------------------------------- eq. (4) with the label-conditioned score


def _random_batch(n: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_clean = torch.rand(n, 1, LENGTH, generator=g)
    return {"x": (x_clean + 0.01 * torch.randn(n, 1, LENGTH, generator=g)).clamp(0, 1), "x_clean": x_clean,
            "y": torch.arange(n) % 4, "attacked": torch.arange(n) % 2 == 1}


def _bound_gan(d_model: dict, seed: int = 0) -> tuple[torch.nn.Module, AtkGan]:
    torch.manual_seed(seed)
    model = build_model(**d_model)
    gan = build_objective(**GAN)
    gan.bind(model, torch.device("cpu"), lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999)))
    return model, gan


def test_the_objective_scores_real_and_generated_beats_with_their_labels():
    """With a conditioned discriminator, both sides of eq. (4) score D(., E_y): the real beat with its true label,
    the generated one with the label G was given (the same y); the label-free score would differ."""
    model, gan = _bound_gan(D_CONDITIONED)
    torch.nn.init.normal_(model.label_projection.weight, std=0.05, generator=torch.Generator().manual_seed(1))
    b = _random_batch()
    assert real_fake_labels(model, b["y"]) is b["y"] and real_fake_labels(build_model(**D_MODEL), b["y"]) is None
    generated, g_stats = gan.generator_step(model, b["x"], b["y"], b["x_clean"])
    with torch.no_grad():   # D is unchanged by G's step: its scores of the same beats (train-mode batch norm)
        scored_real, scored_generated = model.heads(b["x"], b["y"]).real_fake, model.heads(generated, b["y"]).real_fake
        label_free = model.heads(generated).real_fake
    assert g_stats["g_adv"] == pytest.approx(generator_adversarial_loss(scored_generated).item(), rel=1e-5)
    assert abs(g_stats["g_adv"] - generator_adversarial_loss(label_free).item()) > 1e-3
    _, _, d_stats = gan.discriminator_loss(model, b["x"], b["y"], b["attacked"], generated)
    assert d_stats["d_adv"] == pytest.approx(discriminator_adversarial_loss(scored_real, scored_generated).item(),
                                             rel=1e-5)


def test_training_steps_with_a_conditioned_discriminator_train_the_embedding():
    """A few real steps of the objective (G steps inside, D steps here as the trainer does) on one tiny random
    batch: the embedding's gradients are finite and not zero, and the discriminator's loss falls."""
    model, gan = _bound_gan(D_CONDITIONED)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    b = _random_batch()
    losses = []
    for step in range(8):
        model.train()
        loss, logits, stats = gan(model, b["x"], b["y"], None, 1, extra={"x_clean": b["x_clean"],
                                                                        "attacked": b["attacked"]})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad = model.label_projection.weight.grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, step
        assert np.isfinite(stats["d_adv"]) and np.isfinite(stats["g_adv"])
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses
    assert model.label_projection.weight.abs().sum() > 0   # it left zero


def test_the_option_leaves_every_existing_fingerprint_alone():
    """A run's fingerprint is its configuration as declared (``model`` as written, no default filled in): a run
    that does not name the option fingerprints as before it existed; the conditioned run is another run."""
    # the digest of this configuration at the commit before the option (git archive HEAD of 2026-12-07)
    assert fingerprint(_config().fingerprinted(epochs=False)) == "704679a854ba620406c4"
    assert _config().fingerprinted()["model"] == D_MODEL
    conditioned = _config(model=D_CONDITIONED)
    assert fingerprint(conditioned.fingerprinted(epochs=False)) != fingerprint(_config().fingerprinted(epochs=False))


def test_a_set_without_the_gan_arrays_is_refused_naming_them(tiny_gan_sets):
    train_set, validation_set = tiny_gan_sets
    without = {k: v for k, v in train_set.items() if k != "x_clean"}
    with pytest.raises(EcgDataError, match=r"^atk_gan: its training set: this training needs the per-sample arrays \['x_clean', 'attacked'\].*missing \['x_clean'\]"):
        _fit((without, validation_set))


def test_a_model_without_the_three_heads_is_refused_before_training(tiny_gan_sets):
    with pytest.raises(EcgDataError, match=r"three-head discriminator .* got MLP"):
        _fit(tiny_gan_sets, model={"name": "mlp", "input_length": LENGTH, "n_classes": 4})


def test_select_best_returns_the_model_of_the_chosen_epoch(synthetic_beats):
    """A column that peaks at epoch 1 (the training loss falls), so selection must go back two epochs: the
    returned model scores that epoch's validation accuracy, not the last one's."""
    train_set, validation_set = synthetic_beats(32, seed=0), synthetic_beats(6, seed=1)
    config = TrainingConfig(epochs=3, batch_size=16, seed=0, device="cpu", progress=False, lr=3e-3,
                            select_best="train_loss")
    torch.manual_seed(0)
    model, history = train(build_model("mlp"), Batches(train_set), Batches(validation_set), config,
                           objective=CrossEntropy())
    assert [row["selected"] for row in history] == [True, False, False]
    assert history[0]["val_accuracy"] != history[-1]["val_accuracy"]
    with torch.no_grad():
        predicted = model(torch.from_numpy(validation_set["x"])).argmax(1).numpy()
    assert (predicted == validation_set["y"]).mean() == pytest.approx(history[0]["val_accuracy"])


def test_select_best_names_a_column_the_history_lacks(synthetic_beats):
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", progress=False, select_best="val_acc")
    with pytest.raises(EcgDataError, match=r"select_best 'val_acc' is not in the epoch history"):
        train(build_model("mlp"), Batches(synthetic_beats(8)), Batches(synthetic_beats(4, seed=1)), config,
              objective=CrossEntropy(), run_name="tiny")


def test_select_best_on_validation_without_a_validation_set_is_refused_before_training(synthetic_beats):
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", progress=False, select_best="val_accuracy")
    with pytest.raises(EcgDataError, match=r"^tiny: select_best 'val_accuracy' needs a validation set"):
        train(build_model("mlp"), Batches(synthetic_beats(8)), None, config, objective=CrossEntropy(), run_name="tiny")


def test_select_best_is_fingerprinted_only_when_set():
    assert "select_best" not in TrainingConfig().fingerprinted()
    assert TrainingConfig(select_best="val_accuracy").fingerprinted()["select_best"] == "val_accuracy"
