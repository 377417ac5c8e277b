"""The registry's shape, from the project's own declaration (fast): each database's data pipeline stands
alone, diagnostics are off the data path, and ``main`` (the bare ``kedro run``) trains, attacks and then
reports the declared main study, the report ordered after what it reads."""

from __future__ import annotations

import copy

import pytest
from kedro.io import DataCatalog

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.hooks import ReportOrderHook
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration


@pytest.fixture(scope="module")
def declaration(base_parameters):
    return read_declaration(base_parameters)


@pytest.fixture(scope="module")
def pipelines(declaration):
    return build_pipelines(declaration)


def names(pipeline) -> set[str]:
    return {node.name for node in pipeline.nodes}


def test_each_database_has_its_own_data_pipeline(pipelines):
    parts = {db: names(pipelines[f"data_{db}"]) for db in ("mitdb", "cinc2017", "cpsc2018")}
    assert parts["mitdb"] == {"ingest_mitdb", "ingest_nstdb", "segment_beats", "split_beats", "balance_training_set"}
    assert parts["cinc2017"] == {"ingest_cinc2017", "split_cinc2017", "pad_cinc2017_train", "pad_cinc2017_validation",
                                 "pad_cinc2017_test"}
    assert "ingest_cpsc2018" in parts["cpsc2018"] and "split_cpsc2018" in parts["cpsc2018"]
    # a data variant (ECG-ATK-GAN's MIT-BIH) is MIT-BIH's template again, namespaced, from the same ingested records
    variant = names(pipelines["data_atk_gan"])
    assert variant == {f"atk_gan.{n}" for n in ("segment_beats", "split_beats", "balance_training_set")}
    assert pipelines["data_atk_gan"].inputs() == {"mitdb_records", "params:atk_gan.segmentation",
                                                  "params:atk_gan.split", "params:atk_gan.resampling"}
    inter_patient = names(pipelines["data_mitdb_ip"])   # the inter-patient split: the same template, namespace mitdb_ip
    assert inter_patient == {f"mitdb_ip.{n}" for n in ("segment_beats", "split_beats", "balance_training_set")}
    # a partition of every data stage: nothing shared, nothing left out
    assert sum(map(len, parts.values())) + len(variant) + len(inter_patient) == len(names(pipelines["data_processing"]))
    assert set().union(variant, inter_patient, *parts.values()) == names(pipelines["data_processing"])
    # each stands alone: its only free inputs are raw sources and parameters
    for db in parts:
        free = {i for i in pipelines[f"data_{db}"].inputs() if not i.startswith("params:")}
        assert all(i.endswith("_raw") for i in free), (db, free)


def test_rpeak_diagnostics_is_its_own_pipeline(pipelines):
    assert names(pipelines["rpeak_diagnostics"]) == {"measure_rpeak_detector"}
    for name, pipeline in pipelines.items():
        if name != "rpeak_diagnostics":
            assert "measure_rpeak_detector" not in names(pipeline), name


def test_main_is_the_default_study(pipelines, declaration):
    main = declaration.main
    assert main.runs == ("ce_mlp", "nsr_mlp")
    nodes = names(pipelines["main"])
    train = {n for n in nodes if n.endswith(".train")}
    evaluate = {n for n in nodes if n.endswith(".evaluate")}
    assert train == {"ce_mlp.train", "nsr_mlp.train"}
    assert evaluate == {f"{run}.{attack}.evaluate" for run in main.runs for attack in main.attacks}
    assert names(pipelines["data_mitdb"]) <= nodes
    assert not any(n.startswith(("ingest_cinc", "ingest_cpsc", "measure_")) for n in nodes)
    # the report comes after every evaluation and training it reads: one topological order holds them all
    order = [node.name for node in pipelines["main"].nodes]
    first_report = min(order.index(n) for n in nodes if n.startswith("report.") and n != "report.wait_for_evaluations")
    assert max(order.index(n) for n in train | evaluate) < first_report
    # ... and the order hook lets it through, while an ungated mix is still refused
    ReportOrderHook().before_pipeline_run({}, pipelines["main"], DataCatalog())
    with pytest.raises(EcgDataError, match="not ordered after"):
        ReportOrderHook().before_pipeline_run({}, pipelines["attack"] + pipelines["report"], DataCatalog())


def test_main_report_shows_the_study_only(pipelines):
    html = next(n for n in pipelines["main"].nodes if n.name == "report.html")
    runs = html.func.keywords["model_runs"]
    assert [r.run for r in runs] == ["ce_mlp", "nsr_mlp"]
    assert all(set(r.attacks) == {"pgd_nsr", "pgd", "square", "autoattack", "real_noise_em"} for r in runs)


@pytest.mark.parametrize(
    "main,message",
    [
        ({"runs": ["ce_mpl"], "attacks": ["pgd"]}, r"'main.runs': 'ce_mpl' is not a run declared under 'runs'"),
        ({"runs": ["ce_mlp"], "attacks": ["pgd", "nope"]}, r"'main.attacks': \['nope'\] do not judge run 'ce_mlp'"),
        ({"runs": [], "attacks": ["pgd"]}, r"'main.runs': expected a non-empty list of names"),
        ({"runs": ["ce_mlp"], "attack": ["pgd"]}, r"'main': unknown key\(s\) \['attack'\]"),
    ],
)
def test_a_bad_main_names_the_key(base_parameters, main, message):
    params = copy.deepcopy(dict(base_parameters))
    params["main"] = main
    with pytest.raises(EcgDataError, match=message):
        read_declaration(params)


def test_without_main_the_default_is_the_data(base_parameters):
    params = copy.deepcopy(dict(base_parameters))
    params.pop("main")
    pipelines = build_pipelines(read_declaration(params))
    assert "main" not in pipelines


def test_a_mistyped_pipeline_lists_the_valid_names(monkeypatch, project_root):
    from ecg_pipeline import pipeline_registry

    monkeypatch.chdir(project_root)
    registry = pipeline_registry.register_pipelines()
    assert registry["__default__"] is registry["main"]
    with pytest.raises(KeyError, match=r"no pipeline named 'train_nrs'; this project's pipelines are: .*train_nsr"):
        registry["train_nrs"]
