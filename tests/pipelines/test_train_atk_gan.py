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
def trained_gan(module_project, processed_mitdb):
    """The chain on real MIT-BIH records (ci env): data_atk_gan (stored by the session's run of it) ->
    attack_generation -> train_atk_gan."""
    processed_mitdb(module_project, "data_atk_gan")
    module_project.run("attack_generation")
    module_project.run("train_atk_gan")
    return module_project


@pytest.fixture(scope="module")
def evaluated_gan(trained_gan):
    """... -> the baselines trained -> the adaptive attacks (attack template) -> evaluate_atk_gan -> report_atk_gan."""
    from ecg_pipeline.pipelines.declaration import load_declaration

    baselines = ["ce_atk_gan_cnn", "adv_atk_gan_cnn"]
    trained_gan.run(["train_ce", "train_adv"], node_names=[f"{run}.train" for run in baselines])
    declaration = load_declaration(trained_gan.path / "conf", env="ci")
    attacks = [f"{run}.{attack}.evaluate" for run in ["atk_gan", *baselines]
               for attack in declaration.attacks_for(declaration.runs[run])]
    trained_gan.run("attack", node_names=attacks)
    trained_gan.run("evaluate_atk_gan")
    trained_gan.run("report_atk_gan")
    return trained_gan


def test_train_atk_gan_stores_discriminator_generator_and_history(trained_gan):
    catalog = trained_gan.catalog()
    discriminator = catalog.load("atk_gan.model")
    generator = catalog.load("atk_gan.generator")
    history = catalog.load("atk_gan.history")
    assert discriminator.meta["run"] == "atk_gan" and discriminator.meta["epochs"] == 2
    assert history["epoch"].tolist() == [1, 2] and history["selected"].sum() == 1
    assert {"train_d_adv", "train_g_adv", "train_mse", "train_atk", "train_ary", "val_accuracy"} <= set(history)
    selected = history[history["selected"]].iloc[0]
    assert selected["val_accuracy"] == history["val_accuracy"].max()
    beats = catalog.load("atk_gan_validation_set")
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
    with pytest.raises(EcgDataError, match=r"atk_gan_train_set \(run `kedro run --pipelines=attack_generation --env=ci[^`]*` first\)"):
        empty_project.run("train_atk_gan")
    assert empty_project.versions("data/06_models") == []  # nothing trained


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        ({"kappa": [1.0]}, r"'runs.atk_gan.objective.kappa': kappa must be 2 weights >= 0"),
        ({"kappa": [1.0, -1.05]}, r"'runs.atk_gan.objective.kappa': .*got \[1.0, -1.05\]"),
        ({"lambda_ary": -10.0}, r"'runs.atk_gan.objective.lambda_ary': lambda_ary .* >= 0, got -10.0"),
        ({"lambda_atk": -1.0}, r"'runs.atk_gan.objective.lambda_atk': lambda_atk .* >= 0, got -1.0"),
        ({"lambda_mse": -0.5}, r"'runs.atk_gan.objective.lambda_mse': lambda_mse .* >= 0, got -0.5"),
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


SETS = ["clean", "fgsm", "bim", "pgd", "cw_linf", "boundary", "hopskipjump"]


def test_evaluate_atk_gan_judges_the_gan_and_baselines_on_the_papers_protocol(evaluated_gan):
    catalog = evaluated_gan.catalog()
    test = catalog.load("atk_gan_test_set")
    for run in ("atk_gan", "ce_atk_gan_cnn", "adv_atk_gan_cnn"):
        protocol = catalog.load(f"atk_gan_eval.{run}.protocol")
        assert protocol["set"].tolist() == SETS
        assert protocol["beats"].tolist() == [int((test["attack"] == s).sum()) for s in SETS]
        assert protocol[["accuracy", "N_sensitivity", "F_specificity"]].stack().between(0, 1).all()
        support = {c: [int(((test["attack"] == s) & (test["y"] == i)).sum()) for s in SETS] for i, c in enumerate("NSVF")}
        weighted = sum(protocol[f"{c}_sensitivity"].fillna(0) * support[c] for c in "NSVF") / protocol["beats"]
        np.testing.assert_allclose(protocol["accuracy"], weighted)   # accuracy = support-weighted sensitivity
    detection = catalog.load("atk_gan_eval.detection").set_index("set")
    assert detection.index.tolist() == SETS and detection.loc["clean", "attacked_beats"] == 0
    assert detection.loc["clean", "accuracy"] == pytest.approx(1 - detection.loc["clean", "false_positive_rate"])
    assert detection.loc["fgsm", "attacked_beats"] > 0 and 0 <= detection.loc["fgsm", "detection_rate"] <= 1
    fidelity = catalog.load("atk_gan_eval.fidelity")
    assert len(fidelity) == 2 * len(SETS) and (fidelity["mse"] > 0).all() and (fidelity["ssim"] <= 1).all()
    clean = fidelity[fidelity["set"] == "clean"].drop(columns="reference")
    assert clean.iloc[0].equals(clean.iloc[1])   # a clean beat is its own E_x
    evasion = catalog.load("atk_gan_eval.evasion")
    assert evasion["loss"].tolist() == ["ce", "evasion"] * 2 and evasion["attack"].tolist() == ["pgd"] * 2 + ["apgd"] * 2
    assert (evasion["linf"] <= 0.01 + 1e-6).all()
    assert (evasion["undetected_fooled"] <= evasion["fooled"]).all()


def test_report_atk_gan_sets_ours_beside_the_published_rows(evaluated_gan):
    catalog = evaluated_gan.catalog()
    table1, table3 = catalog.load("atk_gan_report.table1"), catalog.load("atk_gan_report.table3")
    assert len(table1) == 7 * (4 + 3) and set(table1["source"]) == {"ours", "seed 002 Table 1 (MIT-BIH, section 3.3)"}
    ours = table1[table1["source"] == "ours"]
    assert ours["accuracy"].between(0, 100).all() and set(ours["model"]) == {
        "ECG-ATK-GAN", "CE (Kachuee CNN, ATK-GAN data)", "adv0.01 (Kachuee CNN, ATK-GAN data)"}
    pgd = table1[(table1["test set"] == "PGD") & (table1["model"] == "Proposed Method")].iloc[0]
    assert pgd["accuracy"] == 98.4 and pgd["F_sensitivity"] == 88.5   # the paper's 98.4 % under PGD
    assert len(table3) == 7 * 3 and table3[table3["source"] == "ours"]["ssim"].le(100).all()
    text = catalog.load("atk_gan_report.markdown")
    assert "## Adaptive evaluation beside the paper's protocol" in text and "worst case @ 0.01" in text
    assert evaluated_gan.versions("data/08_reporting/atk_gan/beats_figure.png") != []


def test_evaluation_without_its_inputs_names_the_pipelines_that_produce_them(empty_project):
    with pytest.raises(EcgDataError, match=r"run `kedro run --pipelines=(train_atk_gan|attack_generation)"):
        empty_project.run("evaluate_atk_gan")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["evaluate_atk_gan"].update(gan="ce_atk_gan_cnn"),
         r"'evaluate_atk_gan.gan': expected a declared run trained with objective atk_gan .* got 'ce_atk_gan_cnn'"),
        (lambda p: p["evaluate_atk_gan"].update(baselines=["ce_cnn"]),
         r"'evaluate_atk_gan.baselines': 'ce_cnn' is not a declared run on data 'atk_gan' or 'atk_gan_union'"),
        (lambda p: p["evaluate_atk_gan"]["evasion"].update(losses=["ce", "dlr"]),
         r"'evaluate_atk_gan.evasion.losses': \['dlr'\] are not PGD losses"),
        (lambda p: p["evaluate_atk_gan"]["evasion"].update(attacks=["square"]),
         r"'evaluate_atk_gan.evasion.attacks': expected some of \['pgd', 'apgd'\]"),
        (lambda p: p["evaluate_atk_gan"]["evasion"].update(eps=0),
         r"'evaluate_atk_gan.evasion.eps': expected a number > 0, got 0"),
        (lambda p: p["evaluate_atk_gan"].update(sets=["clean"]),
         r"'evaluate_atk_gan': unknown key\(s\) \['sets'\]"),
        (lambda p: p["data"]["atk_gan_union"].update(judged_on="atk_gan_union"),
         r"'data.atk_gan_union.judged_on': expected another declared data .* got 'atk_gan_union'"),
        (lambda p: p["data"]["atk_gan_union"].pop("judged_on"),
         r"'data.atk_gan_union.judged_on': the GAN run 'atk_gan' trains on the union"),
    ],
)
def test_bad_evaluation_settings_are_named_at_registration(base_parameters, change, expected):
    parameters = copy.deepcopy(base_parameters)
    change(parameters)
    with pytest.raises(EcgDataError, match=expected):
        read_declaration(parameters)


def test_the_gan_is_attacked_on_its_clean_test_beats_beside_its_baselines(base_parameters):
    declaration = read_declaration(base_parameters)
    evaluation = declaration.atk_gan_evaluation
    assert evaluation.runs == ("atk_gan", "ce_atk_gan_cnn", "adv_atk_gan_cnn")
    assert evaluation.test_set == "atk_gan_test_set" and evaluation.clean.test == "atk_gan.mitdb_test"
    gan = declaration.runs["atk_gan"]
    assert declaration.judging_data(gan).test == "atk_gan.mitdb_test"
    for run in evaluation.runs:
        assert declaration.attacks_for(declaration.runs[run]) == ("hopskipjump", "autoattack")
    assert declaration.attacks_for(declaration.runs["atk_gan_source"]) == ()
    spec = declaration.attack_spec("autoattack", "atk_gan")   # MIT-BIH's block on atk_gan's defaults
    assert 0.01 in spec.grid and spec.grid == (0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3)
    assert (spec.per_class, spec.bounds, spec.eps_max) == (250, (0.0, 1.0), 0.1)
    assert declaration.attack_spec("hopskipjump", "atk_gan").params["max_queries"] == 5000


def test_min_eps_benchmark_attacks_the_stored_subset_below_the_grid(evaluated_gan, monkeypatch, capsys):
    """benchmarks/min_eps.py on the chain's stored models: the evaluation's own beats, our APGD beside torchattacks'
    PGD, never above the clean accuracy, never weaker at a larger budget."""
    import importlib.util
    from pathlib import Path

    script_path = Path(__file__).resolve().parents[2] / "benchmarks" / "min_eps.py"
    spec = importlib.util.spec_from_file_location("min_eps", script_path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.chdir(evaluated_gan.path)
    rows = script.main(["atk_gan", "ce_atk_gan_cnn", "--split", "atk_gan.mitdb_test", "--subset-from",
                        "autoattack", "--grid", "0.001,0.3", "--steps", "10", "--env", "ci"])
    stored = evaluated_gan.catalog().load("atk_gan.autoattack.examples")
    assert [(r["run"], r["eps"]) for r in rows] == [("atk_gan", 0.001), ("atk_gan", 0.3),
                                                    ("ce_atk_gan_cnn", 0.001), ("ce_atk_gan_cnn", 0.3)]
    assert all(r["n"] == len(stored["subset"]) for r in rows)
    for r in rows:
        assert 0.0 <= r["apgd"] <= r["clean"] + 1e-12 and 0.0 <= r["torchattacks_pgd"] <= r["clean"] + 1e-12
    by = {(r["run"], r["eps"]): r for r in rows}
    for run in ("atk_gan", "ce_atk_gan_cnn"):
        assert by[run, 0.3]["apgd"] <= by[run, 0.001]["apgd"]   # a 300x larger budget never leaves more correct
    # The ci GAN's discriminator is breakable (the ci CE baseline predicts one class, which no budget changes).
    assert by["atk_gan", 0.3]["apgd"] < by["atk_gan", 0.3]["clean"]
    assert "torchattacks PGD" in capsys.readouterr().out
