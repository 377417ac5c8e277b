"""The ``own_model`` pipelines as Kedro runs them (the project's catalog and ``ci`` parameters, a SequentialRunner,
no session): a state dict of the registry MLP judged on real MIT-BIH test beats writes its three versioned
artifacts; a refused model writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ecg_pipeline.errors import EcgModelError
from ecg_pipeline.pipelines.own_model import create_pipelines


def run(project_root, tmp_path, mitdb_test, own_model: dict):
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="ci",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})
    parameters = loader["parameters"]
    catalog = DataCatalog.from_config(loader["catalog"])
    catalog["mitdb_test"] = mitdb_test
    catalog["params:own_model"] = {**parameters["own_model"], **own_model}
    catalog["params:attacks"] = parameters["attacks"]
    catalog["params:data.mitdb.attack_defaults"] = parameters["data"]["mitdb"]["attack_defaults"]
    catalog["params:certify"] = parameters["certify"]
    SequentialRunner().run(create_pipelines()["own_model"], catalog)
    return parameters


def test_the_pipeline_writes_metrics_outcomes_and_the_headline_beside_the_zoo(trained_mitdb_mlp, project_root,
                                                                             tmp_path, monkeypatch):
    model, parts = trained_mitdb_mlp(100, 3)
    weights = tmp_path / "my_mlp.pt"
    torch.save(model.state_dict(), weights)
    monkeypatch.chdir(tmp_path)  # the catalog's data/ paths are relative to the project
    parameters = run(project_root, tmp_path, parts["test"],
                     {"source": str(weights), "model": {"name": "mlp"}, "bootstrap": {"resamples": 200}})
    written = {kind: sorted((tmp_path / folder).glob(f"*/{kind}.{ext}")) for kind, folder, ext in (
        ("metrics", "data/08_reporting/own_model/mitdb_test/metrics.json", "json"),
        ("outcomes", "data/07_model_output/own_model/mitdb_test/outcomes.npz", "npz"),
        ("headline", "data/08_reporting/own_model/mitdb_test/headline.csv", "csv"))}
    assert all(len(files) == 1 for files in written.values()), written
    metrics = json.loads(written["metrics"][0].read_text())
    defaults = parameters["data"]["mitdb"]["attack_defaults"]      # conf/ci: [0, 0.05], 10 beats per class
    worst, certified = metrics["worst_case"], metrics["certified"]
    assert list(metrics["evaluations"]) == ["autoattack"] and worst["grid"] == defaults["grid"]
    assert worst["n"] == 5 * defaults["per_class"] and worst["escalation"]["autoattack"]["max_doublings"] == 1
    assert certified["supported"] and certified["n"] == worst["n"]
    assert certified["acc_robust_balanced"] <= worst["acc_robust_balanced"] + 1e-12
    with np.load(written["outcomes"][0]) as outcomes:
        assert outcomes["pred_autoattack"].shape == outcomes["pred_certify"].shape == (2, worst["n"])
        certified_right = outcomes["pred_certify"] == outcomes["subset_y"]
        assert not (certified_right & (outcomes["pred_autoattack"] != outcomes["subset_y"])).any()
    table = pd.read_csv(written["headline"][0])
    assert table["model"].iloc[-1] == "my_mlp (my_mlp)" and {"CE (ce_mlp)", "0.4NSR (nsr_mlp)"} <= set(table["model"])
    assert table["worst-case ACC_robust"].iloc[-1] == pytest.approx(worst["acc_robust_balanced"])
    assert table["certified ACC_robust"].iloc[-1] == pytest.approx(certified["acc_robust_balanced"])


def test_a_refused_model_writes_nothing(trained_mitdb_mlp, project_root, tmp_path, monkeypatch):
    _, parts = trained_mitdb_mlp(100, 3)
    broken = tmp_path / "dropout.ts"
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5),
                                                        torch.nn.Linear(187, 5)).train()), str(broken))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EcgModelError, match="two identical calls"):
        run(project_root, tmp_path, parts["test"], {"source": str(broken)})
    assert not (tmp_path / "data").exists()


def test_own_model_wfdb_judges_the_users_records():
    pipelines = create_pipelines()
    assert sorted(pipelines) == ["own_model", "own_model_wfdb"]
    wfdb = pipelines["own_model_wfdb"]
    assert "wfdb_test" in wfdb.inputs() and "mitdb_test" not in wfdb.inputs()
    assert wfdb.outputs() == {"own_model_wfdb_metrics", "own_model_wfdb_outcomes", "own_model_wfdb_headline"}


def test_certify_follows_the_blocks_models_list(project_root):
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.models import build_model
    from ecg_pipeline.pipelines.own_model.nodes import certification

    parameters = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="ci",
                                   **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]
    block, defaults = parameters["certify"], parameters["data"]["mitdb"]["attack_defaults"]
    spec, because = certification({"certify": True}, block, defaults, build_model("mlp"))
    assert because == "" and spec.method == block["method"] and list(spec.grid) == defaults["grid"]
    spec, because = certification({"certify": True}, block, defaults, build_model("kachuee_cnn"))
    assert spec is None and "'kachuee_cnn' is not in certify.models ['mlp']" in because
    assert "--params=certify.models=[mlp,kachuee_cnn]" in because
    assert certification({"certify": False}, block, defaults, build_model("mlp"))[0] is None
