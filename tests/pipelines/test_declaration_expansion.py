"""Seeds and splits as declared dimensions (issue 28, item 1; fast tier, no data): one block with ``seeds`` and
``splits`` expands into concrete runs, today's runs, parameters and fingerprints do not move."""

from __future__ import annotations

import copy

import pytest

from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.errors import EcgConfigError
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import RUN_KEYS, expanded_params, read_declaration


@pytest.fixture
def parameters(base_parameters):
    return copy.deepcopy(dict(base_parameters))


def with_inter_patient(parameters: dict) -> dict:
    """The MIT-BIH inter-patient split as the lead wires it: a variant of mitdb whose split step is de Chazal's."""
    parameters["data"]["mitdb"]["splits"] = {"random": "mitdb", "inter_patient": "mitdb_ip"}
    parameters["data"]["mitdb_ip"] = {"title": "MIT-BIH, inter-patient (de Chazal DS1/DS2)", "variant_of": "mitdb",
                                      "train": "mitdb_ip.mitdb_train_balanced", "validation": "mitdb_ip.mitdb_validation",
                                      "test": "mitdb_ip.mitdb_test"}
    parameters["mitdb_ip"] = {"segmentation": dict(parameters["segmentation"]),
                              "split": {**parameters["split"], "method": "inter_patient"},
                              "resampling": dict(parameters["resampling"])}
    return parameters


def fingerprint_of(run, parameters: dict) -> dict:
    """What a run's checkpoint identity is made of, from the parameters its training node computes with."""
    params = expanded_params(parameters["runs"][run.declared_as], run.expansion)
    return TrainingConfig.from_params(params, run.section, ignore=RUN_KEYS).fingerprinted()


def test_todays_declaration_gives_todays_runs_parameters_and_fingerprints(parameters):
    """No block declares seeds or splits today: every run is its block's own, with its block's section unchanged."""
    declaration = read_declaration(copy.deepcopy(parameters))
    assert list(declaration.runs) == list(parameters["runs"])
    for name, run in declaration.runs.items():
        assert (run.block, run.expansion, run.section, run.declared_as) == (None, None, f"runs.{name}", name)
        assert expanded_params(parameters["runs"][name], run.expansion) == parameters["runs"][name]
    assert declaration.main.runs == tuple(parameters["main"]["runs"])


def test_a_block_with_seeds_and_splits_expands_into_named_runs(parameters):
    parameters = with_inter_patient(parameters)
    before = read_declaration(copy.deepcopy(parameters))
    parameters["runs"]["nsr_mlp"].update(seeds=[0, 1, 2], splits=["random", "inter_patient"])
    declaration = read_declaration(copy.deepcopy(parameters))
    expanded = [r for r in declaration.runs.values() if r.declared_as == "nsr_mlp"]
    assert [r.name for r in expanded] == ["nsr_mlp", "nsr_mlp_s1", "nsr_mlp_s2", "nsr_mlp_ip", "nsr_mlp_ip_s1",
                                          "nsr_mlp_ip_s2"]
    assert [(r.seed, r.split, r.data.name) for r in expanded] == [
        (0, "random", "mitdb"), (1, "random", "mitdb"), (2, "random", "mitdb"),
        (0, "inter_patient", "mitdb_ip"), (1, "inter_patient", "mitdb_ip"), (2, "inter_patient", "mitdb_ip")]
    assert declaration.runs["nsr_mlp_ip_s1"].label == "0.4NSR (inter-patient, seed 1)"
    assert all(r.section == "runs.nsr_mlp" and r.family == "nsr" for r in expanded)
    # the block's own run is today's run: same Run, same parameters, same fingerprint
    assert declaration.runs["nsr_mlp"] == before.runs["nsr_mlp"]
    assert fingerprint_of(declaration.runs["nsr_mlp"], parameters) == fingerprint_of(before.runs["nsr_mlp"], parameters)
    # every other run differs from it in its seed or its training data (both in the checkpoint fingerprint)
    prints = [fingerprint_of(r, parameters) for r in expanded]
    assert [p["seed"] for p in prints] == [0, 1, 2, 0, 1, 2]
    assert expanded_params(parameters["runs"]["nsr_mlp"], declaration.runs["nsr_mlp_ip"].expansion)["data"] == "mitdb_ip"
    # the runs the declaration's neighbours see
    assert list(declaration.runs)[list(declaration.runs).index("nsr_mlp"):][:6] == [r.name for r in expanded]
    assert declaration.attacks_for(declaration.runs["nsr_mlp_ip"]) == declaration.attacks_for(declaration.runs["nsr_mlp"])
    assert declaration.data["mitdb_ip"].attack_defaults_param == "data.mitdb.attack_defaults"
    assert declaration.attack_spec("autoattack", "mitdb_ip") == declaration.attack_spec("autoattack", "mitdb")


def test_the_seed_reaches_an_objectives_own_seed(parameters):
    parameters["runs"]["adv_mlp"]["seeds"] = [0, 3]
    runs = read_declaration(copy.deepcopy(parameters)).runs
    params = expanded_params(parameters["runs"]["adv_mlp"], runs["adv_mlp_s3"].expansion)
    assert (params["seed"], params["objective"]["seed"]) == (3, 3)   # PGD adversarial training's random starts
    assert "seed" not in expanded_params(parameters["runs"]["nsr_mlp"], runs["nsr_mlp"].expansion)["objective"]
    parameters["runs"]["nsr_mlp"]["seeds"] = [0, 1]
    runs = read_declaration(copy.deepcopy(parameters)).runs      # NSR draws nothing of its own: only the run's seed
    assert runs["nsr_mlp_s1"].expansion == {"seed": 1, "data": "mitdb"}


def test_a_block_with_its_own_seed_keeps_its_name_at_that_seed(parameters):
    parameters["runs"]["ce_mlp"].update(seed=5, seeds=[4, 5, 6])
    runs = read_declaration(copy.deepcopy(parameters)).runs
    assert [(r.name, r.seed) for r in runs.values() if r.declared_as == "ce_mlp"] == [
        ("ce_mlp", 5), ("ce_mlp_s4", 4), ("ce_mlp_s6", 6)]


def test_main_naming_a_block_gets_every_run_it_expands_to(parameters):
    parameters = with_inter_patient(parameters)
    parameters["runs"]["ce_mlp"].update(seeds=[0, 1], splits=["random", "inter_patient"])
    main = read_declaration(copy.deepcopy(parameters)).main
    assert main.runs == ("ce_mlp", "ce_mlp_s1", "ce_mlp_ip", "ce_mlp_ip_s1", "nsr_mlp")
    parameters["main"]["runs"] = ["ce_mlp_ip_s1", "nsr_mlp"]   # an expansion named: that run alone
    assert read_declaration(copy.deepcopy(parameters)).main.runs == ("ce_mlp_ip_s1", "nsr_mlp")


def test_every_expansion_is_a_training_and_attack_instance_of_its_own(parameters):
    parameters = with_inter_patient(parameters)
    parameters["runs"]["nsr_mlp"].update(seeds=[0, 1], splits=["random", "inter_patient"])
    pipelines = build_pipelines(read_declaration(parameters))
    trained = {n.name for n in pipelines["train_nsr"].nodes}
    assert {"nsr_mlp.train", "nsr_mlp_s1.train", "nsr_mlp_ip.train", "nsr_mlp_ip_s1.train"} <= trained
    node = next(n for n in pipelines["train_nsr"].nodes if n.name == "nsr_mlp_ip_s1.train")
    assert "mitdb_ip.mitdb_train_balanced" in node.inputs and "params:runs.nsr_mlp" in node.inputs
    attacked = {n.name for n in pipelines["attack"].nodes}
    assert {"nsr_mlp_ip_s1.autoattack.evaluate", "nsr_mlp_s1.pgd.evaluate"} <= attacked
    assert "data_mitdb_ip" in pipelines
    # the report's benchmark table knows each run's block, split and seed
    table = next(n for n in pipelines["report"].nodes if n.name == "report.benchmark_table")
    assert table.outputs == ["report.benchmark_table", "report.benchmark_table_md"]
    func = table.func
    while "dimensions" not in func.keywords:   # bound twice: its dimensions, then the report's model runs
        func = func.func
    dims = func.keywords["dimensions"]
    assert (dims["nsr_mlp_ip_s1"].block, dims["nsr_mlp_ip_s1"].defense, dims["nsr_mlp_ip_s1"].split,
            dims["nsr_mlp_ip_s1"].seed, dims["nsr_mlp_ip_s1"].data) == ("nsr_mlp", "0.4NSR", "inter_patient", 1, "mitdb_ip")
    assert (dims["ce_mlp"].block, dims["ce_mlp"].family, dims["ce_mlp"].split) == ("ce_mlp", "ce", "random")


@pytest.mark.parametrize("change, message", [
    (lambda p: p["runs"]["nsr_mlp"].update(seeds=[1, 2]), r"runs.nsr_mlp.seeds.*own seed \(0"),
    (lambda p: p["runs"]["nsr_mlp"].update(seeds=[0, 0]), r"runs.nsr_mlp.seeds.*without repeats"),
    (lambda p: p["runs"]["nsr_mlp"].update(seeds=[0, -1]), r"runs.nsr_mlp.seeds.*integers >= 0"),
    (lambda p: p["runs"]["nsr_mlp"].update(seeds=3), r"runs.nsr_mlp.seeds.*non-empty list"),
    (lambda p: p["runs"]["nsr_mlp"].update(splits=["inter_patient"]), r"runs.nsr_mlp.splits.*its own \('random'\)"),
    (lambda p: p["runs"]["nsr_mlp"].update(splits=["random", "leave_one_out"]), r"runs.nsr_mlp.splits.*leave_one_out"),
    (lambda p: p["runs"]["nsr_cpsc"].update(splits=["random"]), r"runs.nsr_cpsc.splits.*cpsc2018.*declares no splits"),
    (lambda p: p["mitdb_ip"]["split"].update(method="random"), r"'mitdb_ip.split.method'.*'inter_patient'"),
    (lambda p: p["data"]["mitdb"]["splits"].update(inter_patient="cpsc2018"), r"data.mitdb.splits.inter_patient.*cpsc2018"),
    (lambda p: p["data"]["mitdb"]["splits"].update(loo="mitdb_ip"), r"data.mitdb.splits.*unknown split.*loo"),
    (lambda p: p["runs"].update(nsr_mlp_s1=dict(p["runs"]["ce_mlp"]), **{"nsr_mlp": {**p["runs"]["nsr_mlp"], "seeds": [0, 1]}}),
     r"runs.nsr_mlp.*'nsr_mlp_s1'.*another declared run"),
    (lambda p: (p["runs"]["nsr_mlp"].update(seeds=[0, 1]), p["sweeps"]["nsr_mlp_sweep"].update(run="nsr_mlp_s1")),
     r"sweep 'nsr_mlp_sweep'.*nsr_mlp_s1.*block 'nsr_mlp'"),
])
def test_a_bad_dimension_is_refused_naming_the_key(parameters, change, message):
    parameters = with_inter_patient(parameters)
    change(parameters)
    with pytest.raises(EcgConfigError, match=message):
        read_declaration(parameters)


def project_params(project_root) -> dict:
    """The merged parameters of conf/benchmark_table over conf/base."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="benchmark_table",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "benchmark_table"})
    return copy.deepcopy(dict(loader["parameters"]))


def benchmark_table_declaration(project_root):
    return read_declaration(project_params(project_root))


def test_the_benchmark_table_env_declares_every_defense_over_three_seeds_and_both_splits(project_root):
    """conf/benchmark_table (the command that rebuilds issue 28's table): the MLP defenses x 3 seeds x 2 splits, the
    CNNs x 2 splits and the decorrelated ensemble x 2 splits, all in the main job, each split's runs on its own data;
    the main pipeline's counts as docs/results.md states them ("The benchmark table and its cost")."""
    declaration = benchmark_table_declaration(project_root)
    mlps = ["ce_mlp", "nsr_mlp", "nsr_mlp_code", "jacob_mlp", "jacob_mlp_code", "adv_mlp", "trades_mlp", "ibp_mlp"]
    expected = [f"{block}{split}{seed}" for block in mlps for split in ("", "_ip") for seed in ("", "_s1", "_s2")]
    expected += [f"{block}{split}" for block in ("ce_cnn", "nsr_cnn") for split in ("", "_ip")]
    assert len(expected) == 52
    assert sorted(declaration.main.runs) == sorted([*expected, "dec_mlp", "dec_mlp_ip"])
    model_runs = declaration.model_runs
    assert {model_runs[r].data.name for r in declaration.main.runs if "_ip" in r} == {"mitdb_ip"}
    assert {model_runs[r].data.name for r in declaration.main.runs if "_ip" not in r} == {"mitdb"}
    assert {"sap", "white_noise", "autoattack"} <= set(declaration.main.attacks)
    # the ensemble is judged by those of main's attacks that its family (ens) lists; the others are not asked for
    assert [e for e in declaration.main.evaluations if e.startswith("dec_mlp")] == [
        "dec_mlp.pgd", "dec_mlp.autoattack", "dec_mlp_ip.pgd", "dec_mlp_ip.autoattack"]
    names = [n.name for n in build_pipelines(declaration)["main"].nodes]
    counts = {kind: sum(n.endswith(f".{kind}") for n in names)
              for kind in ("train", "evaluate", "certify", "record_noise", "features", "assemble")}
    assert counts == {"train": 56, "evaluate": 368, "certify": 52, "record_noise": 54, "features": 4, "assemble": 2}
    assert len(names) == 557
    assert not any(n.endswith(".transfer") for n in names)   # seed 004's transfer study is not the table's


def test_the_inter_patient_ensemble_trains_on_ds1_and_is_judged_on_ds2(project_root):
    """``ensembles.dec_mlp.splits`` in conf/benchmark_table: ``dec_mlp`` is the main job's (same declaration, nothing
    new bound into its nodes), ``dec_mlp_ip`` stands on ``ce_mlp_ip``; its members read the inter-patient training
    and validation splits with the base run's parameters on that split, and it is attacked on DS2."""
    from ecg_pipeline.pipelines.declaration import EnsembleDecl, member_params

    declaration = benchmark_table_declaration(project_root)
    own, ip = declaration.ensembles["dec_mlp"], declaration.ensembles["dec_mlp_ip"]
    assert own == EnsembleDecl("dec_mlp", "ce_mlp", "dec", 3, {"lam": 0.2, "projection_dim": 16}, None)
    assert (ip.base, ip.members, ip.label, ip.block) == (
        "ce_mlp_ip", ("ce_mlp_ip", "dec_mlp_ip_m1", "dec_mlp_ip_m2"), "dec (inter-patient)", "dec_mlp")
    pipelines = build_pipelines(declaration)
    nodes = {n.name: n for n in pipelines["main"].nodes}
    for i, member in enumerate(ip.members[1:], start=1):
        node = nodes[f"{member}.train"]
        assert node.inputs[:2] == ["mitdb_ip.mitdb_train_balanced", "mitdb_ip.mitdb_validation"]
        assert "params:runs.ce_mlp" in node.inputs and "ce_mlp_ip.train_features" in node.inputs
        bound = node.func.keywords
        assert bound["expansion"] == declaration.runs["ce_mlp_ip"].expansion == {"seed": 0, "data": "mitdb_ip"}
        params = member_params(expanded_params(project_params(project_root)["runs"]["ce_mlp"], bound["expansion"]),
                               bound["ensemble"], i)
        assert (params["data"], params["seed"], params["objective"]["name"]) == ("mitdb_ip", i, "decorrelation")
    assert nodes["ce_mlp_ip.features"].inputs == ["ce_mlp_ip.model", "mitdb_ip.mitdb_train_balanced"]
    assert nodes["dec_mlp_ip.autoattack.evaluate"].inputs[:2] == ["dec_mlp_ip.model", "mitdb_ip.mitdb_test"]
    assert "mitdb_ip.mitdb_test" not in nodes["dec_mlp.autoattack.evaluate"].inputs
    # the random split's ensemble: members bound as before (no expansion), on the random split
    assert nodes["dec_mlp_m1.train"].func.keywords["expansion"] is None
    assert nodes["dec_mlp_m1.train"].inputs[:2] == ["mitdb_train_balanced", "mitdb_validation"]
    transfer = next(n for n in pipelines["train_ens"].nodes if n.name == "dec_mlp_ip.transfer")
    assert "params:ensemble_transfer.mitdb" in transfer.inputs   # mitdb's protocol on its split


@pytest.mark.parametrize("change, message", [
    (lambda p: p["runs"]["ce_mlp"].pop("splits"), r"ensembles.dec_mlp.splits.*'ce_mlp_ip'.*runs.ce_mlp.splits"),
    (lambda p: p["ensembles"]["dec_mlp"].update(splits=["inter_patient"]),
     r"ensembles.dec_mlp.splits.*own \('random'\)"),
    (lambda p: p["ensembles"]["dec_mlp_vote"].update(splits=["random"]), r"ensembles.dec_mlp_vote.*members_of.*splits"),
    (lambda p: p["ensembles"]["dec_cinc"].update(splits=["random"]), r"ensembles.dec_cinc.splits.*declares no splits"),
    (lambda p: p["ensembles"].update(dec_mlp_ip={"base": "nsr_mlp"}), r"ensembles.dec_mlp.splits.*'dec_mlp_ip'.*name"),
    (lambda p: p["main"].update(attacks=["sap"]), r"main.attacks.*none of them judges ensemble 'dec_mlp'"),
])
def test_a_bad_ensemble_split_is_refused_naming_the_key(project_root, change, message):
    parameters = project_params(project_root)
    change(parameters)
    with pytest.raises(EcgConfigError, match=message):
        read_declaration(parameters)
