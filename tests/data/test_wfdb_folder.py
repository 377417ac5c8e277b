"""Your own WFDB records (``data.wfdb_folder``, ``data_wfdb``), on real data: MIT-BIH records 100 and 208 brought
to 250 Hz and 128 Hz with scipy, written with ``wfdb.wrsamp`` / ``wfdb.wrann`` (annotations at the new rate),
then read back through the generic ingestion (resampled to 360 Hz) and MIT-BIH's beat step. The beats per AAMI
class are those the written annotations give, the 360 Hz signal is the original one, bad records are named
before anything is written, and ``data_wfdb`` runs through the project's catalog."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg_pipeline.data import databases
from ecg_pipeline.data.beats import CenteredScheme, segment_beats
from ecg_pipeline.data.labels import AAMI_OF_SYMBOL, class_names
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.wfdb_folder import DATABASE, read_wfdb_folder, samples_at_rate
from ecg_pipeline.errors import EcgDataError

RECORDS = ("100", "208")
RATES = (250, 128)


def write_at_rate(source: Path, record: str, fs: int, folder: Path, *, name: str | None = None,
                  sig_name: list[str] | None = None, flat_seconds: tuple[float, float] | None = None) -> str:
    """MIT-BIH ``record`` resampled to ``fs`` (scipy's polyphase filter) and written as a WFDB record with its
    reference annotations at ``fs`` (``round(i * fs / 360)``); ``flat_seconds``: a stretch held at its first
    value (a lead-off). Returns the record's name."""
    from scipy.signal import resample_poly

    name = name or f"{record}_{fs}"
    signal = wfdb.rdrecord(str(source / record))
    ratio = Fraction(fs) / Fraction(int(signal.fs))
    resampled = resample_poly(signal.p_signal, ratio.numerator, ratio.denominator, axis=0)
    if flat_seconds is not None:
        start, stop = (int(s * fs) for s in flat_seconds)
        resampled[start:stop] = resampled[start]
    wfdb.wrsamp(name, fs=fs, units=signal.units, sig_name=sig_name or signal.sig_name, p_signal=resampled,
                fmt=["16"] * signal.n_sig, adc_gain=[200.0] * signal.n_sig, baseline=[0] * signal.n_sig,
                write_dir=str(folder))
    annotations = wfdb.rdann(str(source / record), "atr")
    wfdb.wrann(name, "atr", samples_at_rate(annotations.sample, ratio, resampled.shape[0]),
               np.asarray(annotations.symbol), write_dir=str(folder))
    return name


@pytest.fixture(scope="module")
def folder(tmp_path_factory, shared_data) -> Path:
    """100 and 208 at 250 Hz and at 128 Hz, in one folder (mixed rates), no RECORDS file (discovered)."""
    folder = tmp_path_factory.mktemp("wfdb_records")
    for record in RECORDS:
        for fs in RATES:
            write_at_rate(shared_data / "mitdb", record, fs, folder)
    return folder


@pytest.fixture(scope="module")
def table(folder):
    return read_wfdb_folder(folder)


@pytest.fixture(scope="module")
def original(shared_data):
    return read_mitdb(shared_data / "mitdb", records=list(RECORDS)).set_index("record_id")


def expected_counts(folder: Path, name: str, *, scheme: str, n_samples: int) -> np.ndarray:
    """Beats per AAMI class (aami5) that the record's written annotations give: every annotated beat of the label
    set, less, for the centered scheme, those whose 280-sample window at 360 Hz runs off the record."""
    annotations = wfdb.rdann(str(folder / name), "atr")
    aami = np.array([AAMI_OF_SYMBOL.get(s, "") for s in annotations.symbol])
    r = samples_at_rate(annotations.sample, Fraction(360) / Fraction(int(annotations.fs)), n_samples)
    keep = np.ones(r.shape[0], dtype=bool)
    if scheme == "centered":
        half = CenteredScheme.length // 2
        keep = (r - half >= 0) & (r - half + CenteredScheme.length <= n_samples)
    return np.array([int(((aami == c) & keep).sum()) for c in class_names("aami5")])


def test_every_record_is_discovered_and_resampled_to_360_hz(table, original):
    assert sorted(table["record_id"]) == sorted(f"{r}_{fs}" for r in RECORDS for fs in RATES)
    assert set(table["fs"]) == {360.0} and sorted(set(table["source_fs"])) == [128.0, 250.0]
    assert set(table["lead"]) == {"MLII"} and set(table["units"]) == {"mV"}
    for row in table.itertuples():
        source = original.loc[row.record_id.split("_")[0]]
        # ceil(ceil(650000 * fs / 360) * 360 / fs): the record's duration, to the sample
        assert abs(row.n_samples - source.n_samples) <= 360 / row.source_fs + 1
        assert not np.isnan(row.signal).any()
        # the annotation indices at 360 Hz: round(j * 360 / fs) of those written at fs, within the two roundings
        # (half a sample at fs, half a sample at 360) of MIT-BIH's own
        assert len(row.ann_sample) == len(source.ann_sample)
        assert np.abs(row.ann_sample - source.ann_sample).max() <= np.ceil(0.5 * 360 / row.source_fs + 0.5)


def test_the_signal_at_360_hz_is_the_original_record(table, original):
    for row in table.itertuples():
        source = original.loc[row.record_id.split("_")[0]].signal
        n = min(len(source), row.n_samples)
        correlation = np.corrcoef(source[:n], row.signal[:n])[0, 1]
        assert correlation > 0.99, (row.record_id, correlation)
    # 250 Hz keeps the ECG's band (to 125 Hz); 128 Hz cuts it at 64 Hz, and must still be as close
    corr = {row.record_id: np.corrcoef(original.loc[row.record_id[:3]].signal[:650000], row.signal[:650000])[0, 1]
            for row in table.itertuples()}
    assert corr["100_250"] > corr["100_128"] > 0.99


@pytest.mark.parametrize("scheme", ["kachuee", "centered"])
def test_beats_per_class_are_what_the_annotations_say(folder, table, original, scheme):
    beats = segment_beats(table, scheme=scheme)
    reference = segment_beats(original.reset_index(), scheme=scheme)  # MIT-BIH itself, at 360 Hz
    for row in table.itertuples():
        got = np.bincount(beats["y"][beats["record_id"] == row.record_id], minlength=5)
        want = expected_counts(folder, row.record_id, scheme=scheme, n_samples=row.n_samples)
        assert got.tolist() == want.tolist(), (row.record_id, scheme)
        source = row.record_id.split("_")[0]
        same = reference["record_id"] == source
        assert got.tolist() == np.bincount(reference["y"][same], minlength=5).tolist()
        # the same beats as MIT-BIH's: R peaks within the two roundings, the same labels, the same shapes
        mine = beats["record_id"] == row.record_id
        assert np.abs(beats["r_sample"][mine] - reference["r_sample"][same]).max() <= 2
        assert beats["y"][mine].tolist() == reference["y"][same].tolist()
        assert np.abs(beats["x"][mine] - reference["x"][same]).mean() < 0.02
    assert beats["x"].shape[1] == (187 if scheme == "kachuee" else 280)
    # 208 has every class but Q in numbers: the counts are not a trivially empty match
    assert (np.bincount(beats["y"], minlength=5)[:4] > 0).all()


def test_records_listed_in_RECORDS_or_by_name_and_the_lead_by_preference(folder, tmp_path, shared_data):
    (tmp_path / "sub").mkdir()
    write_at_rate(shared_data / "mitdb", "100", 250, tmp_path / "sub", name="a", sig_name=["II", "V5"])
    assert read_wfdb_folder(tmp_path, lead=["MLII", "II"])["record_id"].tolist() == ["sub/a"]  # in a sub-folder
    (tmp_path / "RECORDS").write_text("sub/a\n")
    table = read_wfdb_folder(tmp_path, lead=["V5", "II"])
    assert table["lead"].tolist() == ["V5"]
    assert read_wfdb_folder(folder, records=["208_128"])["record_id"].tolist() == ["208_128"]
    own = read_wfdb_folder(folder, records=["100_128"], target_fs=None)  # kept at its own rate
    assert own["fs"].tolist() == [128.0] and own["n_samples"].tolist() == [own["source_n_samples"].iloc[0]]


def test_a_flat_stretch_of_the_source_is_nan_at_360_hz_and_its_beats_are_dropped(tmp_path, shared_data):
    write_at_rate(shared_data / "mitdb", "100", 128, tmp_path, name="flat", flat_seconds=(60.0, 62.0))
    table = read_wfdb_folder(tmp_path)
    row = next(table.itertuples())
    nan = np.flatnonzero(np.isnan(row.signal))
    assert abs(nan[0] - 60 * 360) <= 3 and abs(nan[-1] - 62 * 360) <= 3  # the stretch, at 360 Hz
    beats = segment_beats(table, scheme="kachuee")
    is_beat = np.isin([AAMI_OF_SYMBOL.get(s, "") for s in row.ann_symbol], class_names("aami5"))
    inside = is_beat & (row.ann_sample >= 60 * 360) & (row.ann_sample < 62 * 360)
    dropped = int(is_beat.sum()) - len(beats["y"])
    assert inside.sum() >= 2 and inside.sum() <= dropped <= inside.sum() + 1  # and the beat running into it
    assert not ((beats["r_sample"] >= 60 * 360) & (beats["r_sample"] < 62 * 360)).any()


def bad_folder(tmp_path: Path, shared_data: Path) -> Path:
    """One good record and one of each fault."""
    folder = tmp_path / "records"
    folder.mkdir(parents=True)
    mitdb = shared_data / "mitdb"
    for name in ("good", "nodat", "noatr", "emptyatr", "nolead"):
        write_at_rate(mitdb, "100", 128, folder, name=name, sig_name=["V1", "V2"] if name == "nolead" else None)
    (folder / "nodat.dat").unlink()
    (folder / "noatr.atr").unlink()
    (folder / "emptyatr.atr").write_bytes(b"\x00\x00")
    (folder / "garbled.hea").write_text("this is not a WFDB header\n")
    return folder


def test_bad_records_are_all_named_in_one_error_before_any_signal_is_read(tmp_path, shared_data):
    folder = bad_folder(tmp_path, shared_data)
    with pytest.raises(EcgDataError) as caught:
        read_wfdb_folder(folder)
    message = str(caught.value)
    assert "5 of 6 record(s) cannot be read; nothing was written" in message
    assert f"record nodat: signal file {folder / 'nodat.dat'} not found" in message
    assert f"record noatr: annotation file {folder / 'noatr.atr'} not found" in message
    assert "record emptyatr: annotation file" in message and "holds no annotations" in message
    assert "record nolead: no lead named 'MLII' (lead:); the record has leads ['V1', 'V2']" in message
    assert f"record garbled: cannot parse header {folder / 'garbled.hea'}" in message
    assert "record good" not in message
    assert len(read_wfdb_folder(folder, records=["good"])) == 1
    with pytest.raises(EcgDataError, match=r"WFDB folder .*: 0 records"):
        read_wfdb_folder(tmp_path / "records", records=[])
    with pytest.raises(EcgDataError, match=r"WFDB folder .*nowhere: not a folder"):
        read_wfdb_folder(tmp_path / "nowhere")


def test_the_declaration_is_a_standalone_database_with_a_test_split():
    assert databases.database("wfdb") is DATABASE and DATABASE.pipeline == "data_wfdb"
    assert "wfdb" not in databases.in_data_processing() and "mitdb" in databases.in_data_processing()
    assert databases.raw_inputs()["wfdb_records"] == ("wfdb_raw", "data_wfdb")
    assert [s.outputs for s in DATABASE.steps] == [("wfdb_beats",), ("wfdb_test",)]


def test_data_wfdb_runs_through_the_catalog_and_a_bad_folder_writes_nothing(folder, tmp_path, shared_data,
                                                                             project_root, monkeypatch):
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.pipelines.data_processing import create_database_pipelines

    monkeypatch.chdir(tmp_path)  # the catalog's data/ paths are relative to the project

    def run(records_folder: Path):
        loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="base",
                                   runtime_params={"wfdb_folder": str(records_folder)},
                                   **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})
        catalog = DataCatalog.from_config(loader["catalog"])
        assert catalog.get("wfdb_raw").path == records_folder
        for section in ("ingestion", "segmentation", "split"):
            catalog[f"params:wfdb.{section}"] = loader["parameters"]["wfdb"][section]
        SequentialRunner().run(create_database_pipelines()["data_wfdb"], catalog)
        return catalog

    with pytest.raises(EcgDataError, match="record nodat: signal file"):
        run(bad_folder(tmp_path / "bad", shared_data))
    assert not (tmp_path / "data").exists()
    with pytest.raises(Exception, match=r"wfdb: no records folder at .*missing.*--params=wfdb_folder="):
        run(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()

    catalog = run(folder)
    assert (tmp_path / "data/02_intermediate/wfdb_records.parquet").is_file()
    beats, test = catalog.load("wfdb_beats"), catalog.load("wfdb_test")
    assert len(list((tmp_path / "data/05_model_input/wfdb_test.npz").glob("*/wfdb_test.npz"))) == 1
    assert test["y"].tolist() == beats["y"].tolist() and test["x"].shape == beats["x"].shape == (len(beats["y"]), 187)
    want = sum(expected_counts(folder, f"{r}_{fs}", scheme="kachuee", n_samples=650000)
               for r in RECORDS for fs in RATES)
    assert np.bincount(test["y"], minlength=5).tolist() == want.tolist()


def test_the_test_split_holds_every_beat_or_those_of_the_records_named(table):
    from ecg_pipeline.data.wfdb_folder import evaluation_split

    beats = segment_beats(table, scheme="kachuee")
    assert evaluation_split(beats)["test"] is beats
    chosen = evaluation_split(beats, records=["208_250"])["test"]
    assert len(chosen["y"]) == int((beats["record_id"] == "208_250").sum()) > 0
    assert set(chosen["record_id"]) == {"208_250"} and chosen["classes"].tolist() == beats["classes"].tolist()
    with pytest.raises(EcgDataError, match=r"records \['209'\] have no beats; expected some of the segmented"):
        evaluation_split(beats, records=["209", "100_128"])
