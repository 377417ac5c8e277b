"""The bare ``kedro run`` (``main``) through a real KedroSession from an empty project (ci env, real shared
data): MIT-BIH only, the study's runs trained and attacked, the report on disk, its place announced."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.slow


def test_bare_kedro_run_ends_with_the_report(empty_project, caplog):
    with caplog.at_level(logging.INFO, logger="ecg_pipeline.hooks"):
        empty_project.run()  # no pipeline name: __default__
    # MIT-BIH and its noise only: no other database was read
    assert empty_project.versions("data/06_models/ce_mlp.pt") and empty_project.versions("data/06_models/nsr_mlp.pt")
    assert not (empty_project.path / "data/02_intermediate/cinc2017_records.parquet").exists()
    assert not (empty_project.path / "data/02_intermediate/cpsc2018_records.parquet").exists()
    assert not (empty_project.path / "data/08_reporting/rpeak_detector_agreement.csv").exists()
    for run in ("ce_mlp", "nsr_mlp"):
        for attack in ("pgd_nsr", "pgd", "square", "autoattack", "real_noise_em"):
            assert empty_project.versions(f"data/08_reporting/attacks/{run}/{attack}.json"), (run, attack)
    # the record-level noise stress (PhysioNet nst) judged every main run: clean, then each declared SNR, same beats
    for run in ("ce_mlp", "nsr_mlp"):
        stress = empty_project.catalog().load(f"{run}.record_noise.metrics")
        assert stress["construction"].startswith("PhysioNet nst")
        assert [row["snr_db"] for row in stress["curve"]][1:] == [24.0, 18.0, 12.0, 6.0, 0.0, -6.0]
        assert {row["n_beats"] for row in stress["curve"]} == {stress["n"]}  # every beat re-cut at every SNR
    [version] = empty_project.versions("data/08_reporting/report/report.html")
    page = (empty_project.path / "data/08_reporting/report/report.html" / version / "report.html").read_text()
    assert "nsr_mlp" in page and "ce_mlp" in page
    headline = empty_project.catalog().load("report.headline").set_index("model")
    assert list(headline.index) == ["CE (ce_mlp)", "0.4NSR (nsr_mlp)"]
    assert (headline["attacks"] == 4).all()  # pgd_nsr, pgd, square and the autoattack ensemble (eps attacks)
    assert (headline["worst-case ACC_robust"] <= headline["min over attacks that scored every beat"] + 1e-12).all()
    announced = [r.getMessage() for r in caplog.records if r.getMessage().startswith("report: ")]
    assert announced and f"report.html/{version}/report.html" in announced[-1] and "python -m webbrowser" in announced[-1]
