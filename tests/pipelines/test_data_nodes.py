"""Ingestion and segmentation nodes on bad input (fast tier: one real record copied to tmp_path):
the node fails with a message naming the record and file, and nothing is written."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from ecg_pipeline.datasets import NpzDataset
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.segmentation import nodes as segmentation


def data_node(name: str):
    """The function of the data node ``name``, as the template builds it from the database's declaration."""
    from ecg_pipeline.pipelines.data_processing import create_pipeline

    return next(node.func for node in create_pipeline().nodes if node.name == name)


ingest_mitdb, ingest_cinc2017 = data_node("ingest_mitdb"), data_node("ingest_cinc2017")


@pytest.fixture
def record_100(shared_data, tmp_path):
    folder = tmp_path / "mitdb"
    folder.mkdir()
    for ext in ("hea", "dat", "atr"):
        shutil.copy(shared_data / "mitdb" / f"100.{ext}", folder / f"100.{ext}")
    return folder


def test_ingestion_refuses_an_empty_annotation_file(record_100):
    (record_100 / "100.atr").write_bytes(b"")
    with pytest.raises(EcgDataError, match=r"record 100: annotation file .*mitdb/100\.atr holds no annotations"):
        ingest_mitdb(record_100, {"records": ["100"]})


def test_segmentation_writes_no_beat_file_for_a_record_without_annotations(record_100, tmp_path):
    records = ingest_mitdb(record_100, {"records": ["100"]})
    records["ann_sample"] = [np.zeros(0, dtype=np.int64)]  # as a table ingested before the check would hold
    records["ann_symbol"] = [np.zeros(0, dtype=str)]
    beats_file = tmp_path / "mitdb_beats.npz"
    catalog = DataCatalog({"mitdb_records": MemoryDataset(records, copy_mode="assign"),
                           "params:segmentation": MemoryDataset({"scheme": "kachuee"}),
                           "mitdb_beats": NpzDataset(filepath=str(beats_file))})
    pipeline = Pipeline([Node(data_node("segment_beats"), ["mitdb_records", "params:segmentation"], "mitdb_beats")])
    with pytest.raises(EcgDataError, match=r"segment_beats: record 100 has no annotations"):
        SequentialRunner().run(pipeline, catalog)
    assert list(tmp_path.glob("*.npz")) == [] and list(tmp_path.glob(".*")) == []


def test_detector_is_not_scored_on_a_record_without_reference_beats(record_100):
    records = ingest_mitdb(record_100, {"records": ["100"]})
    records["ann_symbol"] = [np.full(len(records["ann_sample"].iloc[0]), "+")]  # rhythm marks only
    with pytest.raises(EcgDataError, match=r"measure_detector: record\(s\) \['100'\] have no reference beat"):
        segmentation.measure_detector(records, {})


def test_cinc2017_ingestion_reads_an_unzipped_folder(shared_data, tmp_path):
    few = ["A00001", "A00004"]
    unzipped = tmp_path / "cinc2017" / "training2017"
    unzipped.mkdir(parents=True)
    with zipfile.ZipFile(shared_data / "cinc2017" / "training2017.zip") as z:
        for name in ["REFERENCE.csv", *(f"{r}.{ext}" for r in few for ext in ("hea", "mat"))]:
            (unzipped / name).write_bytes(z.read(f"training2017/{name}"))
    table = ingest_cinc2017(tmp_path / "cinc2017", {"records": few})
    assert table["record_id"].tolist() == few and table["n_samples"].tolist() == [9000, 9000]


def test_cinc2017_ingestion_names_the_folder_when_neither_layout_is_there(tmp_path):
    with pytest.raises(EcgDataError, match=r"CinC 2017 folder .*cinc2017: neither training2017\.zip nor its "
                                           r"unzipped content"):
        ingest_cinc2017(tmp_path / "cinc2017", {})


def test_a_partial_cpsc_copy_names_the_parameter_and_the_split_that_fits(shared_data):
    ingest_cpsc2018, split_cpsc = data_node("ingest_cpsc2018"), data_node("split_cpsc2018")

    params = {"single_label_only": True, "require_all": True}
    with pytest.raises(EcgDataError, match=r"6380 of 6400 .*require_all=false reads the 20 present") as err:
        ingest_cpsc2018(shared_data / "cpsc2018", params)
    assert "--params=ingestion.cpsc2018.require_all=" in str(err.value)
    assert err.value.key == "ingestion.cpsc2018.require_all"
    records = ingest_cpsc2018(shared_data / "cpsc2018", {**params, "require_all": False})
    assert len(records) == 20
    with pytest.raises(EcgDataError, match=r"need at least 55 per class.*val_per_class=0, test_per_class=1") as err:
        split_cpsc(records, {"val_per_class": 5, "test_per_class": 50, "seed": 0})
    assert "--params=padding_masking.cpsc2018.split.test_per_class=" in str(err.value)
    train, validation, test = split_cpsc(records, {"val_per_class": 0, "test_per_class": 1, "seed": 0,
                                                   "absent_classes": "skip"})
    assert len(train) + len(validation) + len(test) == 20 and len(test) == 7  # 7 classes present, 1 test each


def test_an_error_without_a_key_is_passed_through_unchanged():
    from ecg_pipeline.pipelines.params import call_with_params

    def domain(*, a: int = 0):
        raise EcgDataError("plain")

    with pytest.raises(EcgDataError, match=r"^plain$"):
        call_with_params(domain, params={"a": 1}, section="x.y")
