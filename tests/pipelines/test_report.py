"""The report pipeline through real KedroSessions (ci env): stored evaluations -> figures, tables, HTML;
partial reruns, missing evaluations, the lineage site and the notebook."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError

pytestmark = pytest.mark.slow

EVALUATED = ["ce_mlp.pgd_nsr", "ce_mlp.sap", "ce_mlp.real_noise_em", "ce_cnn.pgd_nsr"]
FIGURE_SETS = ("curve", "example", "training", "ensemble")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(module_project, processed_mitdb):
    """In a project of its own, so the report's tests know exactly which evaluations it reads."""
    project = processed_mitdb(module_project, "data_mitdb")
    project.run("train_ce", namespaces=["ce_mlp", "ce_cnn"])  # the MIT-BIH (NSR variant) runs it reports; no CPSC data here
    project.run("attack", namespaces=EVALUATED)
    project.run("report")
    return project


def latest(project, relative: str) -> Path:
    """The newest version folder's file of a versioned dataset (``relative``: its filepath)."""
    versions = project.versions(relative)
    assert versions, f"no version of {relative}"
    return project.path / relative / versions[-1] / Path(relative).name


def figure_files(project) -> dict[str, list[Path]]:
    return {name: sorted(latest(project, f"data/08_reporting/report/figures/{name}").glob("*.png")) for name in FIGURE_SETS}


def png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")  # IHDR width


def table_row(cells, title_start: str, row: str) -> dict:
    part = cells[cells["table"].str.startswith(title_start) & (cells["row"] == row)]
    assert not part.empty, f"no row {row!r} in a table {title_start!r}"
    return dict(zip(part["column"], part["value"]))


def chromium(*args: str) -> bytes:
    if not Path(CHROMIUM).exists():
        # A system browser is not a pip package: skip where there is none, except in CI (.ci/run installs
        # Debian's chromium and sets ECG_REQUIRE_BROWSER=1), where these checks must run.
        why = (f"{CHROMIUM} not found: renders the report and the kedro-viz site in headless Chromium "
               "(`apt-get install -y chromium`, as .ci/run does)")
        if os.environ.get("ECG_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}"]
        return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, timeout=120, check=True).stdout


def absolute_pythonpath() -> str:
    """PYTHONPATH with absolute entries, for child processes started in another folder."""
    return os.pathsep.join(str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


@contextmanager
def http_server(folder: Path):
    """A local static server (the kedro-viz app fetches its JSON, which file:// does not allow)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_tables_hold_the_stored_metrics_and_published_rows(reported):
    catalog = reported.catalog()
    metrics = catalog.load("ce_mlp.pgd_nsr.metrics")
    cells = catalog.load("report.robustness_tables")
    accuracy = table_row(cells, "MIT-BIH, MLP · pgd_nsr · Accuracy", "CE (ce_mlp)")
    assert list(accuracy) == ["0", "0.05", "ACC_robust"]
    for point in metrics["curve"]:
        assert accuracy[f"{point['eps']:g}"] == pytest.approx(point["balanced_accuracy"], abs=1e-12)
    assert accuracy["ACC_robust"] == pytest.approx(metrics["acc_robust_balanced"], abs=1e-12)
    f1 = table_row(cells, "MIT-BIH, MLP · pgd_nsr · Macro F1", "CE (ce_mlp)")
    assert f1["0.05"] == pytest.approx(metrics["curve"][1]["macro_f1"], abs=1e-12)
    assert f1["F1_robust"] == pytest.approx(metrics["f1_robust"], abs=1e-12)
    # Seed 001 Table 4 B, row CE, at the eps values the ci grid shares; no F1_robust (ci eps_max 0.05, paper 0.1).
    published = table_row(cells, "MIT-BIH, MLP · pgd_nsr · Macro F1", "CE: published (seed 001 Table 4 B)")
    assert published == pytest.approx({"0": 0.9219, "0.05": 0.0263})
    assert table_row(cells, "MIT-BIH, Kachuee CNN · pgd_nsr · Accuracy", "CE: published (seed 001 Table 4 C)")["0"] == \
        pytest.approx(0.9383)
    assert not cells["row"].str.contains("published").loc[cells["attack"] == "real_noise_em"].any()
    markdown = catalog.load("report.robustness_tables_md")
    assert "### MIT-BIH, MLP · pgd_nsr · Accuracy (class-balanced)" in markdown
    assert "| model | 0 | 0.05 | ACC_robust |" in markdown

    per_class = catalog.load("report.per_class_tables")
    row = table_row(per_class, "MIT-BIH, MLP · pgd_nsr · per-class", "eps 0.05 · CE (ce_mlp)")
    for cls, stats in metrics["curve"][1]["per_class"].items():
        assert row[f"{cls} sensitivity"] == pytest.approx(stats["sensitivity"], abs=1e-12)
        assert row[f"{cls} specificity"] == pytest.approx(stats["specificity"], abs=1e-12)
    noise = catalog.load("ce_mlp.real_noise_em.metrics")
    row = table_row(per_class, "MIT-BIH, MLP · real_noise_em · per-class", "snr_db 0 dB · CE (ce_mlp)")
    assert row["accuracy"] == pytest.approx(noise["curve"][1]["accuracy"], abs=1e-12)


def test_the_headline_is_the_worst_case_over_the_stored_evaluations(reported):
    catalog = reported.catalog()
    headline = catalog.load("report.headline").set_index("model")
    row = headline.loc["CE (ce_mlp)"]
    assert row["attacks"] == 2  # pgd_nsr and sap: the eps evaluations stored for ce_mlp (real noise is over SNR)
    # min over attacks and the worst case on the same beats: the bound holds
    assert row["worst-case ACC_robust on those beats"] <= row["min over attacks of ACC_robust on those beats"] + 1e-12
    assert row["worst-case ACC_robust"] == pytest.approx(catalog.load("report.worst_cases")["ce_mlp"]["acc_robust_balanced"])
    # what it is scored on, and its intervals
    assert (row["split"], row["beats"], row["eps_max"]) == ("mitdb_test", 50, 0.05)  # ci: 10 per class
    for name in ("clean", "worst-case accuracy at eps_max", "worst-case ACC_robust"):
        assert row[f"{name} low"] <= row[name] <= row[f"{name} high"]
    assert row["interval"] == "95% stratified bootstrap, 300 resamples"
    assert row["warnings"] == "not checked (no AutoAttack evaluation stored)"
    page = latest(reported, "data/08_reporting/report/report.html").read_text()
    sections = re.findall(r"<h2[^>]*>([^<]*)</h2>", page)
    assert sections[0].startswith("Headline") and sections[-1] == "Missing evaluations"
    assert page.split(">Missing evaluations</h2>")[1].startswith("\n<details><summary>")
    first = page.split("</h2>")[1]
    assert "mitdb_test, n = 50 (N 10, S 10, V 10, F 10, Q 10), eps_max 0.05" in first
    assert re.search(r"\d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)", first)  # an estimate with its interval
    assert "model · mitdb_mlp · ce_mlp" in first  # the model's all-attacks figure, in the first section


def test_figures_are_png_files_for_every_stored_evaluation(reported):
    files = {name: {p.name: p for p in paths} for name, paths in figure_files(reported).items()}
    assert {"mitdb_mlp__pgd_nsr.png", "mitdb_mlp__sap.png", "mitdb_mlp__real_noise_em.png",
            "mitdb_cnn__pgd_nsr.png"} <= set(files["curve"])
    assert {"mitdb_mlp__pgd_nsr__ce_mlp.png", "mitdb_mlp__sap__ce_mlp.png", "mitdb_mlp__real_noise_em__ce_mlp.png",
            "mitdb_cnn__pgd_nsr__ce_cnn.png"} <= set(files["example"])
    assert {"mitdb_mlp__ce_mlp.png", "mitdb_cnn__ce_cnn.png"} <= set(files["training"])
    # one figure per model with every attack and the worst case; MLP against CNN
    assert {"model__mitdb_mlp__ce_mlp.png", "model__mitdb_cnn__ce_cnn.png", "architectures__mitdb.png"} <= set(files["curve"])
    for paths in files.values():
        for path in paths.values():
            content = path.read_bytes()
            assert content.startswith(PNG_SIGNATURE) and len(content) > 5_000, path
    assert "mitdb_cnn__nsr_cnn.png" not in files["training"]  # nsr_cnn is never trained in the test project


def test_html_embeds_every_figure_and_names_the_input_versions(reported):
    page = latest(reported, "data/08_reporting/report/report.html").read_text()
    n_figures = sum(len([p for p in paths if p.name != "nothing_stored.png"]) for paths in figure_files(reported).values())
    assert page.count('src="data:image/png;base64,') == n_figures > 0
    assert "<script" not in page and 'src="http' not in page and "href=\"http" not in page  # opens with no server
    metrics_version = reported.versions("data/08_reporting/attacks/ce_mlp/pgd_nsr.json")[-1]
    history_version = reported.versions("data/08_reporting/training/ce_mlp_history.csv")[-1]
    assert metrics_version in page and history_version in page
    inventory = reported.catalog().load("report.inventory")
    assert {"dataset": "ce_mlp.pgd_nsr.metrics", "version": metrics_version} in [
        {k: i[k] for k in ("dataset", "version")} for i in inventory["inputs"]]
    for item in inventory["inputs"]:
        assert item["version"] in page


def test_missing_evaluations_are_one_table_with_one_command_per_model(reported, caplog):
    inventory = reported.catalog().load("report.inventory")
    missing = {row["run"]: row for row in inventory["missing"]}
    assert "sap" in missing["ce_cnn"]["missing"] and "pgd_nsr" not in missing["ce_cnn"]["missing"]
    flags = f" --env=ci --params=data_root={reported.data_root}"  # a copied command stays in the ci configuration
    assert missing["ce_cnn"]["command"] == "kedro run --pipelines=attack --namespaces=ce_cnn --only-missing-outputs" + flags
    assert missing["nsr_cnn"]["command"] == (f"kedro run --pipelines=train_nsr --namespaces=nsr_cnn{flags} && "
                                             f"kedro run --pipelines=attack --namespaces=nsr_cnn{flags}")
    assert missing["nsr_mlp_sweep"]["command"].startswith(f"kedro run --pipelines=sweep --namespaces=nsr_mlp_sweep{flags} && ")
    assert "pgd_nsr" not in missing["ce_mlp"]["missing"]
    page = latest(reported, "data/08_reporting/report/report.html").read_text()
    assert page.count("kedro run --pipelines=attack") == len(missing)  # one command per model, nothing per artifact
    assert missing["ce_cnn"]["command"] in page

    caplog.clear()
    with pytest.raises(EcgDataError) as error:
        reported.run("report", node_names=["report.inventory"], runtime_params={"report": {"strict": True}})
    message = str(error.value)
    assert re.search(r"^  ce_cnn: fgsm, bim, .*sap", message, re.M)
    assert re.search(r"^    kedro run --pipelines=attack --namespaces=ce_cnn --only-missing-outputs --env=ci --params=data_root=\S+$",
                     message, re.M)
    with pytest.raises(EcgDataError, match=r"'report.runs': \['ce_mpl'\] are not declared model runs"):
        reported.run("report", node_names=["report.inventory"], runtime_params={"report": {"runs": ["ce_mpl"]}})


def test_the_report_and_the_attacks_it_reads_are_not_run_as_one(reported):
    before = reported.versions("data/08_reporting/attacks/ce_mlp/fgsm.json")
    with pytest.raises(EcgDataError, match=r"run it afterwards: `kedro run --pipelines=attack( --env=ci --params=\S+)? && "
                                           r"kedro run --pipelines=report"):
        reported.run(["attack", "report"], namespaces=["ce_mlp.fgsm", "report"])
    assert reported.versions("data/08_reporting/attacks/ce_mlp/fgsm.json") == before  # refused before anything ran


def test_a_plotting_parameter_change_rebuilds_the_report_from_stored_artifacts(reported):
    stored = ["data/08_reporting/attacks/ce_mlp/pgd_nsr.json", "data/06_models/ce_mlp.pt",
              "data/08_reporting/report/worst_cases.json"]
    before = {path: reported.versions(path) for path in stored}
    # the stored worst cases the curves read do not depend on a figure setting: read, not rebuilt
    reported.run("report", node_names=["report.robustness_curves"],
                 runtime_params={"report": {"figure": {"dpi": 30, "width": 10.0}}})
    assert {path: reported.versions(path) for path in stored} == before  # nothing upstream recomputed
    assert png_width(latest(reported, "data/08_reporting/report/figures/curve") / "mitdb_mlp__pgd_nsr.png") == 300


def test_from_nodes_rebuilds_the_page_from_stored_figures(reported):
    figures_before = reported.versions("data/08_reporting/report/figures/curve")
    pages_before = reported.versions("data/08_reporting/report/report.html")
    reported.run("report", from_nodes=["report.html"])
    assert reported.versions("data/08_reporting/report/figures/curve") == figures_before
    assert len(reported.versions("data/08_reporting/report/report.html")) == len(pages_before) + 1
    page = latest(reported, "data/08_reporting/report/report.html").read_text()
    assert figures_before[-1] in page  # the page says which figure version it embeds


def test_pins_read_an_older_evaluation_after_load_versions_reevaluated_an_older_model(reported):
    oldest_model = reported.versions("data/06_models/ce_mlp.pt")[0]
    reported.run("attack", namespaces=["ce_mlp.pgd_nsr"], load_versions={"ce_mlp.model": oldest_model})
    older, newer = reported.versions("data/08_reporting/attacks/ce_mlp/pgd_nsr.json")[-2:]
    reported.run("report", runtime_params={"report": {"pin": {"ce_mlp": {"pgd_nsr": older}}}})
    inventory = reported.catalog().load("report.inventory")
    versions = {i["dataset"]: i["version"] for i in inventory["inputs"]}
    assert versions["ce_mlp.pgd_nsr.metrics"] == older != newer
    assert older in latest(reported, "data/08_reporting/report/report.html").read_text()
    with pytest.raises(Exception, match=r"version '2020' is not stored; stored versions: \["):
        reported.run("report", node_names=["report.inventory"],
                     runtime_params={"report": {"pin": {"ce_mlp": {"pgd_nsr": "2020"}}}})


def test_only_missing_outputs_runs_only_what_is_not_stored(reported):
    report_outputs = ["data/08_reporting/report/report.html", "data/08_reporting/report/figures/curve"]
    before = {path: reported.versions(path) for path in report_outputs}
    reported.run("report", only_missing_outputs=True)
    assert {path: reported.versions(path) for path in report_outputs} == before
    evaluated = reported.versions("data/08_reporting/attacks/ce_mlp/pgd_nsr.json")
    assert reported.versions("data/08_reporting/attacks/ce_mlp/cw_linf.json") == []
    reported.run("attack", namespaces=["ce_mlp.pgd_nsr", "ce_mlp.cw_linf"], only_missing_outputs=True)
    assert reported.versions("data/08_reporting/attacks/ce_mlp/pgd_nsr.json") == evaluated
    assert len(reported.versions("data/08_reporting/attacks/ce_mlp/cw_linf.json")) == 1


def test_report_renders_in_headless_chromium(reported, tmp_path):
    from matplotlib.image import imread

    page = latest(reported, "data/08_reporting/report/report.html")
    shot = tmp_path / "report.png"
    chromium("--hide-scrollbars", "--window-size=1280,4000", f"--screenshot={shot}", page.as_uri())
    image = imread(shot)
    assert image.shape[:2] == (4000, 1280)
    dark = (image[..., :3].mean(axis=2) < 0.5).mean()
    assert dark > 0.01  # text, tables and figures drawn, not a blank page
    dom = chromium("--dump-dom", page.as_uri()).decode()
    assert dom.count("<img") == page.read_text().count("<img") > 0


def test_kedro_viz_build_shows_every_pipeline_and_the_report_inputs(reported):
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(reported.path)
    registered = set(pipelines)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONPATH": absolute_pythonpath()}
    build = reported.path / "build"
    shutil.rmtree(build, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "kedro", "viz", "build"], cwd=reported.path, env=env, check=True,
                   capture_output=True, timeout=300)
    main = json.loads((build / "api" / "main").read_text())
    assert {p["id"] for p in main["pipelines"]} == registered
    report = json.loads((build / "api" / "pipelines" / "report").read_text())
    datasets = {n["name"]: n for n in report["nodes"] if n["type"] == "data"}
    # The report reads three collections (the attack and training templates' files), not 400 inputs.
    assert {"attack_evaluations", "attack_examples", "training_histories"} <= set(datasets)
    assert not any(name.endswith((".metrics", ".history")) for name in datasets)
    attack = json.loads((build / "api" / "pipelines" / "attack").read_text())
    assert "ce_mlp.pgd_nsr.metrics" in {n["name"] for n in attack["nodes"] if n["type"] == "data"}
    with http_server(build) as url:
        dom = chromium("--virtual-time-budget=15000", "--dump-dom", f"{url}/?pid=report").decode()
    for name in registered:
        assert f">{name}<" in dom, f"pipeline {name} not in the rendered lineage site"
    assert "attack_evaluations" in dom and "training_histories" in dom


def test_notebook_runs_top_to_bottom_on_the_stored_artifacts(reported, project_root, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("ECG_PROJECT_PATH", str(reported.path))
    monkeypatch.setenv("KEDRO_ENV", "ci")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("PYTHONPATH", absolute_pythonpath())
    notebook = nbformat.read(project_root / "notebooks" / "robustness_artifacts.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    # Kedro's own IPython extension bootstraps it (as `kedro jupyter lab` does), not a hand-made session.
    assert code[0].strip() == "%load_ext kedro.ipython" and not any("KedroSession" in c for c in code)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(project_root / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # one curve, one adversarial example
    assert any("CE (ce_mlp)" in o.get("data", {}).get("text/html", "") for o in outputs)  # the report's table
    np.testing.assert_(any("metrics version" in o.get("text", "") for o in outputs))


def test_report_of_a_project_with_nothing_stored_lists_everything_as_missing(empty_project):
    empty_project.run("report")
    page = latest(empty_project, "data/08_reporting/report/report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 0  # empty sections are left out, not announced
    assert "nothing_stored" not in page and "No ensemble figures" not in page
    sections = re.findall(r"<h2[^>]*>([^<]*)</h2>", page)
    assert sections[0].startswith("Headline") and sections[-1] == "Missing evaluations"
    assert not any(s.startswith(("Ensembles", "Training curves", "Adversarial examples")) for s in sections)
    flags = f" --env=ci --params=data_root={empty_project.data_root}"
    assert (f"kedro run --pipelines=train_ce --namespaces=ce_mlp{flags} &amp;&amp; kedro run --pipelines=attack "
            f"--namespaces=ce_mlp{flags}<") in page
    assert empty_project.catalog().load("report.robustness_tables").empty
