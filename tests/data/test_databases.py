"""The database registry (``data.databases``): each database declared once, in its package, and everything that
used to name the databases one by one derived from it. A toy database (a package in tmp_path, two MIT-BIH records
in a folder of its own) gets its ``data_toy`` pipeline, its ingestion node, its presence check and its label set
with no other edit, and with its configuration (a parameter block and its record table's catalog entry) runs end
to end through the project's catalog factories and a real Kedro runner."""

from __future__ import annotations

import importlib
import shutil
import sys
import textwrap

import numpy as np
import pytest

from ecg_pipeline.data import databases, download, labels
from ecg_pipeline.data.databases import Database, Ingest, RawSource, Step
from ecg_pipeline.errors import EcgConfigError, EcgDataError


def data_node(name: str, pipeline=None):
    from ecg_pipeline.pipelines.data_processing import create_pipeline

    return next(node for node in (pipeline or create_pipeline()).nodes if node.name == name)


def test_the_three_databases_and_what_the_hooks_and_the_parameter_checker_read():
    assert sorted(databases.declared()) == ["cinc2017", "cpsc2018", "mitdb", "wfdb"]
    assert databases.raw_inputs() == {  # the hooks' map of record tables, as it was spelt out in hooks.py
        "mitdb_records": ("mitdb_raw", "data_mitdb"),
        "nstdb_noise": ("nstdb_raw", "data_mitdb"),
        "cinc2017_records": ("cinc2017_raw", "data_cinc2017"),
        "cpsc2018_records": ("cpsc2018_raw", "data_cpsc2018"),
        "wfdb_records": ("wfdb_raw", "data_wfdb"),
    }
    # the parameter checker's sections (declaration/checking.py reads them from here): each names the function the
    # node passes the section to
    from ecg_pipeline.data import balance, beats, splits
    from ecg_pipeline.data.cinc2017 import pad_cinc2017, read_cinc2017, split_cinc2017
    from ecg_pipeline.data.cpsc2018 import pad_cpsc2018, read_cpsc2018, split_cpsc2018
    from ecg_pipeline.data.mitdb import read_mitdb, read_nstdb_noise
    from ecg_pipeline.data.wfdb_folder import evaluation_split, read_wfdb_folder

    before = {
        "segmentation": beats.segment_beats, "split": splits.split_beats, "resampling": balance.balance_training_set,
        "ingestion.mitdb": read_mitdb, "ingestion.nstdb": read_nstdb_noise, "ingestion.cinc2017": read_cinc2017,
        "ingestion.cpsc2018": read_cpsc2018, "padding_masking.cinc2017.split": split_cinc2017,
        "padding_masking.cinc2017.pad": pad_cinc2017, "padding_masking.cpsc2018.split": split_cpsc2018,
        "padding_masking.cpsc2018.pad": pad_cpsc2018, "wfdb.ingestion": read_wfdb_folder,
        "wfdb.segmentation": beats.segment_beats, "wfdb.split": evaluation_split,
    }

    def resolve(spec):
        module, name = spec.split(":")
        return getattr(importlib.import_module(module), name)

    now = databases.function_sections()
    assert set(now) == set(before)
    assert all(resolve(now[section]) is function for section, function in before.items())
    assert download.DATABASES == ("cinc2017", "cpsc2018", "mitdb", "nstdb", "wfdb")
    assert labels.class_names("cinc2017") == ("N", "A", "O", "~")
    assert labels.class_names("cpsc2018") == tuple("123456789")


def test_node_and_dataset_names_are_those_the_stamps_and_the_lineage_know():
    from ecg_pipeline.pipelines import data_processing, ingestion, padding_masking, resampling, segmentation

    pipelines = data_processing.create_database_pipelines()
    shape = {name: sorted((n.name, tuple(n.inputs), tuple(n.outputs)) for n in p.nodes) for name, p in pipelines.items()}
    assert shape["data_mitdb"] == [
        ("balance_training_set", ("mitdb_train", "params:resampling"), ("mitdb_train_balanced",)),
        ("ingest_mitdb", ("mitdb_raw", "params:ingestion.mitdb"), ("mitdb_records",)),
        ("ingest_nstdb", ("nstdb_raw", "params:ingestion.nstdb"), ("nstdb_noise",)),
        ("segment_beats", ("mitdb_records", "params:segmentation"), ("mitdb_beats",)),
        ("split_beats", ("mitdb_beats", "params:split"), ("mitdb_train", "mitdb_validation", "mitdb_test")),
    ]
    split = ("cinc2017_train_unpadded", "cinc2017_validation_unpadded", "cinc2017_test_unpadded")
    assert shape["data_cinc2017"] == sorted([
        ("ingest_cinc2017", ("cinc2017_raw", "params:ingestion.cinc2017"), ("cinc2017_records",)),
        ("split_cinc2017", ("cinc2017_records", "params:padding_masking.cinc2017.split"), split),
        *((f"pad_cinc2017_{p}", (f"cinc2017_{p}_unpadded", "params:padding_masking.cinc2017.pad"), (f"cinc2017_{p}",))
          for p in ("train", "validation", "test")),
    ])
    assert [n.name for n in pipelines["data_cpsc2018"].nodes] == [
        "ingest_cpsc2018", "split_cpsc2018", "pad_cpsc2018_test", "pad_cpsc2018_train", "pad_cpsc2018_validation"]
    # the stage pipelines: the same nodes, every database together, with the stage's and the database's tags
    assert sorted(n.name for n in ingestion.create_pipeline().nodes) == [
        "ingest_cinc2017", "ingest_cpsc2018", "ingest_mitdb", "ingest_nstdb"]
    assert {n.name for n in segmentation.create_pipeline().nodes} == {"segment_beats", "split_beats"}
    assert {n.name for n in resampling.create_pipeline().nodes} == {"balance_training_set"}
    assert len(padding_masking.create_pipeline().nodes) == 8
    assert data_node("segment_beats").tags == {"segmentation", "mitdb"}
    assert data_node("pad_cinc2017_test").tags == {"padding_masking", "cinc2017"}
    assert data_node("ingest_nstdb").tags == {"ingestion", "mitdb"}
    every = data_processing.create_pipeline()
    # a standalone database (your own records, data/wfdb_folder/) is built by its own data_<name> only
    assert {n.name for n in every.nodes} == {n.name for name, p in pipelines.items() if name != "data_wfdb"
                                             for n in p.nodes}


def test_cinc2017_split_refuses_a_missing_validation_share_by_name_before_splitting():
    split = data_node("split_cinc2017").func
    with pytest.raises(EcgDataError, match=r"^parameters 'padding_masking\.cinc2017\.split\.validation_fraction': "
                                           r"expected a share in \(0, 1\) of the training part .* got none$"):
        split(None, {"test_fraction": 0.1, "seed": 0})  # None: the records are never touched


def test_cpsc2018_padding_fixes_the_placement_of_each_split():
    assert data_node("pad_cpsc2018_train").func.step.fixed == {"placement": "random"}
    assert data_node("pad_cpsc2018_test").func.step.fixed == {"placement": "right"}


def _fetch(raw, folder):
    raise OSError("never downloaded")


@pytest.mark.parametrize("make, message", [
    (lambda: RawSource("toy_db", "x", markers=("RECORDS",), source="-", fetch=_fetch),
     r"raw source name 'toy_db': expected lower-case letters and digits"),
    (lambda: RawSource("toy", "x", markers=(), source="-", fetch=_fetch), r"raw source 'toy': expected at least one"),
    (lambda: Step("s", "segmentation", len, ("a",), ("b", "c"), section="x"),
     r"step 's': outputs \['b', 'c'\] but no parts"),
    (lambda: Step("s", "segmentation", len, ("a",), ("b", "c"), section="x", parts=("train",)),
     r"step 's': 2 outputs \['b', 'c'\] but 1 parts"),
    (lambda: Step("s", "training", len, ("a",), ("b",), section="x"), r"step 's': stage 'training'; expected one of"),
    (lambda: Database("toy", "x", raw=(), ingests=(Ingest("ingest_toy", "elsewhere", len, "toy_records", "x"),)),
     r"database 'toy': ingest 'ingest_toy' reads raw source 'elsewhere'; expected one of \[\]"),
])
def test_a_declaration_that_cannot_work_is_refused_where_it_is_written(make, message):
    with pytest.raises(EcgConfigError, match=message):
        make()


def test_a_database_cannot_be_declared_twice():
    mitdb = databases.database("mitdb")
    twin = Database("mitdb", "again", raw=mitdb.raw, ingests=mitdb.ingests)
    with pytest.raises(EcgConfigError, match=r"database 'mitdb' is already declared by ecg_pipeline\.data\.mitdb"):
        databases.register(twin)
    with pytest.raises(EcgConfigError, match=r"unknown database 'incart'; expected one of \['cinc2017'"):
        databases.database("incart")


# ---- a toy database: one package, one configuration block, nothing else ---------------------------------------

TOY_PACKAGE = '''
"""Toy: two MIT-BIH records in a folder of their own, read and cut as MIT-BIH is."""
from ecg_pipeline.data.databases import Database, Ingest, RawSource, Step
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats


def fetch(raw, folder):
    raise OSError("the toy database is never downloaded")


DATABASE = Database(
    name="toy",
    title="two MIT-BIH records",
    raw=(RawSource("toy", "toy records", markers=("RECORDS",), source="tests/data", fetch=fetch),),
    ingests=(Ingest("ingest_toy", "toy", read_mitdb, output="toy_records", section="toy.ingestion"),),
    steps=(
        Step("segment_toy", "segmentation", segment_beats, ("toy_records",), ("toy_beats",),
             section="toy.segmentation"),
        Step("split_toy", "segmentation", split_beats, ("toy_beats",), ("toy_train", "toy_validation", "toy_test"),
             section="toy.split", parts=("train", "validation", "test")),
    ),
    class_sets={"toy3": ("N", "V", "other")},
)
'''

TOY_PARAMETERS = """
toy:
  ingestion: {records: ["100", "208"]}
  segmentation: {label_set: aami4, max_beats_per_class: 40, seed: 0}
  split: {test_fraction: 0.25, validation_fraction: 0.25, seed: 0}
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / "toyecg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(TOY_PACKAGE))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    module = importlib.import_module("toyecg")
    databases.register(module.DATABASE)
    yield module.DATABASE
    databases.unregister("toy")
    sys.modules.pop("toyecg", None)


def test_a_toy_database_gets_its_pipelines_and_checks_with_no_other_edit(toy, tmp_path, shared_data):
    from ecg_pipeline.pipelines import data_processing, ingestion, segmentation

    pipeline = data_processing.create_database_pipelines()["data_toy"]
    assert sorted(n.name for n in pipeline.nodes) == ["ingest_toy", "segment_toy", "split_toy"]
    assert pipeline.inputs() == {"toy_raw", "params:toy.ingestion", "params:toy.segmentation", "params:toy.split"}
    assert "ingest_toy" in {n.name for n in ingestion.create_pipeline().nodes}
    assert {"segment_toy", "split_toy"} <= {n.name for n in segmentation.create_pipeline().nodes}
    assert "data_mitdb" in data_processing.create_database_pipelines()  # the others untouched
    assert databases.raw_inputs()["toy_records"] == ("toy_raw", "data_toy")
    assert databases.function_sections()["toy.ingestion"] == "ecg_pipeline.data.mitdb.reading:read_mitdb"
    assert "toy" in download.DATABASES and labels.class_names("toy3") == ("N", "V", "other")
    folder = tmp_path / "raw" / "toy"
    assert not download.is_present("toy", folder)
    assert f"toy: no data at {folder} (expected {folder / 'RECORDS'}). Fetch tests/data" in \
        download.missing_data_message("toy", folder)


def test_a_toy_database_runs_end_to_end_through_the_catalog_factories(toy, tmp_path, shared_data, project_root,
                                                                      monkeypatch):
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.pipelines import data_processing

    raw = tmp_path / "raw" / "toy"
    raw.mkdir(parents=True)
    for record in ("100", "208"):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(shared_data / "mitdb" / f"{record}.{ext}", raw)
    (raw / "RECORDS").write_text("100\n208\n")
    # the project's configuration as it is, plus the toy's parameters: no catalog entry
    conf = tmp_path / "conf"
    shutil.copytree(project_root / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    (conf / "base" / "parameters_toy.yml").write_text(TOY_PARAMETERS)
    loader = OmegaConfigLoader(conf_source=str(conf), env="base", runtime_params={"data_root": str(tmp_path / "raw")},
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})
    monkeypatch.chdir(tmp_path)  # the catalog's data/ paths are relative to the project
    catalog = DataCatalog.from_config(loader["catalog"])
    described = {name: catalog.get(name)._describe() for name in ("toy_records", "toy_beats", "toy_train")}
    assert str(described["toy_records"]["filepath"]) == "data/02_intermediate/toy_records.parquet"
    assert str(described["toy_beats"]["filepath"]) == "data/03_primary/toy_beats.npz"
    assert str(described["toy_train"]["filepath"]) == "data/05_model_input/toy_train.npz"
    assert described["toy_train"]["version"] is not None  # the model input layer is versioned
    assert catalog.get("toy_raw").path == raw
    # the splits of a padded database before padding stay in memory: no factory claims them
    assert catalog.get("toy_train_unpadded") is None

    parameters = loader["parameters"]
    for section in ("ingestion", "segmentation", "split"):
        catalog[f"params:toy.{section}"] = parameters["toy"][section]
    SequentialRunner().run(data_processing.create_database_pipelines()["data_toy"], catalog)

    assert (tmp_path / "data/02_intermediate/toy_records.parquet").is_file()
    assert (tmp_path / "data/03_primary/toy_beats.npz").is_file()
    assert len(list((tmp_path / "data/05_model_input/toy_test.npz").glob("*/toy_test.npz"))) == 1
    records = catalog.load("toy_records")
    assert records["record_id"].tolist() == ["100", "208"]
    beats = catalog.load("toy_beats")
    assert beats["x"].shape[1] == 187 and list(beats["classes"]) == ["N", "S", "V", "F"]
    counts = np.bincount(beats["y"], minlength=4)
    assert counts.max() == 40  # the cap the toy's block sets
    parts = [catalog.load(f"toy_{p}") for p in ("train", "validation", "test")]
    assert sum(len(p["y"]) for p in parts) == len(beats["y"])
