import shutil

import numpy as np
import pytest

from ecg_pipeline.data.mitdb import read_mitdb, read_nstdb_noise
from ecg_pipeline.errors import EcgDataError


def test_all_48_records_read_by_lead_name(mitdb_table):
    assert len(mitdb_table) == 48
    assert set(mitdb_table["fs"]) == {360.0}
    assert set(mitdb_table["n_samples"]) == {650000}
    leads = dict(zip(mitdb_table["record_id"], mitdb_table["lead"]))
    # 102 and 104 have no MLII: the documented fallback is V5; 114 stores MLII second.
    assert leads["102"] == leads["104"] == "V5"
    assert leads["114"] == "MLII"
    assert sum(lead == "MLII" for lead in leads.values()) == 46
    assert all(s.dtype == np.float32 and s.shape == (650000,) for s in mitdb_table["signal"])


def test_signal_in_millivolts_and_annotations(mitdb_table):
    row = mitdb_table.set_index("record_id").loc["100"]
    # MLII of record 100: R peaks around 1-2 mV, baseline near 0.
    assert -1.0 < np.median(row["signal"]) < 0.0
    assert 1.0 < np.percentile(row["signal"], 99.9) < 2.5
    assert len(row["ann_sample"]) == len(row["ann_symbol"]) == 2274
    assert (np.diff(row["ann_sample"]) >= 0).all()


def test_record_114_reads_mlii_not_the_first_channel(mitdb_table, shared_data):
    import wfdb

    raw = wfdb.rdrecord(str(shared_data / "mitdb" / "114"))
    mlii = raw.p_signal[:, raw.sig_name.index("MLII")]
    signal = mitdb_table.set_index("record_id").loc["114"]["signal"]
    np.testing.assert_allclose(signal, mlii, atol=1e-5)


def test_nstdb_noise(shared_data):
    table = read_nstdb_noise(shared_data / "nstdb")
    assert sorted(set(table["record_id"])) == ["bw", "em", "ma"]
    assert len(table) == 6  # two channels each
    assert set(table["n_samples"]) == {650000} and set(table["fs"]) == {360.0}


def _copy_record(shared_data, tmp_path, record="100"):
    for ext in ("hea", "dat", "atr"):
        shutil.copy(shared_data / "mitdb" / f"{record}.{ext}", tmp_path / f"{record}.{ext}")


def test_missing_dat_names_the_file(shared_data, tmp_path):
    _copy_record(shared_data, tmp_path)
    (tmp_path / "100.dat").unlink()
    with pytest.raises(EcgDataError, match=r"record 100: signal file .*100\.dat not found"):
        read_mitdb(tmp_path, records=["100"])


def test_truncated_dat_names_the_record_file_and_expected_length(shared_data, tmp_path):
    _copy_record(shared_data, tmp_path)
    data = (tmp_path / "100.dat").read_bytes()
    (tmp_path / "100.dat").write_bytes(data[: len(data) // 3])  # 650,000 bytes: 216,666 format-212 frames
    with pytest.raises(EcgDataError) as err:
        read_mitdb(tmp_path, records=["100"])
    message = str(err.value)
    assert message.startswith(f"record 100: {tmp_path / '100.dat'} holds 216,666 samples per channel, "
                              "the header 100.hea says 650,000: truncated?")
    assert "broadcast" not in message  # wfdb's numpy message is not what the user sees


def test_truncated_dat_of_a_later_record_fails_before_any_signal_is_read(shared_data, tmp_path, monkeypatch):
    import ecg_pipeline.data.mitdb.reading as mitdb

    _copy_record(shared_data, tmp_path, "100")
    _copy_record(shared_data, tmp_path, "101")
    (tmp_path / "101.dat").write_bytes((tmp_path / "101.dat").read_bytes()[:-1])
    read = []
    monkeypatch.setattr(mitdb, "_read_lead", lambda *args: read.append(args[1]))
    with pytest.raises(EcgDataError, match=r"record 101: .*101\.dat holds 649,999 samples per channel"):
        read_mitdb(tmp_path, records=["100", "101"])
    assert read == []


@pytest.mark.parametrize("content", [b"", b"\x00\x00"], ids=["empty", "end-marker-only"])
def test_annotation_file_without_annotations_names_record_and_file(shared_data, tmp_path, content):
    _copy_record(shared_data, tmp_path)
    (tmp_path / "100.atr").write_bytes(content)
    with pytest.raises(EcgDataError, match=rf"record 100: annotation file .*100\.atr holds no annotations "
                                           rf"\({len(content)} bytes\)"):
        read_mitdb(tmp_path, records=["100"])


def test_other_sampling_rate_is_refused(shared_data, tmp_path):
    _copy_record(shared_data, tmp_path)
    hea = tmp_path / "100.hea"
    hea.write_text(hea.read_text().replace("100 2 360 650000", "100 2 250 650000", 1))
    with pytest.raises(EcgDataError, match=r"record 100: .*fs = 250.*expected 360.*refusing to resample"):
        read_mitdb(tmp_path, records=["100"])


def test_missing_lead_names_record_and_leads(shared_data):
    with pytest.raises(EcgDataError, match=r"record 102: lead 'V1' not found.*\['V5', 'V2'\]"):
        read_mitdb(shared_data / "mitdb", records=["102"], lead="V1")
    with pytest.raises(EcgDataError, match=r"record 102: lead 'MLII' not found"):
        read_mitdb(shared_data / "mitdb", records=["102"], lead_fallback={})


def test_annotation_decoder_matches_wfdb_on_all_48_records(shared_data):
    import wfdb

    from ecg_pipeline.data.mitdb import list_records, read_mit_annotations

    root = shared_data / "mitdb"
    for record in list_records(root):
        samples, symbols = read_mit_annotations(root / f"{record}.atr", record=record)
        reference = wfdb.rdann(str(root / record), "atr")
        np.testing.assert_array_equal(samples, reference.sample, err_msg=record)
        assert symbols.tolist() == list(reference.symbol), record


def test_missing_annotation_file_is_named(shared_data, tmp_path):
    _copy_record(shared_data, tmp_path)
    (tmp_path / "100.atr").unlink()
    with pytest.raises(EcgDataError, match=r"record 100: annotation file .*100\.atr not found"):
        read_mitdb(tmp_path, records=["100"])
