"""Pipeline slices on an in-memory catalog with tiny synthetic data (fast tier, spaceflights style):
the templates as the registry instantiates them, run by Kedro's SequentialRunner, no files but checkpoints."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ecg_pipeline.datasets import StoredArtifact
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration


@pytest.fixture(scope="module")
def parameters(base_parameters):
    params = copy.deepcopy(dict(base_parameters))
    for run in params["runs"].values():
        run.update(epochs=2, batch_size=32, progress=False, device="cpu")
        if "start_epoch" in run.get("objective", {}):  # the CPSC runs' warm-up must end within the 2 epochs
            run["objective"] = {**run["objective"], "start_epoch": 2}
    for ensemble in params["ensembles"].values():  # least squares needs more rows (batch 32) than columns
        if "decorrelation" in ensemble:
            ensemble["decorrelation"] = {**ensemble["decorrelation"], "projection_dim": 16}
    for attack in params["attacks"].values():
        attack.update(progress=False, per_class=None)
    params["attacks"]["pgd"].update(grid=[0.0, 0.05], eps_max=0.05, params={"steps": 5, "step_size": 0.02})
    params["sweeps"] = {"nsr_mlp_sweep": {**params["sweeps"]["nsr_mlp_sweep"], "values": [0.1, 0.4]}}
    params["model_selection"] = {"attack": "pgd"}   # the slices score with the cheap PGD above (worst case: its own test)
    return params


@pytest.fixture(scope="module")
def pipelines(parameters):
    return build_pipelines(read_declaration(parameters))


def run(pipeline, inputs: dict) -> DataCatalog:
    # Kedro hands a node `params:report.runs` as well as `params:report`: the same here
    report = inputs.get("params:report")
    if isinstance(report, dict):
        inputs = {**{f"params:report.{key}": value for key, value in report.items()}, **inputs}
    catalog = DataCatalog({name: MemoryDataset(value, copy_mode="assign") for name, value in inputs.items()})
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_training_template_instance(pipelines, parameters, synthetic_beats, tmp_path):
    pipeline = pipelines["train_nsr"].only_nodes_with_namespaces(["nsr_mlp"])
    assert pipeline.inputs() == {"mitdb_train_balanced", "mitdb_validation", "nsr_mlp.checkpoints", "params:runs.nsr_mlp"}
    catalog = run(pipeline, {"mitdb_train_balanced": synthetic_beats(20), "mitdb_validation": synthetic_beats(5, seed=1),
                             "nsr_mlp.checkpoints": tmp_path, "params:runs.nsr_mlp": parameters["runs"]["nsr_mlp"]})
    trained = catalog.load("nsr_mlp.model")
    history = catalog.load("nsr_mlp.history")
    assert trained["meta"]["run"] == "nsr_mlp" and trained["meta"]["objective"]["beta"] == 0.4
    assert trained["meta"]["classes"] == ["N", "S", "V", "F", "Q"]
    assert history["epoch"].tolist() == [1, 2] and history["train_loss"].notna().all()
    assert (tmp_path / trained["meta"]["fingerprint"] / "checkpoint.pt").exists()


@pytest.fixture(scope="module")
def tiny_model(parameters, synthetic_beats):
    from ecg_pipeline.defenses import TrainingConfig, fit

    config = TrainingConfig.from_params(parameters["runs"]["ce_mlp"], "runs.ce_mlp", ignore=("family", "label", "data"))
    model, meta, _ = fit(config, synthetic_beats(20), None, checkpoints=None, run_name="ce_mlp")
    model.meta = meta
    return model


def test_attack_template_instances(pipelines, parameters, synthetic_beats, tiny_model):
    pipeline = pipelines["attack"].only_nodes_with_namespaces(["ce_mlp.pgd", "ce_mlp.pgd_validation"])
    # the attack's block and its data's defaults (what the block leaves out: bounds, threads, ...)
    assert pipeline.inputs() == {"ce_mlp.model", "mitdb_test", "mitdb_validation", "params:attacks.pgd",
                                 "params:data.mitdb.attack_defaults"}
    catalog = run(pipeline, {"ce_mlp.model": tiny_model, "mitdb_test": synthetic_beats(6, seed=2),
                             "mitdb_validation": synthetic_beats(4, seed=3), "params:attacks.pgd": parameters["attacks"]["pgd"],
                             "params:data.mitdb.attack_defaults": parameters["data"]["mitdb"]["attack_defaults"]})
    test, validation = catalog.load("ce_mlp.pgd.metrics"), catalog.load("ce_mlp.pgd_validation.metrics")
    assert test["run"] == "ce_mlp.pgd" and test["n"] == 30 and validation["n"] == 20
    assert test["curve"][1]["balanced_accuracy"] <= test["curve"][0]["balanced_accuracy"]
    json.dumps(test)  # what JSONDataset will write
    noise = pipelines["attack"].only_nodes_with_namespaces(["ce_mlp.real_noise_em"])
    assert "nstdb_noise" in noise.inputs()


def test_sweep_selects_the_member_with_the_best_validation_score(pipelines):
    pipeline = pipelines["sweep"].only_nodes("nsr_mlp_sweep.select")
    assert pipeline.inputs() == {f"nsr_mlp_sweep.beta_{v}.{kind}" for v in ("0p1", "0p4")
                                 for kind in ("model", "pgd_validation.metrics")}

    def metrics(robust, clean):
        return {"acc_robust_balanced": robust, "curve": [{"balanced_accuracy": clean, "accuracy": clean}], "attack": "pgd",
                "run": "nsr_mlp_sweep.member.pgd_validation"}

    models = {v: SimpleNamespace(weights=v, meta={"run": v}) for v in ("0p1", "0p4")}  # as TorchModelDataset loads
    catalog = run(pipeline, {"nsr_mlp_sweep.beta_0p1.pgd_validation.metrics": metrics(0.5, 0.9),
                             "nsr_mlp_sweep.beta_0p4.pgd_validation.metrics": metrics(0.7, 0.8),
                             **{f"nsr_mlp_sweep.beta_{v}.model": m for v, m in models.items()}})
    selected = catalog.load("nsr_mlp_sweep.model")
    assert selected["model"].weights == "0p4" and selected["meta"]["selected_member"] == "nsr_mlp_sweep.beta_0p4"
    assert catalog.load("nsr_mlp_sweep.selection")["member"].tolist() == ["beta_0p4", "beta_0p1"]


def _evaluation(run, attack, accuracy):
    grid = [0.0, 0.05]
    curve = [{"eps": e, "n": 10, "accuracy": a, "balanced_accuracy": a, "macro_f1": a,
              "per_class": {c: {"sensitivity": a, "specificity": 1.0} for c in "NSVFQ"}, "confusion": []}
             for e, a in zip(grid, accuracy)]
    return StoredArtifact(filepath=f"x/{run}/{attack}.json/v1/{attack}.json", version="v1", present=True,
                          data={"run": f"{run}.{attack}", "attack": attack, "grid_param": "eps", "grid": grid,
                                "classes": list("NSVFQ"), "curve": curve, "eps_max": 0.05,
                                "acc_robust_balanced": 0.5, "acc_robust": 0.5, "f1_robust": 0.5})


def test_report_slice_reads_what_exists_and_lists_the_rest_one_row_per_model(pipelines, parameters):
    pipeline = pipelines["report"].only_nodes("report.inventory", "report.robustness_tables", "report.robustness_curves")
    # the worst cases are computed once, by their own node (report.worst_cases), and read by tables and curves
    assert pipeline.inputs() == {"params:report", "attack_evaluations", "report.worst_cases", "training_histories"}
    pipeline = pipelines["report"].only_nodes("report.worst_cases", "report.inventory", "report.robustness_tables",
                                              "report.robustness_curves")
    assert pipeline.inputs() - {f"params:report.{k}" for k in ("runs", "attacks", "pin", "groups", "bootstrap")} == {
        "params:report", "attack_evaluations", "attack_examples", "training_histories"}
    stored = {"ce_mlp.pgd": _evaluation("ce_mlp", "pgd", [0.9, 0.4]),
              "nsr_mlp.pgd": _evaluation("nsr_mlp", "pgd", [0.85, 0.7]),
              "nsr_mlp.fgsm": _evaluation("nsr_mlp", "fgsm", [0.85, 0.75])}
    catalog = run(pipeline, {"params:report": {**parameters["report"], "figure": {"dpi": 30}},
                             "attack_evaluations": stored, "attack_examples": {}, "training_histories": {}})
    inventory = catalog.load("report.inventory")
    rows = {row["run"]: row for row in inventory["coverage"]}
    # every declared run, the one sweep's selection, and every ensemble (judged as one model)
    assert len(rows) == len(parameters["runs"]) + 1 + len(parameters["ensembles"])
    assert rows["dec_cnn"]["command"].startswith("kedro run --pipelines=train_ens --tags=dec_cnn && ")
    # a single model is judged by every MIT-BIH attack but those that need an ensemble (the vote's surrogates)
    mitdb_attacks = [a for a, spec in parameters["attacks"].items()
                     if "mitdb" in _named_data(spec) and not (spec.get("params") or {}).get("surrogates")]
    n_attacks = len(mitdb_attacks)
    assert rows["ce_mlp"]["missing"] == [a for a in mitdb_attacks if a != "pgd"]
    assert rows["ce_mlp"]["command"] == "kedro run --pipelines=attack --namespaces=ce_mlp --only-missing-outputs"
    assert len(rows["ce_cnn"]["missing"]) == n_attacks
    assert rows["ce_cnn"]["command"] == ("kedro run --pipelines=train_ce --namespaces=ce_cnn && "
                                         "kedro run --pipelines=attack --namespaces=ce_cnn")
    assert rows["nsr_mlp_sweep"]["command"].startswith("kedro run --pipelines=sweep --namespaces=nsr_mlp_sweep && ")
    # every model lacks something here, but ECG-ATK-GAN's source (its family is judged by no attack); the GAN,
    # trained on the union, is judged on its clean beats (data atk_gan_union judged_on atk_gan) by atk_gan's attacks
    assert rows["atk_gan_source"]["missing"] == []
    assert rows["atk_gan"]["missing"] == [a for a, spec in parameters["attacks"].items() if "atk_gan" in _named_data(spec)]
    assert [m["run"] for m in inventory["missing"]] == [r for r in rows if r != "atk_gan_source"]
    assert {i["dataset"] for i in inventory["inputs"]} == {"ce_mlp.pgd.metrics", "nsr_mlp.pgd.metrics",
                                                           "nsr_mlp.fgsm.metrics"}
    cells = catalog.load("report.robustness_tables")
    row = cells[(cells["row"] == "0.4NSR (nsr_mlp)") & cells["table"].str.startswith("MIT-BIH, MLP · pgd · Accuracy")]
    assert dict(zip(row["column"], row["value"])) == {"0": 0.85, "0.05": 0.7, "ACC_robust": 0.5}
    assert set(catalog.load("report.curve_figures@matplotlib")) == {"mitdb_mlp__pgd.png", "mitdb_mlp__fgsm.png"}


def test_report_strict_and_pins(pipelines, parameters):
    pipeline = pipelines["report"].only_nodes("report.inventory")
    stored = {"ce_mlp.pgd": _evaluation("ce_mlp", "pgd", [0.9, 0.4])}
    from ecg_pipeline.errors import EcgDataError

    with pytest.raises(Exception, match=r"report: \d+ declared evaluation\(s\) of \d+ model\(s\) are not stored"):
        run(pipeline, {"params:report": {**parameters["report"], "strict": True, "runs": ["ce_mlp"]},
                       "attack_evaluations": stored, "training_histories": {}})
    only_pgd = {**parameters["report"], "strict": True, "runs": ["ce_mlp"], "attacks": ["pgd"]}
    catalog = run(pipeline, {"params:report": only_pgd, "attack_evaluations": stored, "training_histories": {}})
    assert catalog.load("report.inventory")["missing"] == []
    with pytest.raises(Exception, match=r"report.pin.ce_mlp.fgsm': v0 is pinned but no version"):
        run(pipeline, {"params:report": {**only_pgd, "pin": {"ce_mlp": {"fgsm": "v0"}}, "attacks": None, "strict": False},
                       "attack_evaluations": stored, "training_histories": {}})
    with pytest.raises(Exception, match=r"'report.runs': \['ce_mpl'\] are not declared model runs"):
        run(pipeline, {"params:report": {**only_pgd, "runs": ["ce_mpl"]}, "attack_evaluations": stored,
                       "training_histories": {}})
    assert EcgDataError  # the errors above are the project's (wrapped by the runner in some Kedro versions)


def _outcome_examples(subset, y, pred):
    return StoredArtifact(filepath="x", version="v1", present=True,
                          data={"grid": np.array([0.0, 0.05]), "subset": np.asarray(subset),
                                "subset_y": np.asarray(y), "pred": np.asarray(pred)})


def test_report_headline_is_the_per_beat_worst_case(pipelines, parameters):
    pipeline = pipelines["report"].only_nodes("report.worst_cases", "report.bracket", "report.headline",
                                              "report.robustness_tables")
    y = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    # pgd breaks beats 0-3 at eps 0.05, autoattack breaks beats 2-5: together 6 of 10; each alone 4 of 10
    pgd = _evaluation("ce_mlp", "pgd", [1.0, 0.6])
    auto = _evaluation("ce_mlp", "autoattack", [1.0, 0.6])
    auto.data["flags"] = [{"flag": "zero_input_gradients", "raised": True}, {"flag": "x", "raised": False}]
    broken_pgd = [(c + 1) % 5 if i < 4 else c for i, c in enumerate(y)]
    broken_auto = [(c + 1) % 5 if 2 <= i < 6 else c for i, c in enumerate(y)]
    catalog = run(pipeline, {
        "params:report": {**parameters["report"], "runs": ["ce_mlp"]},
        "certify_evaluations": {},   # no certified bound stored: the headline's certified columns stay empty
        "attack_evaluations": {"ce_mlp.pgd": pgd, "ce_mlp.autoattack": auto},
        "attack_examples": {"ce_mlp.pgd": _outcome_examples(range(10), y, [y, broken_pgd]),
                            "ce_mlp.autoattack": _outcome_examples(range(10), y, [y, broken_auto])}})
    headline = catalog.load("report.headline").set_index("model").loc["CE (ce_mlp)"]
    assert headline["clean"] == 1.0 and headline["attacks"] == 2 and headline["beats"] == 10
    expected = float(np.sqrt(1.0 * (1.0 + 0.4) / 2))  # eq. (8): sqrt(clean x AUC), AUC of [1.0, 0.4] over [0, 0.05]
    assert headline["worst-case ACC_robust"] == pytest.approx(expected)
    # each attack alone, counted on the same beats and grid as the worst case: 4 of 10 broken at eps 0.05
    alone = float(np.sqrt(1.0 * (1.0 + 0.6) / 2))
    assert headline["min over attacks that scored every beat"] == pytest.approx(alone)
    assert headline["min over attacks that scored every beat"] >= headline["worst-case ACC_robust"]
    assert headline["warnings"] == "many beats have zero input gradients"  # the flag in words
    cells = catalog.load("report.robustness_tables")
    worst = cells[cells["attack"] == "worst case"]
    assert dict(zip(worst[worst["table"].str.contains("Accuracy")]["column"],
                    worst[worst["table"].str.contains("Accuracy")]["value"]))["0.05"] == pytest.approx(0.4)


def _named_data(spec: dict) -> list[str]:
    """An attack block's ``data``: one data or a list (parameters_attack.yml)."""
    return [spec["data"]] if isinstance(spec["data"], str) else list(spec["data"])
