"""NpzDataset: round trip, exists, versioning, atomic save, catalog integration."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version, generate_timestamp

from ecg_pipeline.datasets import NpzDataset


@pytest.fixture
def filepath_npz(tmp_path: Path) -> str:
    return (tmp_path / "beats.npz").as_posix()


@pytest.fixture
def npz_dataset(filepath_npz: str) -> NpzDataset:
    return NpzDataset(filepath=filepath_npz)


@pytest.fixture
def versioned_npz_dataset(filepath_npz: str, load_version, save_version) -> NpzDataset:
    return NpzDataset(filepath=filepath_npz, version=Version(load_version, save_version))


@pytest.fixture
def load_version():
    return None


@pytest.fixture
def save_version():
    return generate_timestamp()


@pytest.fixture
def dummy_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=(5, 187)).astype(np.float32),
        "y": np.arange(5, dtype=np.int64),
        "mask": np.array([True, False, True, True, False]),
        "record": np.array(["100", "101", "102", "207", "208"]),
    }


def assert_same(loaded: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert loaded[key].dtype == value.dtype, key
        np.testing.assert_array_equal(loaded[key], value)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


class TestNpzDataset:
    def test_save_and_load(self, npz_dataset, dummy_data):
        npz_dataset.save(dummy_data)
        reloaded = npz_dataset.load()
        assert_same(reloaded, dummy_data)
        assert reloaded["x"].dtype == np.float32
        assert reloaded["y"].dtype == np.int64
        assert reloaded["mask"].dtype == np.bool_
        assert reloaded["record"].dtype.kind == "U"

    def test_file_is_a_plain_uncompressed_npz(self, npz_dataset, dummy_data, filepath_npz):
        npz_dataset.save(dummy_data)
        with zipfile.ZipFile(filepath_npz) as zipf:
            assert {i.compress_type for i in zipf.infolist()} == {zipfile.ZIP_STORED}
            assert sorted(zipf.namelist()) == sorted(f"{k}.npy" for k in dummy_data)
        with np.load(filepath_npz, allow_pickle=False) as npz:  # readable without the dataset
            np.testing.assert_array_equal(npz["x"], dummy_data["x"])

    def test_object_str_array_saved_as_fixed_width_unicode(self, npz_dataset):
        npz_dataset.save({"label": np.array(["N", "SVEB", "V"], dtype=object)})
        label = npz_dataset.load()["label"]
        assert label.dtype == np.dtype("<U4")
        assert label.tolist() == ["N", "SVEB", "V"]

    def test_keys_that_clash_with_np_savez_arguments(self, npz_dataset):
        data = {"file": np.zeros(2), "allow_pickle": np.ones(2), "arr_0": np.arange(3)}
        npz_dataset.save(data)
        assert_same(npz_dataset.load(), data)

    def test_empty_and_scalar_arrays(self, npz_dataset):
        data = {"empty": np.zeros((0, 187), np.float32), "scalar": np.array(3.5)}
        npz_dataset.save(data)
        assert_same(npz_dataset.load(), data)

    def test_compress_save_arg(self, filepath_npz, dummy_data):
        dataset = NpzDataset(filepath=filepath_npz, save_args={"compress": True})
        dataset.save(dummy_data)
        with zipfile.ZipFile(filepath_npz) as zipf:
            assert {i.compress_type for i in zipf.infolist()} == {zipfile.ZIP_DEFLATED}
        assert_same(dataset.load(), dummy_data)

    def test_exists(self, npz_dataset, dummy_data):
        assert not npz_dataset.exists()
        npz_dataset.save(dummy_data)
        assert npz_dataset.exists()

    def test_overwrite(self, npz_dataset, dummy_data):
        npz_dataset.save(dummy_data)
        npz_dataset.save({"only": np.arange(3)})
        assert list(npz_dataset.load()) == ["only"]

    @pytest.mark.parametrize(
        ("bad", "named"),
        [
            ([np.zeros(3)], "list"),
            ({"x": np.zeros(3), "y": [1, 2, 3]}, "'y'"),
            ({"x": np.zeros(3), "obj": np.array([1, None], dtype=object)}, "'obj'"),
            ({"x": np.zeros(3), 7: np.zeros(3)}, "7"),
            ({"m": np.ma.masked_array([1, 2], mask=[0, 1])}, "'m'"),
        ],
    )
    def test_save_bad_value_raises_and_leaves_no_file(self, npz_dataset, filepath_npz, tmp_path, bad, named):
        with pytest.raises(DatasetError, match=named) as excinfo:
            npz_dataset.save(bad)
        assert filepath_npz in str(excinfo.value)
        assert leftovers(tmp_path) == []

    def test_failure_mid_save_keeps_previous_file(self, npz_dataset, dummy_data, tmp_path, monkeypatch):
        npz_dataset.save(dummy_data)
        real_write_array = np.lib.format.write_array
        calls = []

        def failing_write_array(fp, array, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # first member written, then the disk "fills up"
                raise OSError("No space left on device")
            return real_write_array(fp, array, *args, **kwargs)

        monkeypatch.setattr(np.lib.format, "write_array", failing_write_array)
        with pytest.raises(DatasetError, match="No space left"):
            npz_dataset.save({"a": np.zeros(10), "b": np.ones(10)})
        monkeypatch.undo()
        assert leftovers(tmp_path) == ["beats.npz"]  # no temporary file left behind
        assert_same(npz_dataset.load(), dummy_data)  # the old artifact is intact

    def test_load_missing_file(self, npz_dataset):
        with pytest.raises(DatasetError, match="Failed while loading data"):
            npz_dataset.load()

    def test_load_rejects_pickled_object_arrays(self, filepath_npz):
        np.savez(filepath_npz, x=np.array([{"a": 1}], dtype=object))  # needs pickle to load
        with pytest.raises(DatasetError, match="allow_pickle"):
            NpzDataset(filepath=filepath_npz).load()

    def test_load_args_cannot_enable_pickle(self, filepath_npz):
        with pytest.raises(DatasetError, match="allow_pickle"):
            NpzDataset(filepath=filepath_npz, load_args={"allow_pickle": True})

    def test_unknown_save_args(self, filepath_npz):
        with pytest.raises(DatasetError, match="unknown save_args"):
            NpzDataset(filepath=filepath_npz, save_args={"compression": "lz4"})

    def test_constructor_is_keyword_only(self, filepath_npz):
        with pytest.raises(TypeError):
            NpzDataset(filepath_npz)  # type: ignore[misc]

    def test_describe_and_metadata(self, filepath_npz):
        dataset = NpzDataset(filepath=filepath_npz, metadata={"kedro-viz": {"layer": "features"}})
        assert dataset.metadata == {"kedro-viz": {"layer": "features"}}
        described = dataset._describe()
        assert described["filepath"] == PurePosixPath(filepath_npz)
        assert described["protocol"] == "file"
        assert described["save_args"] == {"compress": False}
        assert "NpzDataset" in str(dataset)

    def test_preview(self, npz_dataset, dummy_data):
        npz_dataset.save(dummy_data)
        preview = npz_dataset.preview()
        assert preview["columns"] == ["key", "shape", "dtype"]
        assert preview["data"] == [
            ["x", [5, 187], "float32"],
            ["y", [5], "int64"],
            ["mask", [5], "bool"],
            ["record", [5], "<U3"],
        ]

    def test_release_and_protocol(self, filepath_npz):
        dataset = NpzDataset(filepath=f"file://{filepath_npz}")
        assert dataset._protocol == "file"
        dataset.release()


class TestNpzDatasetVersioned:
    def test_version_str_repr(self, filepath_npz, load_version, save_version):
        ds = NpzDataset(filepath=filepath_npz)
        ds_versioned = NpzDataset(filepath=filepath_npz, version=Version(load_version, save_version))
        assert "beats.npz" in str(ds)
        assert "version=" not in str(ds)
        assert "beats.npz" in str(ds_versioned)
        assert f"version=Version(load={load_version}, save='{save_version}')" in str(ds_versioned)

    def test_save_and_load(self, versioned_npz_dataset, dummy_data, filepath_npz, save_version):
        versioned_npz_dataset.save(dummy_data)
        assert Path(filepath_npz, save_version, "beats.npz").is_file()
        assert_same(versioned_npz_dataset.load(), dummy_data)

    def test_two_versions_latest_and_specific(self, filepath_npz, dummy_data):
        first, second = "2024-01-01T00.00.00.000Z", "2024-01-02T00.00.00.000Z"
        NpzDataset(filepath=filepath_npz, version=Version(None, first)).save(dummy_data)
        NpzDataset(filepath=filepath_npz, version=Version(None, second)).save({"y": np.arange(3)})
        assert sorted(p.name for p in Path(filepath_npz).iterdir()) == [first, second]

        latest = NpzDataset(filepath=filepath_npz, version=Version(None, None))
        assert list(latest.load()) == ["y"]
        assert latest.list_versions(full_path=False) == [second, first]
        pinned = NpzDataset(filepath=filepath_npz, version=Version(first, None))
        assert_same(pinned.load(), dummy_data)

    def test_save_twice_with_autogenerated_versions(self, filepath_npz, dummy_data):
        dataset = NpzDataset(filepath=filepath_npz, version=Version(None, None))
        dataset.save(dummy_data)
        first = dataset.resolve_load_version()
        while generate_timestamp() == first:  # versions have millisecond resolution
            pass
        dataset.save({"y": np.arange(3)})
        assert len(list(Path(filepath_npz).iterdir())) == 2
        assert list(dataset.load()) == ["y"]
        assert_same(NpzDataset(filepath=filepath_npz, version=Version(first, None)).load(), dummy_data)

    def test_no_versions(self, versioned_npz_dataset):
        assert not versioned_npz_dataset.exists()
        with pytest.raises(DatasetError, match="Did not find any versions"):
            versioned_npz_dataset.load()

    def test_exists(self, versioned_npz_dataset, dummy_data):
        assert not versioned_npz_dataset.exists()
        versioned_npz_dataset.save(dummy_data)
        assert versioned_npz_dataset.exists()

    def test_prevent_overwrite(self, versioned_npz_dataset, dummy_data):
        versioned_npz_dataset.save(dummy_data)
        with pytest.raises(DatasetError, match="must not exist if versioning is enabled"):
            versioned_npz_dataset.save(dummy_data)

    def test_bad_value_leaves_no_version(self, versioned_npz_dataset, tmp_path):
        with pytest.raises(DatasetError, match="'bad'"):
            versioned_npz_dataset.save({"good": np.zeros(2), "bad": "not an array"})
        assert leftovers(tmp_path) == []

    def test_failure_mid_save_leaves_no_version(self, versioned_npz_dataset, dummy_data, tmp_path, monkeypatch):
        def failing_write_array(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(np.lib.format, "write_array", failing_write_array)
        with pytest.raises(DatasetError, match="disk full"):
            versioned_npz_dataset.save(dummy_data)
        monkeypatch.undo()
        assert leftovers(tmp_path) == []
        assert not versioned_npz_dataset.exists()

    def test_http_filesystem_no_versioning(self):
        with pytest.raises(DatasetError, match="Versioning is not supported for HTTP protocols"):
            NpzDataset(filepath="https://example.com/file.npz", version=Version(None, None))

    def test_versioning_existing_dataset(self, npz_dataset, versioned_npz_dataset, dummy_data):
        """An unversioned file already at the path blocks a versioned save, with kedro's message."""
        npz_dataset.save(dummy_data)
        assert npz_dataset.exists()
        with pytest.raises(DatasetError, match="already exists in the directory"):
            versioned_npz_dataset.save(dummy_data)


class TestNpzDatasetInCatalog:
    def test_versioned_through_data_catalog_from_config(self, tmp_path, dummy_data):
        filepath = (tmp_path / "04_feature" / "heartbeats.npz").as_posix()
        config = {
            "heartbeats": {
                "type": "ecg_pipeline.datasets.NpzDataset",
                "filepath": filepath,
                "versioned": True,
                "metadata": {"kedro-viz": {"layer": "feature"}},
            }
        }
        save_version = "2024-05-01T12.00.00.000Z"
        catalog = DataCatalog.from_config(config, save_version=save_version)
        assert isinstance(catalog["heartbeats"], NpzDataset)
        catalog.save("heartbeats", dummy_data)
        assert Path(filepath, save_version, "heartbeats.npz").is_file()
        assert_same(catalog.load("heartbeats"), dummy_data)

        # A fresh catalog (a later run) loads the latest version, or a pinned one.
        later = DataCatalog.from_config(config, save_version="2024-05-02T12.00.00.000Z")
        later.save("heartbeats", {"y": np.arange(4)})
        assert list(DataCatalog.from_config(config).load("heartbeats")) == ["y"]
        pinned = DataCatalog.from_config(config, load_versions={"heartbeats": save_version})
        assert_same(pinned.load("heartbeats"), dummy_data)
        assert_same(later.load("heartbeats", version=save_version), dummy_data)
