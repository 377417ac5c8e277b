"""Each data pipeline through a real KedroSession, ``ci`` env, real shared data."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingested(kedro_project):
    kedro_project.run("ingestion")
    return kedro_project


def test_ingestion_writes_record_tables(ingested):
    catalog = ingested.catalog()
    mitdb = catalog.load("mitdb_records")
    assert mitdb["record_id"].tolist() == ["100", "119", "208", "217", "232"]
    assert set(mitdb["lead"]) == {"MLII"} and set(mitdb["fs"]) == {360.0}
    assert mitdb["signal"].iloc[0].dtype == np.float32 and mitdb["signal"].iloc[0].shape == (650000,)
    noise = catalog.load("nstdb_noise")
    assert set(noise["record_id"]) == {"bw", "em", "ma"} and len(noise) == 6  # two channels each
    cinc = catalog.load("cinc2017_records")
    assert len(cinc) == 300 and set(cinc["label"]) <= {"N", "A", "O", "~"}
    cpsc = catalog.load("cpsc2018_records")
    assert len(cpsc) == 20 and set(cpsc["fs"]) == {500.0}


def test_segmentation_reads_stored_records_and_versions_outputs(ingested):
    records_file = ingested.path / "data/02_intermediate/mitdb_records.parquet"
    mtime = records_file.stat().st_mtime_ns
    ingested.run("segmentation")
    assert records_file.stat().st_mtime_ns == mtime  # read from disk, not recomputed
    catalog = ingested.catalog()
    beats = catalog.load("mitdb_beats")
    counts = np.bincount(beats["y"], minlength=5)
    assert counts.tolist() == [400, 400, 400, 373, 400]  # ci cap: 400 per class; F has 373 in these records
    test = catalog.load("mitdb_test")
    assert test["x"].shape[1] == 187 and test["x"].min() >= 0 and test["x"].max() <= 1
    ingested.run("rpeak_diagnostics")  # off the data path: its own pipeline
    agreement = ingested.catalog().load("rpeak_detector_agreement")
    total = agreement.set_index("record_id").loc["ALL"]
    # First 60 s of 100, 208, 217, 232: XQRS misses 27 of 106 beats of 208 (runs of PVCs), the rest ~perfect.
    assert total["sensitivity"] > 0.9 and total["ppv"] > 0.99
    first = ingested.versions("data/05_model_input/mitdb_test.npz")
    ingested.run("segmentation", node_names=["split_beats"])
    second = ingested.versions("data/05_model_input/mitdb_test.npz")
    assert len(second) == len(first) + 1 and set(first) < set(second)
    # Same seed, same artifact: the new version holds the same beats as the old one.
    newest = ingested.catalog().load("mitdb_test")
    np.testing.assert_array_equal(newest["x"], test["x"])


def test_a_table_from_another_data_root_is_refused(ingested, tmp_path):
    assert ingested.catalog().load("mitdb_records").attrs["provenance"]["folder"] == str(
        (ingested.data_root / "mitdb").resolve())
    from ecg_pipeline.errors import EcgDataError

    # issue 26: a stored table from another data root is refused before any node runs (it was only warned about)
    with pytest.raises(EcgDataError, match="built with another configuration") as err:
        ingested.run("segmentation", node_names=["segment_beats"], runtime_params={"data_root": str(tmp_path)})
    refusal = str(err.value)
    assert f"mitdb_raw read from {(ingested.data_root / 'mitdb').resolve()} (this run: {tmp_path / 'mitdb'})" in refusal
    assert f"kedro run --pipelines=data_mitdb --env=ci --params=data_root={tmp_path}" in refusal


def test_resampling_balances_train_only(ingested):
    ingested.run("resampling")
    catalog = ingested.catalog()
    balanced = catalog.load("mitdb_train_balanced")
    counts = np.bincount(balanced["y"])
    assert (counts == counts.max()).all()
    train = catalog.load("mitdb_train")
    assert counts.max() == np.bincount(train["y"]).max()
    validation = catalog.load("mitdb_validation")
    assert validation["y"].shape[0] < train["y"].shape[0]  # untouched by resampling


def test_padding_masking(ingested):
    ingested.run("padding_masking")
    from ecg_pipeline.data.padding import materialize

    catalog = ingested.catalog()
    cinc = catalog.load("cinc2017_train")
    x, mask = materialize(cinc)
    # 90 % of 300 for training, of which 10 % (27) are held out for model selection
    assert x.shape[1:] == (1, 18000) and x.shape[0] == cinc["y"].shape[0] == 243
    assert catalog.load("cinc2017_validation")["y"].shape[0] == 27
    real = mask.sum(axis=(1, 2))
    assert (x[mask == 0] == 0).all()
    assert real.max() == 18000 and real.min() >= 9 * 300
    cpsc = catalog.load("cpsc2018_test")
    x, mask = materialize(cpsc)
    assert x.shape[1:] == (8, 8192)  # the ci window (conf/ci); conf/base: 33,792 (tests/pipelines/test_cpsc_study.py)
    assert np.abs(x).max() <= 1.0
    assert (x[np.broadcast_to(mask, x.shape) == 0] == 0).all()
    # Evaluation records are right-aligned: the last sample is real.
    assert (mask[:, 0, -1] == 1).all()


def test_only_missing_outputs_skips_done_work(ingested):
    ingested.run("data_processing", only_missing_outputs=True)  # fills anything an earlier test left out
    before = {p: p.stat().st_mtime_ns for p in (ingested.path / "data").rglob("*") if p.is_file()}
    ingested.run("data_processing", only_missing_outputs=True)
    after = {p: p.stat().st_mtime_ns for p in (ingested.path / "data").rglob("*") if p.is_file()}
    assert after == before


def test_bad_parameter_fails_cleanly_and_writes_nothing(ingested):
    from ecg_pipeline.errors import EcgDataError

    before = ingested.versions("data/05_model_input/mitdb_test.npz")
    with pytest.raises(EcgDataError, match=r"unknown split method 'leave_one_out'"):
        ingested.run("segmentation", runtime_params={"split": {"method": "leave_one_out"}})
    with pytest.raises(EcgDataError, match=r"--params segmentation.shceme: .*did you mean 'segmentation.scheme'"):
        ingested.run("segmentation", runtime_params={"segmentation": {"shceme": "centered"}})
    assert ingested.versions("data/05_model_input/mitdb_test.npz") == before


def test_missing_stored_input_names_the_pipeline_that_makes_it(empty_project):
    from ecg_pipeline.errors import EcgDataError

    with pytest.raises(EcgDataError, match=r"mitdb_train \(run `kedro run --pipelines=segmentation --env=ci "
                                           r"--params=data_root=\S+` first\)"):
        empty_project.run("resampling")
    assert not any(p.is_file() for p in (empty_project.path / "data").rglob("*"))


def test_data_root_absent_without_download_says_what_to_fetch(empty_project, tmp_path):
    from kedro.io import DatasetError

    from ecg_pipeline.datasets import PhysioNetSource

    source = PhysioNetSource(path=str(tmp_path / "nowhere" / "mitdb"), database="mitdb", download=False)
    with pytest.raises(DatasetError, match=r"mitdb: no data at .*nowhere/mitdb.*Fetch PhysioNet database 'mitdb'.*--params=data_root"):
        source.load()
