"""PhysioNetSource: data already under data_root is used in place, whatever its CinC 2017 layout; no download."""

from __future__ import annotations

import zipfile

import pytest
from kedro.io import DatasetError

from ecg_pipeline.data import download
from ecg_pipeline.datasets import PhysioNetSource


@pytest.fixture
def no_network(monkeypatch):
    def fetch(database, folder):
        raise AssertionError(f"download attempted for {database} into {folder}")

    monkeypatch.setattr(download, "fetch", fetch)


def _unzip_reference(shared_data, dest):
    dest.mkdir(parents=True)
    with zipfile.ZipFile(shared_data / "cinc2017" / "training2017.zip") as z:
        (dest / "REFERENCE.csv").write_bytes(z.read("training2017/REFERENCE.csv"))


@pytest.mark.parametrize("layout", ["training2017", "."], ids=["unzipped", "flat"])
def test_an_unzipped_cinc2017_folder_is_read_in_place(shared_data, tmp_path, no_network, layout):
    folder = tmp_path / "cinc2017"
    _unzip_reference(shared_data, folder / layout)
    source = PhysioNetSource(path=str(folder), database="cinc2017")
    assert source.exists()
    assert source.load() == folder


def test_without_data_or_download_the_message_lists_every_accepted_layout(tmp_path, no_network):
    source = PhysioNetSource(path=str(tmp_path / "cinc2017"), database="cinc2017", download=False)
    with pytest.raises(DatasetError, match=r"cinc2017: no data at .*expected .*training2017\.zip or "
                                           r".*training2017/REFERENCE\.csv or .*cinc2017/REFERENCE\.csv"):
        source.load()
    assert not (tmp_path / "cinc2017").exists()
