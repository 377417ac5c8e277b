"""train_atk_gan through a real KedroSession (ci env): the E'_x sets built in memory in the schema that
attack_generation writes (clean + FGSM copies), saved through the catalog, the GAN trained, the discriminator,
generator and history versioned; a missing set names attack_generation; bad GAN parameters are named at
registration."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.declaration import read_declaration

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_gan(module_project, gan_sets):
    catalog = module_project.catalog()
    catalog.save("atk_gan_train_set", gan_sets(8, seed=0))      # 64 beats of 280 samples
    catalog.save("atk_gan_validation_set", gan_sets(4, seed=1))
    module_project.run("train_atk_gan")
    return module_project


def test_train_atk_gan_stores_discriminator_generator_and_history(trained_gan, gan_sets):
    catalog = trained_gan.catalog()
    discriminator = catalog.load("atk_gan.model")
    generator = catalog.load("atk_gan.generator")
    history = catalog.load("atk_gan.history")
    assert discriminator.meta["run"] == "atk_gan" and discriminator.meta["epochs"] == 2
    assert history["epoch"].tolist() == [1, 2] and history["selected"].sum() == 1
    assert {"train_d_adv", "train_g_adv", "train_mse", "train_atk", "train_ary", "val_accuracy"} <= set(history)
    selected = history[history["selected"]].iloc[0]
    assert selected["val_accuracy"] == history["val_accuracy"].max()
    beats = gan_sets(4, seed=1)
    x, y = torch.from_numpy(beats["x"]), torch.from_numpy(beats["y"])
    with torch.no_grad():
        logits = discriminator(x)
        generated = generator(x, y)
    assert logits.shape == (len(y), 4)
    # The stored discriminator is the selected epoch's: its validation accuracy is the one recorded.
    assert (logits.argmax(1) == y).float().mean().item() == pytest.approx(selected["val_accuracy"])
    assert generated.shape == (len(y), 1, 280) and 0 <= generated.min() and generated.max() <= 1
    assert trained_gan.versions("data/06_models/atk_gan_generator.pt") != []


def test_a_missing_attack_set_names_attack_generation(empty_project):
    with pytest.raises(EcgDataError, match=r"atk_gan_train_set \(run `kedro run --pipelines=attack_generation` first\)"):
        empty_project.run("train_atk_gan")
    assert empty_project.versions("data/06_models") == []  # nothing trained


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        ({"kappa": [1.0]}, r"'runs.atk_gan.objective.kappa': kappa must be 2 weights >= 0"),
        ({"kappa": [1.0, -1.05]}, r"'runs.atk_gan.objective.kappa': .*got \[1.0, -1.05\]"),
        ({"lambda_ary": -10.0}, r"'runs.atk_gan.objective.lambda_ary': lambda_ary .* >= 0, got -10.0"),
    ],
)
def test_bad_gan_parameters_are_named_at_registration(base_parameters, objective, expected):
    parameters = copy.deepcopy(base_parameters)
    parameters["runs"]["atk_gan"]["objective"].update(objective)
    with pytest.raises(EcgDataError, match=expected):
        read_declaration(parameters)


def test_the_base_run_is_the_papers_schedule(base_parameters):
    run = base_parameters["runs"]["atk_gan"]
    assert (run["optimizer"], run["lr"], run["optimizer_args"]["betas"][0], run["batch_size"], run["epochs"]) == (
        "adam", 1e-4, 0.5, 128, 100)
    assert run["objective"]["kappa"] == [1.0, 1.05]
    declaration = read_declaration(base_parameters)
    assert declaration.runs["atk_gan"].companions == ("generator",)
    assert declaration.families["atk_gan"].pipeline == "train_atk_gan"
    assert np.isclose(run["objective"]["lambda_atk"], 10) and np.isclose(run["objective"]["lambda_mse"], 1)
