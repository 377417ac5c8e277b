"""Seed 001's 12-lead CPSC 2018 study as declared: the base configuration is the paper's, bad input is refused
before anything trains, and the chain (data -> nsr_cpsc -> every CPSC attack -> report) runs in the ci env
on the shared 20-record sample (a wiring check, not a result)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration

CPSC_RUNS = ("ce_cpsc", "nsr_cpsc", "jacob_cpsc", "adv_cpsc")
# the worst-case suite is declared once for MIT-BIH and CPSC (data.cpsc2018.attack_defaults), then CPSC's own blocks
CPSC_ATTACKS = ("apgd_ce", "apgd_t", "square", "autoattack", "pgd_cpsc", "sap_cpsc", "white_noise_cpsc")


@pytest.fixture
def parameters(base_parameters):
    return copy.deepcopy(dict(base_parameters))


def test_the_base_configuration_is_the_papers_protocol(parameters):
    declaration = read_declaration(parameters)
    runs = parameters["runs"]
    for name in CPSC_RUNS:
        run = runs[name]
        assert declaration.runs[name].data.masked and declaration.runs[name].model == "masked_resnet"
        assert (run["optimizer"], run["lr"], run["batch_size"], run["epochs"], run["sampler"], run["max_shift"]) == \
            ("adam", 1e-3, 64, 70, "balanced", 3072)
        assert run["model"] == {"name": "masked_resnet"}  # the paper's width 64 (64/128/256/512)
    assert [declaration.runs[r].label for r in CPSC_RUNS] == ["CE", "1.0NSR", "24.0Jacob", "adv0.01"]
    assert runs["nsr_cpsc"]["objective"] == {"name": "nsr", "beta": 1.0, "eps_max": 1.0, "signal": "relu",
                                             "start_epoch": 11}
    assert runs["jacob_cpsc"]["objective"] == {"name": "jacobian", "lam": 24.0, "form": "eq13", "start_epoch": 11}
    assert runs["adv_cpsc"]["objective"] == {"name": "adversarial", "eps": 0.01, "steps": 20, "step_ratio": 0.2,
                                             "bounds": [-1.0, 1.0], "start_epoch": 11, "ramp": True}
    pgd = declaration.attacks["pgd_cpsc"]
    assert pgd.grid == (0.0, 0.001, 0.003, 0.005, 0.007, 0.01, 0.03, 0.05, 0.1) and pgd.eps_max == 0.01
    assert pgd.bounds == (-1.0, 1.0) and pgd.per_class is None
    assert pgd.params == {"steps": 100, "step_ratio": 0.1, "random_start": True, "restarts": 1}
    assert declaration.attacks_for(declaration.runs["nsr_cpsc"]) == CPSC_ATTACKS
    assert declaration.transfer_source(declaration.runs["nsr_cpsc"], "autoattack") == "ce_cpsc"
    for attack in ("apgd_ce", "apgd_t", "square", "autoattack"):   # one block, CPSC's defaults under it
        spec = declaration.attack_spec(attack, "cpsc2018")
        assert (spec.grid, spec.bounds, spec.eps_max, spec.per_class, spec.batch_size) == (pgd.grid, (-1.0, 1.0), 0.01,
                                                                                           None, 64)
    assert declaration.attack_spec("autoattack", "cpsc2018").diagnostics_per_class == 10
    assert {s: declaration.sweeps[s].run for s in ("nsr_cpsc_sweep", "jacob_cpsc_sweep", "adv_cpsc_sweep")} == \
        {"nsr_cpsc_sweep": "nsr_cpsc", "jacob_cpsc_sweep": "jacob_cpsc", "adv_cpsc_sweep": "adv_cpsc"}
    split = parameters["padding_masking"]["cpsc2018"]
    assert split["split"] == {"val_per_class": 5, "test_per_class": 50, "seed": 0}
    assert (split["pad"]["truncate"], split["pad"]["length"], split["pad"]["max_shift"]) == (30720, 33792, 3072)


def test_cpsc_runs_are_selected_by_the_cpsc_attack_and_stay_out_of_main(parameters):
    declaration = read_declaration(parameters)
    pipelines = build_pipelines(declaration)
    [member] = [m for m, value in declaration.sweeps["nsr_cpsc_sweep"].members.items() if value == 1.0]
    sweep = {n.name for n in pipelines["sweep"].nodes if n.name.startswith(f"nsr_cpsc_sweep.{member}.")}
    assert sweep == {f"nsr_cpsc_sweep.{member}.train", f"nsr_cpsc_sweep.{member}.pgd_cpsc_validation.evaluate"}
    attack = {n.name for n in pipelines["attack"].nodes if n.name.startswith("nsr_cpsc.")}
    assert attack == {f"nsr_cpsc.{a}.evaluate" for a in (*CPSC_ATTACKS, "pgd_cpsc_validation")} | {"nsr_cpsc.judged"}
    assert not [n.name for n in pipelines["main"].nodes if "cpsc" in n.name]
    assert not [n.name for n in pipelines["attack"].nodes if n.name.startswith("nsr_mlp.") and "cpsc" in n.name]


@pytest.mark.parametrize("change, message", [
    # a model that expects masks on unmasked data, and the reverse
    (lambda p: p["runs"]["nsr_mlp"]["model"].update(name="masked_resnet"),
     r"^parameters 'runs.nsr_mlp.model.name' \(data 'mitdb'\): model 'masked_resnet' expects padded records with a "
     r"mask, but the data has no mask"),
    (lambda p: p["runs"]["nsr_cpsc"].update(model={"name": "kachuee_cnn"}),
     r"^parameters 'runs.nsr_cpsc.model.name' \(data 'cpsc2018'\): the data is padded records with a mask, but model "
     r"'kachuee_cnn' takes no mask .*expected one of \['masked_resnet'\]"),
    # a warm-up beyond the epoch count
    (lambda p: p["runs"]["nsr_cpsc"].update(epochs=10),
     r"^parameters 'runs.nsr_cpsc.objective.start_epoch': the warm-up ends at epoch 11, beyond the run's 10 epochs"),
    (lambda p: p["runs"]["adv_cpsc"]["objective"].update(start_epoch=71), r"'runs.adv_cpsc.objective.start_epoch'"),
    (lambda p: p["runs"]["adv_cpsc"]["objective"].update(epochs=50),
     r"'runs.adv_cpsc.objective.epochs': the eps ramp \(eq. 11\) ends at epoch 50, the run has 70"),
    (lambda p: p["runs"]["adv_cpsc"]["objective"].update(step_size=0.001),
     r"'runs.adv_cpsc.objective.step_ratio': give step_size \(0.001\) or step_ratio \(0.2\), not both"),
    (lambda p: p["runs"]["ce_cpsc"].update(sampler="balance"), r"'runs.ce_cpsc.sampler': expected one of"),
    # an eps grid whose eps_max is not on it
    (lambda p: p["attacks"]["pgd_cpsc"].update(eps_max=0.02), r"'attacks.pgd_cpsc.eps_max': 0.02 must be a positive grid"),
    (lambda p: p["data"]["cpsc2018"].update(selection_attack="pgd"),
     r"'data.cpsc2018.selection_attack': expected an attack declared with data 'cpsc2018'"),
    (lambda p: p["data"]["cpsc2018"].update(maskd=True), r"'data.cpsc2018': unknown key\(s\) \['maskd'\]"),
])
def test_bad_cpsc_input_is_refused_before_anything_trains(parameters, change, message):
    change(parameters)
    with pytest.raises(EcgDataError, match=message):
        read_declaration(parameters)


@pytest.mark.slow
def test_a_record_longer_than_the_pad_length_stops_padding_naming_it(empty_project):
    """``truncate: null`` keeps whole records: one longer than the window is refused, naming the record (the
    sample's longest records, A1986 and A1988, hold 21,500 and 27,157 samples)."""
    pad = {"truncate": None, "length": 20480}
    with pytest.raises(EcgDataError, match=r"record A198[68]: (21500|27157) samples, longer than the 20480-sample "
                                           r"window.*padding_masking.cpsc2018.pad.truncate"):
        empty_project.run("data_cpsc2018", runtime_params={"padding_masking": {"cpsc2018": {"pad": pad}}})


@pytest.mark.slow
def test_the_cpsc_chain_runs_end_to_end_in_the_ci_env(module_project):
    """data_cpsc2018 -> ce_cpsc and nsr_cpsc (regulariser on at epoch 2) -> every CPSC attack on nsr_cpsc
    (the worst-case suite with its transfer check from ce_cpsc) -> the report's CPSC group (its lead-II
    example figures and Table 4 E's published row)."""
    module_project.run("data_cpsc2018")
    module_project.run("train_ce", namespaces=["ce_cpsc"])
    module_project.run("train_nsr", namespaces=["nsr_cpsc"])
    module_project.run("attack", namespaces=["nsr_cpsc"])
    module_project.run("report", runtime_params={"report": {"runs": ["nsr_cpsc"]}})
    root = module_project.path / "data"

    history = module_project.catalog().load("nsr_cpsc.history")
    assert list(history["epoch"]) == [1, 2]
    # margin and regulariser switch on at the ci start_epoch 2 (MSE alone before: no such column at epoch 1)
    assert history["train_log1p_nsr"].isna().tolist() == [True, False]
    assert history["train_margin"].isna().tolist() == [True, False]
    for attack in CPSC_ATTACKS:
        [version] = module_project.versions(f"data/08_reporting/attacks/nsr_cpsc/{attack}.json")
        metrics = json.loads((root / f"08_reporting/attacks/nsr_cpsc/{attack}.json/{version}/{attack}.json").read_text())
        assert metrics["grid"][0] == 0.0 and metrics["curve"][0]["n"] == 7  # one test record per class present
        if attack != "white_noise_cpsc":
            assert metrics["eps_max"] == 0.01 and "acc_robust_balanced" in metrics
    flags = json.loads(next((root / "08_reporting/attacks/nsr_cpsc/autoattack.json").rglob("*.json")).read_text())["flags"]
    assert any("transfer" in str(flag).lower() for flag in flags)
    [table] = module_project.versions("data/08_reporting/report/robustness_tables.md")
    # the version's own file, not its hidden provenance stamp
    text = next((root / f"08_reporting/report/robustness_tables.md/{table}").glob("[!.]*")).read_text()
    assert "### CPSC 2018, masked ResNet (8 leads) · pgd_cpsc · Accuracy (class-balanced)" in text
    assert "| 1.0NSR: published (seed 001 Table 4 E) | 0.8333 | 0.6733 | 0.7967 |" in text
    [figures] = module_project.versions("data/08_reporting/report/figures/example")
    drawn = sorted(p.name for p in (root / f"08_reporting/report/figures/example/{figures}").rglob("*.png"))
    assert drawn == sorted(f"cpsc2018_masked_resnet__{a}__nsr_cpsc.png" for a in CPSC_ATTACKS)


def test_the_base_split_and_padding_give_the_papers_sets_on_a_table_of_the_real_size(parameters, shared_data):
    """The 6,877 REFERENCE.csv rows (477 multi-label dropped, as ingestion does), each given a short synthetic
    12-lead signal, through the padding_masking nodes with conf/base's parameters: seed 001's 5,905 / 45 / 450
    records, 5 and 50 per class held out, the training set placed at random offsets, evaluation right-aligned."""
    from ecg_pipeline.data.batches import Batches
    from ecg_pipeline.data.cpsc2018 import read_cpsc2018_reference
    from ecg_pipeline.pipelines.padding_masking import create_pipeline

    node = {n.name: n.func for n in create_pipeline().nodes}

    reference = read_cpsc2018_reference(shared_data / "cpsc2018" / "REFERENCE.csv")
    assert len(reference) == 6877
    single = reference[reference["n_labels"] == 1].reset_index(drop=True)
    rng = np.random.default_rng(0)
    n = rng.integers(8, 40, size=len(single))
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    table = single.assign(label=single["labels"].str[0], leads=[leads] * len(single), n_samples=n,
                          signal=[rng.standard_normal(12 * k).astype(np.float32) for k in n])
    config = parameters["padding_masking"]["cpsc2018"]
    train, validation, test = node["split_cpsc2018"](table, config["split"])
    assert (len(table), len(train), len(validation), len(test)) == (6400, 5905, 45, 450)
    assert set(validation["label"].value_counts()) == {5} and set(test["label"].value_counts()) == {50}
    train_set = node["pad_cpsc2018_train"](train, config["pad"])
    test_set = node["pad_cpsc2018_test"](test, config["pad"])
    assert len(train_set["y"]) == 5905 and int(train_set["length"]) == 33792
    kept = np.diff(test_set["offsets"])
    assert (test_set["start"] == 33792 - kept).all()  # right-aligned
    shift = 33792 - np.diff(train_set["offsets"]) - train_set["start"]
    assert shift.min() >= 0 and shift.max() <= 3072 and len(np.unique(shift)) > 1000  # random, up to max_shift
    balanced = Batches(train_set, balanced=True)
    assert balanced.epoch_length == 9 * np.bincount(train_set["y"]).max()  # every class at the largest count
