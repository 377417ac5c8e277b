"""Seed 004's CinC 2017 study as declared: Han et al.'s CNN (ce_cinc, `train_cinc`), the four CinC ensembles and
their transfer protocol, the attacks that judge them on CinC's own data; then the chain data_cinc2017 ->
train_cinc -> train_ens (fdec_cinc: Fourier stage on 18,000 samples and decorrelation) -> attack pipeline, run in
the ci env on 300 real CinC records (a wiring check at a tiny width, not a result)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration

CINC_ENSEMBLES = ("cor_cinc", "dec_cinc", "fcor_cinc", "fdec_cinc")


@pytest.fixture
def parameters(base_parameters):
    return copy.deepcopy(dict(base_parameters))


def test_the_base_configuration_is_the_papers_protocol(parameters):
    declaration = read_declaration(parameters)
    run = parameters["runs"]["ce_cinc"]
    assert declaration.runs["ce_cinc"].data.name == "cinc2017" and declaration.runs["ce_cinc"].data.masked
    assert run["model"] == {"name": "han_cnn"}    # full width: the paper's network
    assert (run["optimizer"], run["lr"], run["batch_size"], run["epochs"]) == ("adam", 1e-3, 64, 200)
    assert run["extra_copies"] == {"~": 5, "A": 1} and run["select_best"] == "val_cinc2017_f1"
    assert parameters["padding_masking"]["cinc2017"]["split"] == {"test_fraction": 0.1, "validation_fraction": 0.1,
                                                                  "seed": 0}
    for name in CINC_ENSEMBLES:
        assert declaration.ensembles[name].base == "ce_cinc"
    assert declaration.ensembles["dec_cinc"].decorrelation == {"lam": 0.2, "projection_dim": 32}
    assert declaration.ensembles["fdec_cinc"].fourier == {"bands": 10, "length": 18000}
    transfer = parameters["ensemble_transfer"]["cinc2017"]
    assert transfer["grid"] == [0.0, 10.0, 50.0, 75.0, 100.0, 150.0] and transfer["bounds"] is None
    # full-confidence transfer examples (confidence .inf: every step, the strongest iterate; issue 24 item 4)
    assert transfer["attacks"] == {"pgd": {"attack": "pgd", "steps": 20, "step_ratio": 0.1, "random_start": False,
                                           "confidence": float("inf")},
                                   "sap": {"attack": "sap", "pgd_steps": 20, "steps": 40, "confidence": float("inf")}}
    # The deployed ensembles are judged on CinC by CinC's own attacks (family ens), ce_cinc by every CinC attack.
    # (autoattack is declared once for every data it judges: CinC's grid, bounds and eps_max are the data's defaults)
    assert declaration.attacks_for(declaration.model_runs["fdec_cinc"]) == ("pgd_cinc", "autoattack")
    assert declaration.attacks_for(declaration.runs["ce_cinc"]) == ("autoattack", "pgd_cinc", "sap_cinc")
    autoattack = declaration.attack_spec("autoattack", "cinc2017")
    assert (autoattack.grid, autoattack.bounds, autoattack.eps_max, autoattack.per_class, autoattack.batch_size,
            autoattack.diagnostics_per_class) == ((0.0, 10.0, 50.0, 75.0, 100.0, 150.0), None, 150.0, None, 64, 10)
    pgd = declaration.attacks["pgd_cinc"]
    assert pgd.grid == (0.0, 10.0, 50.0, 75.0, 100.0, 150.0) and pgd.bounds is None
    assert pgd.params == {"steps": 20, "step_ratio": 0.1, "random_start": False}


def test_train_cinc_trains_ce_cinc_alone_and_train_ce_leaves_it_out(parameters):
    pipelines = build_pipelines(read_declaration(parameters))
    assert {n.name for n in pipelines["train_cinc"].nodes} == {"ce_cinc.train"}
    assert "ce_cinc.train" not in {n.name for n in pipelines["train_ce"].nodes}
    train = pipelines["train_cinc"].nodes[0]
    assert set(train.inputs) >= {"cinc2017_train", "cinc2017_validation", "params:runs.ce_cinc"}
    ensembles = {n.name for n in pipelines["train_ens"].nodes if "cinc" in n.name}
    assert {f"{e}.assemble" for e in CINC_ENSEMBLES} <= ensembles and "fdec_cinc_m2.train" in ensembles


def test_a_model_that_pools_over_padding_is_still_refused_on_cinc(parameters):
    parameters["runs"]["ce_cinc"]["model"] = {"name": "kachuee_cnn"}
    with pytest.raises(EcgDataError, match=r"^parameters 'runs.ce_cinc.model.name' \(data 'cinc2017'\): the data is "
                                           r"padded records with a mask, but model 'kachuee_cnn' takes no mask.*"
                                           r"built for zero-padded input \(\['han_cnn'\]\)"):
        read_declaration(parameters)


@pytest.mark.parametrize("meta_change, message", [
    (lambda meta: meta.update(classes=["N", "A", "O"]), r"ensemble cor_cinc: its members were trained on different "
                                                        r"label sets: ce_cinc: \['N', 'A', 'O', '~'\]; cor_cinc_m1: "
                                                        r"\['N', 'A', 'O'\]"),
    (lambda meta: meta.update(data_fingerprint="other"), r"ensemble cor_cinc: its members were trained on different "
                                                         r"training splits .*'cor_cinc_m1': 'other'"),
])
def test_assembly_refuses_members_of_other_label_sets_or_splits(parameters, meta_change, message):
    from ecg_pipeline.models import build_model
    from ecg_pipeline.pipelines.ensemble.nodes import assemble

    ensemble = read_declaration(parameters).ensembles["cor_cinc"]
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = build_model("han_cnn", width=0.0625)
        model.meta = {"classes": ["N", "A", "O", "~"], "data_fingerprint": "split-1"}
        members.append(model)
    assert assemble(*members, ensemble=ensemble)["meta"]["members"] == ["ce_cinc", "cor_cinc_m1", "cor_cinc_m2"]
    meta_change(members[1].meta)
    with pytest.raises(EcgDataError, match=message):
        assemble(*members, ensemble=ensemble)


@pytest.fixture(scope="module")
def study(module_project):
    module_project.run("data_cinc2017")
    module_project.run("train_cinc")
    module_project.run("train_ens", tags=["fdec_cinc"])
    module_project.run("attack", namespaces=["fdec_cinc.pgd_cinc", "ce_cinc.pgd_cinc"])
    return module_project


@pytest.mark.slow
def test_data_carves_a_stratified_validation_split_from_the_training_part(study):
    catalog = study.catalog()
    splits = {s: catalog.load(f"cinc2017_{s}") for s in ("train", "validation", "test")}
    ids = {s: set(d["record_id"].tolist()) for s, d in splits.items()}
    assert not (ids["train"] & ids["validation"]) and not (ids["train"] & ids["test"]) \
        and not (ids["validation"] & ids["test"])
    assert sum(map(len, ids.values())) == 300                 # the ci cap, every record in one split
    assert len(ids["test"]) == 30 and len(ids["validation"]) == 27      # 10 %, then 10 % of the 270
    assert set(splits["validation"]["y"].tolist()) == {0, 1, 2, 3}       # stratified: every class


@pytest.mark.slow
def test_ce_cinc_trains_with_the_augmentation_and_keeps_the_best_validation_f1(study):
    catalog = study.catalog()
    history = catalog.load("ce_cinc.history")
    model = catalog.load("ce_cinc.model")
    assert model.model_config["width"] == 0.0625 and model.meta["classes"] == ["N", "A", "O", "~"]
    assert "val_cinc2017_f1" in history.columns and 0 <= history["val_cinc2017_f1"].iloc[0] <= 1
    assert history["selected"].sum() == 1


@pytest.mark.slow
def test_fdec_cinc_members_and_transfer_study(study):
    catalog = study.catalog()
    members = [catalog.load(f"fdec_cinc_m{i}.model") for i in (1, 2)]
    assert [m.model_config["part"] for m in members] == [0, 1]
    assert all(m.model_config["length"] == 18000 for m in members)
    assert all(m.meta["data_fingerprint"] == catalog.load("ce_cinc.model").meta["data_fingerprint"] for m in members)
    history = catalog.load("fdec_cinc_m2.history")
    assert {"train_ce", "train_decorrelation"} <= set(history.columns)
    features = catalog.load("fdec_cinc_m1.train_features")["features"]
    assert features.shape == (len(catalog.load("cinc2017_train")["y"]), 4)   # width 0.0625: 4-d features
    study_ = catalog.load("fdec_cinc.transfer")
    two_per_class = int(np.minimum(np.bincount(catalog.load("cinc2017_test")["y"]), 2).sum())   # ~ may have 1
    assert study_["members"] == ["ce_cinc", "fdec_cinc_m1", "fdec_cinc_m2"] and study_["n"] == two_per_class
    for rows in study_["attacks"].values():
        assert [r["eps"] for r in rows] == [0.0, 50.0]
        clean = rows[0]
        if study_["counted"]:
            assert clean["member_accuracy"][0] == 1.0 and clean["p_at_least"]["1"] == 1.0
            assert clean["p_at_least"]["3"] <= clean["p_at_least"]["2"] <= clean["p_at_least"]["1"]
    assert np.allclose(np.diag(np.asarray(study_["feature_r2"])), 1)


@pytest.mark.slow
def test_the_attack_pipeline_judges_the_deployed_cinc_ensemble_and_padding_stays_zero(study):
    catalog = study.catalog()
    metrics = catalog.load("fdec_cinc.pgd_cinc.metrics")
    assert metrics["grid"] == [0.0, 50.0] and metrics["model"]["members"] == ["ce_cinc", "fdec_cinc_m1", "fdec_cinc_m2"]
    assert metrics["n"] == int(np.minimum(np.bincount(catalog.load("cinc2017_test")["y"]), 2).sum())
    assert 0 <= metrics["acc_robust"] <= 1
    base = catalog.load("ce_cinc.pgd_cinc.metrics")
    for row in base["curve"]:
        assert 0 <= row["cinc2017_f1"] <= 1       # the challenge F1 beside accuracy, every eps
    examples = catalog.load("fdec_cinc.pgd_cinc.examples")
    test = catalog.load("cinc2017_test")
    from ecg_pipeline.data.padding import materialize

    if len(examples["index"]):
        _, mask = materialize(test, examples["index"])
        x_adv = examples["x_adv_1"]
        assert x_adv.shape == mask.shape
        assert np.all(x_adv[mask == 0] == 0)                     # padded positions are reset: still exactly 0
        assert np.abs(x_adv - examples["x_clean"]).max() <= 50.0 + 1e-3
