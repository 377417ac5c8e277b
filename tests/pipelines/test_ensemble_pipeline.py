"""train_ens through real KedroSessions (ci env): members one after another, cached features, the assembled
ensemble judged end to end by the attack pipeline, and seed 004's transfer study."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.declaration import read_declaration

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ensemble(module_project, processed_mitdb):
    processed_mitdb(module_project, "data_mitdb")
    module_project.run("train_ce", namespaces=["ce_cnn"])
    module_project.run("train_ens", tags=["fdec_cnn"])   # Fourier-partitioned and decorrelated: every piece
    return module_project


def test_members_train_one_after_another_behind_their_fourier_parts(ensemble):
    catalog = ensemble.catalog()
    base = catalog.load("ce_cnn.model")
    members = [catalog.load(f"fdec_cnn_m{i}.model") for i in (1, 2)]
    assert [m.model_config["part"] for m in members] == [0, 1]
    assert all(m.model_config["model"] == {"name": "kachuee_cnn"} for m in members)
    history = catalog.load("fdec_cnn_m2.history")
    assert {"train_ce", "train_decorrelation", "train_r2"} <= set(history.columns)
    # Member 2 decorrelates from the base and member 1: both cached feature sets, of the same training split.
    features = [catalog.load(f"{run}.train_features") for run in ("ce_cnn", "fdec_cnn_m1", "fdec_cnn_m2")]
    n_train = len(catalog.load("mitdb_train_balanced")["y"])
    assert all(f["features"].shape == (n_train, 32) for f in features)
    assert len({str(f["data_fingerprint"]) for f in features}) == 1
    # The deployed ensemble is the mean of its members' logits, with their weights.
    deployed = catalog.load("fdec_cnn.model")
    x = torch.as_tensor(catalog.load("mitdb_test")["x"][:8])[:, None, :]
    with torch.no_grad():
        expected = torch.stack([base(x), *(m(x) for m in members)]).mean(0)
        torch.testing.assert_close(deployed(x), expected)


def test_the_transfer_study_counts_only_what_the_base_gets_right(ensemble):
    study = ensemble.catalog().load("fdec_cnn.transfer")
    assert study["members"] == ["ce_cnn", "fdec_cnn_m1", "fdec_cnn_m2"]
    assert set(study["attacks"]) == {"pgd", "sap"}
    assert study["counted"] == study["clean"]["n"] and study["counted"] <= study["n"]
    for rows in study["attacks"].values():
        assert [r["eps"] for r in rows] == [0.0, 0.05]
        clean = rows[0]
        # Counted samples are the base's clean-correct ones: at eps 0 member 0 is right on all of them.
        assert clean["member_accuracy"][0] == 1.0 and clean["p_at_least"]["1"] == 1.0
        assert clean["p_at_least"]["3"] <= clean["p_at_least"]["2"] <= clean["p_at_least"]["1"]
        assert rows[1]["member_accuracy"][0] <= clean["member_accuracy"][0]
    r2 = np.asarray(study["feature_r2"])
    assert r2.shape == (3, 3) and np.allclose(np.diag(r2), 1)
    # provenance (issue 26 part 7): the deployed ensemble's stored version and the test split it was judged on
    provenance = study["provenance"]
    assert provenance["env"] == "ci" and provenance["model"]["dataset"] == "fdec_cnn.model"
    assert provenance["model"]["version"] and provenance["test_data"]["version"] and provenance["test_data"]["fingerprint"]


def test_the_assembled_ensemble_is_attacked_end_to_end_by_the_attack_pipeline(ensemble):
    ensemble.run("attack", namespaces=["fdec_cnn.pgd"])
    metrics = ensemble.catalog().load("fdec_cnn.pgd.metrics")
    assert metrics["run"] == "fdec_cnn.pgd" and metrics["grid"] == [0.0, 0.05]
    assert metrics["model"]["members"] == ["ce_cnn", "fdec_cnn_m1", "fdec_cnn_m2"]
    assert 0 <= metrics["acc_robust"] <= 1


def test_the_majority_vote_of_the_same_members_is_attacked_through_its_surrogates(ensemble):
    ensemble.run("train_ens", tags=["fdec_cnn_vote"])      # assembles the vote of fdec_cnn's members: trains nothing
    ensemble.run("attack", namespaces=["fdec_cnn_vote.autoattack_vote"])
    catalog = ensemble.catalog()
    vote = catalog.load("fdec_cnn_vote.model")
    assert vote.combine == "vote" and vote.meta["members"] == ["ce_cnn", "fdec_cnn_m1", "fdec_cnn_m2"]
    mean = catalog.load("fdec_cnn.model")
    for a, b in zip(vote.members, mean.members):  # the very members of fdec_cnn, weights included
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    metrics = catalog.load("fdec_cnn_vote.autoattack_vote.metrics")
    assert metrics["params"]["surrogates"] == ["self", "mean_logits", "members"]
    assert metrics["model"]["combine"] == "vote" and metrics["grid"] == [0.0, 0.05]
    assert metrics["flags"] and all("raised" in f for f in metrics["flags"])   # the masking checks ran on the vote
    examples = catalog.load("fdec_cnn_vote.autoattack_vote.examples")
    broken = examples["broken_by"][1] >= 0
    # every beat broken names the stand-in it was crafted on (self, mean_logits, member0-2; then self for Square)
    assert ((examples["surrogate"][1] >= 0) == broken).all() and examples["surrogate"][1].max() <= 5
    assert metrics["curve"][1]["balanced_accuracy"] <= metrics["curve"][0]["balanced_accuracy"]
    # the vote's own transfer study: the same members and counted beats as the mean-logit ensemble's
    transfer, vote_transfer = catalog.load("fdec_cnn.transfer"), catalog.load("fdec_cnn_vote.transfer")
    assert vote_transfer["members"] == transfer["members"] and vote_transfer["counted"] == transfer["counted"]
    assert vote_transfer["attacks"]["pgd"][1]["p_at_least"] == transfer["attacks"]["pgd"][1]["p_at_least"]


def test_the_report_draws_seed_004s_figures_from_the_stored_studies(ensemble):
    ensemble.run("report", node_names=["report.ensemble_figures"])
    drawn = ensemble.catalog().load("report.ensemble_figures@png").data
    assert {"mitdb_cnn__ensembles__pgd.png", "mitdb_cnn__ensembles__sap.png", "mitdb_cnn__ensembles__clean.png",
            "mitdb_cnn__ensembles__feature_r2.png", "mitdb_cnn__ensembles__transfer_vs_adaptive.png"} <= set(drawn)


def _declaration(base_parameters, **ensemble):
    params = {**base_parameters, "ensembles": {"e": {"base": "ce_cnn", **ensemble}}}
    return read_declaration(params)


def test_declaration_refuses_bad_ensembles_before_anything_trains(base_parameters):
    assert _declaration(base_parameters).ensembles["e"].members == ("ce_cnn", "e_m1", "e_m2")
    with pytest.raises(EcgDataError, match=r"'ensembles.e.base': expected a run declared under 'runs'"):
        _declaration(base_parameters, base="nope")
    with pytest.raises(EcgDataError, match=r"'ensembles.e.size': expected an integer >= 2"):
        _declaration(base_parameters, size=1)
    with pytest.raises(EcgDataError, match=r"'ensembles.e.fourier': Fourier partitioning needs an integer band count >= 2"):
        _declaration(base_parameters, fourier={"bands": 1, "length": 187})
    with pytest.raises(EcgDataError, match=r"'ensembles.e.size': a Fourier-partitioned ensemble has 3 members"):
        _declaration(base_parameters, size=4, fourier={"bands": 10, "length": 187})
    with pytest.raises(EcgDataError, match=r"'ensembles.e.decorrelation'.*expected an integer in 1..32"):
        _declaration(base_parameters, decorrelation={"projection_dim": 50})
    small_batches = {**base_parameters, "runs": {**base_parameters["runs"],
                                                 "small": {**base_parameters["runs"]["ce_mlp"], "batch_size": 16}}}
    with pytest.raises(EcgDataError, match=r"'ensembles.e.decorrelation'.*batch 16 <= 17"):
        read_declaration({**small_batches, "ensembles": {"e": {"base": "small", "decorrelation": {"projection_dim": 16}}}})
    with pytest.raises(EcgDataError, match=r"unknown key\(s\) \['lambda'\]"):
        _declaration(base_parameters, **{"lambda": 0.2})


def test_an_ensemble_of_another_ensembles_members_trains_nothing(base_parameters):
    from ecg_pipeline.pipelines.ensemble.pipeline import create_pipeline

    params = {**base_parameters, "ensembles": {"e": {"base": "ce_cnn", "decorrelation": {"projection_dim": 8}},
                                               "v": {"members_of": "e", "combine": "vote", "label": "e (vote)"}}}
    declaration = read_declaration(params)
    vote = declaration.ensembles["v"]
    assert vote.members == ("ce_cnn", "e_m1", "e_m2") and vote.decorrelation == {"projection_dim": 8}
    assert vote.family == "ens_vote" and declaration.model_runs["v"].family == "ens_vote"
    assert declaration.attacks_for(declaration.model_runs["v"]) == ("autoattack_vote",)
    nodes = {n.name for n in create_pipeline(declaration).nodes}
    assert {"e_m1.train", "e_m2.train", "v.assemble", "v.transfer"} <= nodes
    assert not any(n.startswith("v_m") for n in nodes)
    with pytest.raises(EcgDataError, match=r"'ensembles.v': with members_of, only .* may be set .* got \['fourier'\]"):
        read_declaration({**params, "ensembles": {**params["ensembles"], "v": {"members_of": "e", "fourier": {}}}})
    with pytest.raises(EcgDataError, match=r"'ensembles.v.members_of': expected an ensemble declared with its own members"):
        read_declaration({**params, "ensembles": {**params["ensembles"], "v": {"members_of": "nope"}}})
    without = {k: v for k, v in params["families"].items() if k != "ens_vote"}
    with pytest.raises(EcgDataError, match=r"family 'ens_vote'"):
        read_declaration({**params, "families": without})


def test_features_cached_on_another_split_are_refused(base_parameters):
    from ecg_pipeline.pipelines.ensemble.nodes import train_member

    declaration = _declaration(base_parameters, decorrelation={"projection_dim": 8})
    rng = np.random.default_rng(0)
    train = {"x": rng.random((40, 187), dtype=np.float32), "y": np.arange(40) % 5, "classes": np.array(list("NSVFQ"))}
    stale = {"features": np.zeros((40, 32), np.float32), "data_fingerprint": np.asarray("other")}
    with pytest.raises(EcgDataError, match=r"e_m1: the cached features of ce_cnn belong to another training split"):
        train_member(train, None, None, base_parameters["runs"]["ce_cnn"], stale,
                     ensemble=declaration.ensembles["e"], member_index=1)
