import csv
import shutil
from dataclasses import replace

import pytest

from ecg_pipeline.data import databases, download
from ecg_pipeline.data.cpsc2018 import cpsc_reference_from_headers
from ecg_pipeline.errors import EcgDataError


def test_offline_download_stops_with_what_to_fetch_and_leaves_nothing(tmp_path, monkeypatch):
    # Port 9 on loopback refuses at once: the same path as a machine without network.
    offline = replace(databases.raw_sources()["cinc2017"], source="http://127.0.0.1:9/training2017.zip")
    folder = tmp_path / "cinc2017"
    with pytest.raises(EcgDataError, match=r"cinc2017: no data at .*cinc2017.*Fetch http://127.0.0.1:9/training2017.zip and put it in .*Download failed"):
        download.fetch("cinc2017", folder, raw=offline)
    assert not folder.exists()  # no partial archive, not even the empty folder, left behind


def test_cpsc_reference_from_challenge_2020_headers(shared_data, tmp_path):
    for hea in (shared_data / "cpsc2018" / "records").glob("*.hea"):
        shutil.copy(hea, tmp_path / hea.name)
    derived = {row["Recording"]: row["First_label"] for row in csv.DictReader(open(cpsc_reference_from_headers(tmp_path)))}
    official = {row["Recording"]: row["First_label"] for row in csv.DictReader(open(shared_data / "cpsc2018" / "REFERENCE.csv"))}
    assert len(derived) == 10
    assert all(official[r] == label for r, label in derived.items())


def test_unknown_diagnosis_is_named(shared_data, tmp_path):
    hea = tmp_path / "A0001.hea"
    hea.write_text((shared_data / "cpsc2018" / "records" / "A0001.hea").read_text().replace("#Dx: RBBB", "#Dx: 123456"))
    with pytest.raises(EcgDataError, match=r"A0001.hea: diagnosis code\(s\) \['123456'\]"):
        cpsc_reference_from_headers(tmp_path)


def test_presence_markers(shared_data):
    # a standalone database's folder is the user's own records (data/wfdb_folder/), not part of the shared data
    own = {raw.name for db in databases.declared().values() if db.standalone for raw in db.raw}
    assert own == {"wfdb"}
    for database in download.DATABASES:
        assert download.is_present(database, shared_data / database) != (database in own)
