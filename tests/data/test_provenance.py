"""Record-table provenance: folder, records and checksums travel with the table through parquet."""

from __future__ import annotations

import shutil

import pandas as pd

from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.provenance import other_source, sha256, stamp


def data_node(name: str):
    """The function of the data node ``name``, as the template builds it from the database's declaration."""
    from ecg_pipeline.pipelines.data_processing import create_pipeline

    return next(node.func for node in create_pipeline().nodes if node.name == name)


def test_stamp_survives_parquet_and_names_the_files_read(shared_data, tmp_path):
    folder = tmp_path / "mitdb"
    folder.mkdir()
    for name in ("100.hea", "100.dat", "100.atr", "101.hea", "101.dat", "101.atr"):
        shutil.copy(shared_data / "mitdb" / name, folder / name)
    table = stamp(read_mitdb(folder, records=["100"]), folder)
    table.to_parquet(tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet").attrs["provenance"]
    assert back["folder"] == str(folder.resolve()) and back["records"] == ["100"]
    assert sorted(back["sha256"]) == ["100.atr", "100.dat", "100.hea"]  # 101 was not read
    assert back["sha256"]["100.dat"] == sha256(shared_data / "mitdb" / "100.dat")
    restored = pd.read_parquet(tmp_path / "t.parquet")
    assert other_source(restored, folder) is None
    assert other_source(restored, tmp_path / "elsewhere" / "mitdb") == str(folder.resolve())
    assert other_source(pd.DataFrame({"record_id": ["100"]}), folder) is None  # no provenance: no claim


# ---- reading nothing is an error; symbolic links are followed ------------------------------------------


def _cpsc_root_with_linked_records(shared_data, tmp_path):
    """A CPSC 2018 folder as a user lays it out with the records on another disk: records/ is a link."""
    root = tmp_path / "cpsc2018"
    root.mkdir()
    shutil.copy(shared_data / "cpsc2018" / "REFERENCE.csv", root / "REFERENCE.csv")
    (root / "records").symlink_to(shared_data / "cpsc2018" / "records", target_is_directory=True)
    return root


def test_a_symlinked_cpsc_records_folder_is_read(shared_data, tmp_path):
    # Path.rglob does not descend into a linked folder: the old reader found 0 records here and returned an
    # empty table, which the run wrote as empty splits with rc 0.
    from ecg_pipeline.data.cpsc2018 import read_cpsc2018

    linked = read_cpsc2018(_cpsc_root_with_linked_records(shared_data, tmp_path))
    direct = read_cpsc2018(shared_data / "cpsc2018")
    wfdb_only = direct[direct["file_format"] == "wfdb"]
    assert len(linked) == len(wfdb_only) > 0
    assert sorted(linked["record_id"]) == sorted(wfdb_only["record_id"])


def test_zero_cpsc_records_is_an_error_naming_the_folder(shared_data, tmp_path):
    import pytest

    from ecg_pipeline.data.cpsc2018 import read_cpsc2018
    from ecg_pipeline.errors import EcgDataError

    root = tmp_path / "cpsc2018"
    root.mkdir()
    shutil.copy(shared_data / "cpsc2018" / "REFERENCE.csv", root / "REFERENCE.csv")
    with pytest.raises(EcgDataError, match=r"read 0 records under .*cpsc2018"):
        read_cpsc2018(root)


def test_zero_mitdb_records_names_the_parameter(shared_data):
    import pytest

    from ecg_pipeline.errors import EcgDataError
    ingest_mitdb = data_node("ingest_mitdb")

    with pytest.raises(EcgDataError, match=r"0 records.*ingestion\.mitdb\.records"):
        ingest_mitdb(shared_data / "mitdb", {"records": []})


def test_a_128_hz_record_names_the_parameter_that_accepts_it(shared_data, tmp_path):
    # The refusal must say which parameter would accept the record, not only that the rate is wrong.
    import pytest

    from ecg_pipeline.errors import EcgDataError
    ingest_mitdb = data_node("ingest_mitdb")

    folder = tmp_path / "mitdb"
    folder.mkdir()
    for name in ("100.dat", "100.atr"):
        shutil.copy(shared_data / "mitdb" / name, folder / name)
    header = (shared_data / "mitdb" / "100.hea").read_text().splitlines()
    header[0] = header[0].replace(" 360 ", " 128 ")
    (folder / "100.hea").write_text("\n".join(header) + "\n")
    with pytest.raises(EcgDataError, match=r"128.*Hz.*ingestion\.mitdb\.expected_fs") as err:
        ingest_mitdb(folder, {"records": ["100"]})
    assert "--params=ingestion.mitdb.expected_fs=" in str(err.value)


# ---- artifact stamps ------------------------------------------------------------------------------------


def test_differences_name_each_parameter_and_data_root_and_ignore_the_env_alone():
    from ecg_pipeline.data.provenance import artifact_stamp, differences, flatten

    base = flatten({"max_beats_per_class": None, "seed": 0, "progress": True}, "segmentation")
    assert base == {"segmentation.max_beats_per_class": None, "segmentation.seed": 0}  # progress changes no result
    built = artifact_stamp(env="quick", data_root={"mitdb_raw": "/a/mitdb"},
                           params={**base, "segmentation.max_beats_per_class": 1000})
    here = artifact_stamp(env="local", data_root={"mitdb_raw": "/b/mitdb"}, params=base)
    assert differences(built, here) == ["mitdb_raw read from /a/mitdb (this run: /b/mitdb)",
                                        "segmentation.max_beats_per_class=1000 (this run: null)"]
    same_elsewhere = artifact_stamp(env="ci", data_root={"mitdb_raw": "/b/mitdb"}, params=dict(base))
    assert differences(same_elsewhere, here) == []


def test_a_node_keyword_bound_to_null_is_the_same_run_as_one_not_bound_and_a_parameter_null_is_not():
    from ecg_pipeline.data.provenance import artifact_stamp, differences

    params = {"runs.adv_mlp.seed": 0, "adv_mlp.train:overrides": None}
    before = artifact_stamp(env=None, data_root={}, params=params)  # built before the expansion keyword existed
    after = artifact_stamp(env=None, data_root={}, params={**params, "adv_mlp.train:expansion": None})
    assert before["fingerprint"] != after["fingerprint"] and differences(before, after) == []
    expanded = artifact_stamp(env=None, data_root={}, params={**params, "adv_mlp.train:expansion": {"seed": 1}})
    assert differences(before, expanded) == ['adv_mlp.train:expansion not set (this run: {"seed": 1})']
    # a parameter set to null is not its default (attack_defaults.per_class: null is the whole split, absent is 250)
    nulled = artifact_stamp(env=None, data_root={}, params={**params, "runs.adv_mlp.per_class": None})
    assert differences(before, nulled) == ["runs.adv_mlp.per_class not set (this run: null)"]


def test_a_stamp_sits_beside_its_artifact_hidden_from_collection_globs(tmp_path):
    import fsspec

    from ecg_pipeline.data.provenance import read_stamp, stamp_path, write_stamp

    artifact = tmp_path / "pgd.json"
    artifact.write_text("{}")
    assert read_stamp(artifact) is None  # an artifact from older code: no claim
    write_stamp(artifact, {"env": "ci", "params": {"a": 1}})
    assert read_stamp(artifact) == {"env": "ci", "params": {"a": 1}}
    assert stamp_path(artifact).name == ".pgd.json.provenance"
    # the report's collections glob with fsspec, whose `*` also matches hidden files
    assert fsspec.filesystem("file").glob(str(tmp_path / "*.json")) == [str(artifact)]


def test_a_split_with_zero_beats_is_refused_naming_it():
    import numpy as np
    import pytest

    from ecg_pipeline.data.provenance import check_not_empty
    from ecg_pipeline.errors import EcgDataError

    with pytest.raises(EcgDataError, match=r"mitdb_train_balanced: would be written with 0 beats"):
        check_not_empty("mitdb_train_balanced", {"x": np.zeros((0, 187), np.float32), "y": np.zeros(0, int)})
    with pytest.raises(EcgDataError, match=r"cpsc2018_records: would be written with 0 records"):
        check_not_empty("cpsc2018_records", pd.DataFrame({"record_id": []}))
    check_not_empty("mitdb_test", {"x": np.zeros((1, 187), np.float32)})  # one beat is a (small) split


def test_a_blocks_listing_of_seeds_and_splits_does_not_change_its_own_run():
    """The main job's ce_mlp and the benchmark table's (``seeds: [0, 1, 2]``, ``splits: [...]``) are one model: the
    listing says which other runs the block expands to; a run's own seed and split are its bound ``expansion``."""
    from ecg_pipeline.data.provenance import artifact_stamp, differences

    params = {"runs.ce_mlp.seed": 0, "runs.ce_mlp.epochs": 50}
    main_job = artifact_stamp(env="mlp_defenses", data_root={}, params=params)
    table = artifact_stamp(env="benchmark_table", data_root={}, params={
        **params, "runs.ce_mlp.seeds": [0, 1, 2], "runs.ce_mlp.splits": ["random", "inter_patient"],
        "data.mitdb.splits.random": "mitdb", "data.mitdb.splits.inter_patient": "mitdb_ip"})
    assert differences(main_job, table) == [] and differences(table, main_job) == []
    # what the run is still counts: its epochs, and a seed bound by the expansion
    longer = artifact_stamp(env=None, data_root={}, params={**params, "runs.ce_mlp.epochs": 60,
                                                            "runs.ce_mlp.seeds": [0, 1]})
    assert differences(main_job, longer) == ["runs.ce_mlp.epochs=50 (this run: 60)"]
    seeded = artifact_stamp(env=None, data_root={}, params={**params, "ce_mlp_s1.train:expansion.seed": 1})
    assert differences(main_job, seeded) == ["ce_mlp_s1.train:expansion.seed not set (this run: 1)"]
