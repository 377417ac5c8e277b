"""OptionalDataset (absence-tolerant reader of another dataset's versions) and ImageFolderDataset."""

from __future__ import annotations

import pytest
from kedro.io.core import DatasetError, Version
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.figure import Figure

from ecg_pipeline.datasets import ImageFolderDataset, OptionalDataset


def _writer(path, version: str) -> JSONDataset:
    return JSONDataset(filepath=str(path), version=Version(None, version))


def test_absent_file_loads_as_absent_and_exists(tmp_path):
    target = tmp_path / "attacks" / "pgd.json"
    dataset = OptionalDataset(dataset="json.JSONDataset", filepath=str(target), version=Version(None, None))
    stored = dataset.load()
    assert not stored.present and stored.data is None and stored.version is None
    assert stored.filepath == target.as_posix()
    assert dataset.exists()  # never stops a run before the report decides


def test_latest_or_pinned_version_with_its_path(tmp_path):
    target = tmp_path / "pgd.json"
    _writer(target, "2026-01-01T00.00.00.000Z").save({"acc": 0.5})
    _writer(target, "2026-01-02T00.00.00.000Z").save({"acc": 0.7})
    latest = OptionalDataset(dataset="json.JSONDataset", filepath=str(target), version=Version(None, None)).load()
    assert latest.present and latest.data == {"acc": 0.7} and latest.version == "2026-01-02T00.00.00.000Z"
    assert latest.filepath.endswith("pgd.json/2026-01-02T00.00.00.000Z/pgd.json")
    pinned = OptionalDataset(dataset={"type": "json.JSONDataset"}, filepath=str(target),
                             version=Version("2026-01-01T00.00.00.000Z", None)).load()
    assert pinned.data == {"acc": 0.5} and pinned.version == "2026-01-01T00.00.00.000Z"
    gone = OptionalDataset(dataset="json.JSONDataset", filepath=str(target),
                           version=Version("2025-01-01T00.00.00.000Z", None)).load()
    assert not gone.present and gone.version == "2025-01-01T00.00.00.000Z"


def test_unversioned_and_read_only(tmp_path):
    target = tmp_path / "plain.json"
    JSONDataset(filepath=str(target)).save([1, 2])
    stored = OptionalDataset(dataset="json.JSONDataset", filepath=str(target)).load()
    assert stored.present and stored.data == [1, 2] and stored.version is None
    with pytest.raises(DatasetError, match="only reads"):
        OptionalDataset(dataset="json.JSONDataset", filepath=str(target)).save([3])
    with pytest.raises(DatasetError, match="give 'filepath' once"):
        OptionalDataset(dataset={"type": "json.JSONDataset", "filepath": "x"}, filepath=str(target))


def test_image_folder_reads_what_matplotlib_dataset_wrote(tmp_path):
    folder = tmp_path / "figures"
    figures = {}
    for name in ("b.png", "a.png"):
        figures[name] = Figure()
        figures[name].subplots().plot([0, 1])
    MatplotlibDataset(filepath=str(folder), version=Version(None, "2026-01-01T00.00.00.000Z")).save(figures)
    stored = OptionalDataset(dataset="ecg_pipeline.datasets.ImageFolderDataset", filepath=str(folder),
                             version=Version(None, None)).load()
    assert stored.present and list(stored.data) == ["a.png", "b.png"]
    assert all(content.startswith(b"\x89PNG") for content in stored.data.values())
    with pytest.raises(DatasetError, match="not a folder of images"):
        ImageFolderDataset(filepath=str(tmp_path / "nothing")).load()
