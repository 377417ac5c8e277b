"""StoredCollection: every stored version-folder file matching a factory pattern, newest first-class."""

from __future__ import annotations

import json

import pytest
from kedro.io.core import DatasetError

from ecg_pipeline.datasets import StoredCollection


def _store(root, run, attack, version, payload):
    folder = root / "attacks" / run / f"{attack}.json" / version
    folder.mkdir(parents=True)
    (folder / f"{attack}.json").write_text(json.dumps(payload))


class TestStoredCollection:
    def test_newest_version_of_every_stored_file(self, tmp_path):
        _store(tmp_path, "ce_mlp", "pgd", "2026-01-01T00.00.00.000Z", {"v": 1})
        _store(tmp_path, "ce_mlp", "pgd", "2026-01-02T00.00.00.000Z", {"v": 2})
        _store(tmp_path, "nsr_cnn", "cw_linf", "2026-01-01T00.00.00.000Z", {"v": 3})
        (tmp_path / "attacks" / "ce_mlp" / "fgsm.json" / "2026-01-03T00.00.00.000Z").mkdir(parents=True)  # no file
        collection = StoredCollection(filepath=f"{tmp_path}/attacks/{{run}}/{{attack}}.json", dataset="json.JSONDataset")
        stored = collection.load()
        assert sorted(stored) == ["ce_mlp.pgd", "nsr_cnn.cw_linf"]  # a version folder without its file is not stored
        pgd = stored["ce_mlp.pgd"]
        assert pgd.data == {"v": 2} and pgd.version == "2026-01-02T00.00.00.000Z" and pgd.present
        assert pgd.versions == ("2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z")
        assert pgd.filepath.endswith("ce_mlp/pgd.json/2026-01-02T00.00.00.000Z/pgd.json")
        older = pgd.at("2026-01-01T00.00.00.000Z")
        assert older.data == {"v": 1} and older.version == "2026-01-01T00.00.00.000Z"
        with pytest.raises(DatasetError, match=r"version '2025' is not stored; stored versions: \['2026-01-01"):
            pgd.at("2025")

    def test_empty_and_absent_folders_are_empty_collections(self, tmp_path):
        collection = StoredCollection(filepath=f"{tmp_path}/nothing/{{run}}_history.csv", dataset="pandas.CSVDataset")
        assert collection.load() == {} and collection.exists()

    def test_histories_keyed_by_run(self, tmp_path):
        folder = tmp_path / "training" / "ce_mlp_history.csv" / "2026-01-01T00.00.00.000Z"
        folder.mkdir(parents=True)
        (folder / "ce_mlp_history.csv").write_text("epoch,train_loss\n1,0.5\n2,0.25\n")
        stored = StoredCollection(filepath=f"{tmp_path}/training/{{run}}_history.csv", dataset="pandas.CSVDataset").load()
        assert list(stored) == ["ce_mlp"] and stored["ce_mlp"].data["train_loss"].tolist() == [0.5, 0.25]

    def test_read_only_and_needs_placeholders(self, tmp_path):
        with pytest.raises(DatasetError, match="needs placeholders"):
            StoredCollection(filepath=f"{tmp_path}/a.json", dataset="json.JSONDataset")
        with pytest.raises(DatasetError, match="only reads"):
            StoredCollection(filepath=f"{tmp_path}/{{run}}.json", dataset="json.JSONDataset").save({})

    def test_the_catalog_collections_glob_the_producers_own_paths(self):
        from pathlib import Path

        import yaml

        catalog = yaml.safe_load((Path(__file__).resolve().parents[2] / "conf/base/catalog.yml").read_text())
        for collection, producer in (("attack_evaluations", "{run}.{attack}.metrics"),
                                     ("attack_examples", "{run}.{attack}.examples"),
                                     ("training_histories", "{run}.history")):
            assert catalog[collection]["filepath"] == catalog[producer]["filepath"]
            assert catalog[collection]["dataset"] == catalog[producer]["type"]
