"""The inter-patient split declared (issue 28 item 1): data ``mitdb_ip`` (de Chazal DS1/DS2) built by
``data_mitdb_ip`` and a run block with ``splits: [random, inter_patient]`` trained on both, through real
KedroSessions in the ``ci`` env on the real records 100, 119, 208, 217, 232."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.data.splits import DS1_RECORDS, DS2_RECORDS
from ecg_pipeline.defenses.fit import data_fingerprint

BOTH_SPLITS = {"runs": {"ce_mlp": {"splits": ["random", "inter_patient"]}}}


@pytest.fixture(scope="module")
def trained(module_project, processed_mitdb):
    project = processed_mitdb(module_project, "ingest_mitdb")
    project.run(["data_mitdb", "data_mitdb_ip"], only_missing_outputs=True)
    project.run("train_ce", namespaces=["ce_mlp", "ce_mlp_ip"], runtime_params=BOTH_SPLITS)
    project.run("attack", namespaces=["ce_mlp_ip.pgd", "ce_mlp_ip.worst_case_selection_validation"],
                runtime_params=BOTH_SPLITS)
    return project


@pytest.mark.parametrize("env", ["base", "ci", "quick"])
def test_the_inter_patient_data_is_mitdb_but_for_the_split_method(project_root, env):
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env=env,
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})
    params = loader["parameters"]
    variant = params["mitdb_ip"]
    assert variant["segmentation"] == params["segmentation"] and variant["resampling"] == params["resampling"]
    assert variant["split"] == {**params["split"], "method": "inter_patient"} and params["split"]["method"] == "random"
    assert params["data"]["mitdb"]["splits"] == {"random": "mitdb", "inter_patient": "mitdb_ip"}
    assert params["data"]["mitdb_ip"]["variant_of"] == "mitdb"


def records(split: dict) -> set[str]:
    return set(np.unique(split["record_id"]).tolist())


@pytest.mark.slow
def test_the_inter_patient_split_keeps_ds1_for_training_and_ds2_for_test(trained):
    catalog = trained.catalog()
    train, validation, test = (catalog.load(f"mitdb_ip.mitdb_{s}") for s in ("train_balanced", "validation", "test"))
    # ci's DS1 records 119 and 208 (one for validation, whole), DS2 100 and 232; paced 217 in neither
    assert records(test) == {"100", "232"} and records(test) <= set(DS2_RECORDS)
    assert records(train) | records(validation) == {"119", "208"} and len(records(validation)) == 1
    assert not records(train) & records(validation)
    assert "217" not in records(train) | records(validation) | records(test)
    assert records(train) <= set(DS1_RECORDS) and records(validation) <= set(DS1_RECORDS)
    # the random split of the same records puts beats of every record into its test split
    assert records(catalog.load("mitdb_test")) == {"100", "119", "208", "217", "232"}


@pytest.mark.slow
def test_a_block_with_both_splits_trains_one_model_on_each(trained):
    catalog = trained.catalog(runtime_params=BOTH_SPLITS)
    own, inter_patient = catalog.load("ce_mlp.model"), catalog.load("ce_mlp_ip.model")
    assert own.meta["data_fingerprint"] == data_fingerprint(catalog.load("mitdb_train_balanced"))
    assert inter_patient.meta["data_fingerprint"] == data_fingerprint(catalog.load("mitdb_ip.mitdb_train_balanced"))
    assert own.meta["data_fingerprint"] != inter_patient.meta["data_fingerprint"]
    assert inter_patient.meta["run"] == "ce_mlp_ip" and inter_patient.meta["epochs"] == own.meta["epochs"] == 2


@pytest.mark.slow
def test_the_inter_patient_run_is_judged_on_ds2_and_selected_on_ds1(trained):
    catalog = trained.catalog(runtime_params=BOTH_SPLITS)
    test, validation = catalog.load("mitdb_ip.mitdb_test"), catalog.load("mitdb_ip.mitdb_validation")
    judged = catalog.load("ce_mlp_ip.pgd.metrics")
    scored = catalog.load("ce_mlp_ip.worst_case_selection_validation.metrics")
    # ci's attack subset: at most 10 beats per class of each split (DS2 holds one V beat, no F or Q)
    def subset_size(split):
        return int(np.minimum(np.bincount(split["y"], minlength=5), 10).sum())
    assert judged["n"] == subset_size(test) and scored["n"] == subset_size(validation)
    assert scored["attack"] == "autoattack" and {"apgd_t", "square"} <= set(scored["params"]["attacks"])
