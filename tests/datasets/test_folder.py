"""FolderDataset: the node's folder is created by its first write, never by loading."""

from __future__ import annotations

import pytest
from kedro.io.core import DatasetError

from ecg_pipeline.datasets import FolderDataset


def test_load_returns_the_path_without_creating_it(tmp_path):
    path = tmp_path / "checkpoints" / "ce_mlp"
    assert FolderDataset(path=str(path)).load() == path
    assert not (tmp_path / "checkpoints").exists()


def test_a_file_in_the_folders_place_is_named(tmp_path):
    (tmp_path / "ce_mlp").write_text("not a folder")
    with pytest.raises(DatasetError, match=r"FolderDataset\(.*ce_mlp\): the path exists and is not a folder"):
        FolderDataset(path=str(tmp_path / "ce_mlp")).load()
