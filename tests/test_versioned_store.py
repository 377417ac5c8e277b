"""The versioned datasets' folder layout, read without Kedro (src/ecg_pipeline/versioned_store.py)."""

from pathlib import Path

from kedro.io.core import generate_timestamp

from ecg_pipeline.versioned_store import VERSION, newest, versioned_file, versions


def _store(folder: Path, version: str, content: str = "{}") -> Path:
    path = folder / version / folder.name
    path.parent.mkdir(parents=True)
    path.write_text(content)
    return path


def test_versions_are_the_complete_version_folders_oldest_first(tmp_path):
    folder = tmp_path / "ce_mlp.json"
    newer, older = "2026-12-08T01.02.03.004Z", "2026-12-07T23.59.59.999Z"
    _store(folder, newer)
    _store(folder, older)
    (folder / "2026-12-08T05.00.00.000Z").mkdir()      # a write that did not finish: no file inside
    (folder / "notes").mkdir()                          # not a version
    (folder / "notes" / "ce_mlp.json").write_text("{}")
    assert versions(folder) == [older, newer]
    assert newest(folder) == newer
    assert versioned_file(folder, older).read_text() == "{}"


def test_a_missing_or_empty_folder_has_no_version(tmp_path):
    assert versions(tmp_path / "absent.json") == [] and newest(tmp_path / "absent.json") is None
    (tmp_path / "empty.json").mkdir()
    assert newest(tmp_path / "empty.json") is None


def test_the_version_pattern_is_kedros():
    assert VERSION.fullmatch(generate_timestamp())
