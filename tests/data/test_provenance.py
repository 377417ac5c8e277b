"""Record-table provenance: folder, records and checksums travel with the table through parquet."""

from __future__ import annotations

import shutil

import pandas as pd

from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.provenance import other_source, sha256, stamp


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
