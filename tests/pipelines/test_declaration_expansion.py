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


def test_the_benchmark_table_env_declares_every_defense_over_three_seeds_and_both_splits(project_root):
    """conf/benchmark_table (the command that rebuilds issue 28's table): the MLP defenses x 3 seeds x 2 splits, the
    CNNs x 2 splits, all in the main job, each split's runs on its own data."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="benchmark_table",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "benchmark_table"})
    declaration = read_declaration(copy.deepcopy(dict(loader["parameters"])))
    mlps = ["ce_mlp", "nsr_mlp", "nsr_mlp_code", "jacob_mlp", "jacob_mlp_code", "adv_mlp", "trades_mlp", "ibp_mlp"]
    expected = [f"{block}{split}{seed}" for block in mlps for split in ("", "_ip") for seed in ("", "_s1", "_s2")]
    expected += [f"{block}{split}" for block in ("ce_cnn", "nsr_cnn") for split in ("", "_ip")]
    assert sorted(declaration.main.runs) == sorted(expected) and len(expected) == 52
    assert {declaration.runs[r].data.name for r in expected if "_ip" in r} == {"mitdb_ip"}
    assert {declaration.runs[r].data.name for r in expected if "_ip" not in r} == {"mitdb"}
    assert {"sap", "white_noise", "autoattack"} <= set(declaration.main.attacks)
