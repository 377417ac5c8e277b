"""The report page's order: the headline (with intervals) and each model's figure first, then the
architectures, the curves, the tables; provenance; the missing evaluations last and collapsed; empty sections
left out."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.reporting import headline, page
from ecg_pipeline.reporting.spec import ModelRun, ReportSpec
from ecg_pipeline.reporting.worst_cases import worst_cases

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 20


def _stored(run: str, attack: str, pred_at_eps):
    y = np.array([0, 0, 1, 1])
    metrics = {"attack": attack, "grid_param": "eps", "grid": [0.0, 0.1], "classes": ["N", "S"], "eps_max": 0.1,
               "n": 4, "model": {"fingerprint": "f1", "data_fingerprint": "d1"}, "acc_robust_balanced": 0.7,
               "curve": [{"eps": 0.0, "balanced_accuracy": 1.0}, {"eps": 0.1, "balanced_accuracy": 0.5}]}
    examples = {"grid": np.array([0.0, 0.1]), "subset": np.arange(4), "subset_y": y, "pred": np.stack([y, pred_at_eps])}
    return (StoredArtifact(f"/abs/project/data/{run}/{attack}.json", "2026-12-01T10.00.00.000Z", True, metrics),
            StoredArtifact(f"/abs/project/data/{run}/{attack}.npz", "2026-12-01T10.00.00.000Z", True, examples))


def _page(with_figures: bool = True, missing: bool = True) -> str:
    runs = (ModelRun("ce_mlp", "CE", "mitdb", "MIT-BIH", "mlp", ("autoattack", "pgd"), "kedro run --pipelines=train_ce",
                     split="mitdb_test", reference="autoattack"),
            ModelRun("ce_cnn", "CE", "mitdb", "MIT-BIH", "kachuee_cnn", ("autoattack", "pgd"),
                     "kedro run --pipelines=train_ce", split="mitdb_test", reference="autoattack"))
    spec = ReportSpec.from_params({}, runs)
    aa, pgd = _stored("ce_mlp", "autoattack", [0, 1, 1, 1]), _stored("ce_mlp", "pgd", [0, 0, 0, 1])
    evaluations = {"ce_mlp.autoattack": aa[0], **({} if missing else {"ce_mlp.pgd": pgd[0]})}
    examples = {"ce_mlp.autoattack": aa[1], **({} if missing else {"ce_mlp.pgd": pgd[1]})}
    combined = worst_cases(spec, evaluations, examples, Bootstrap(resamples=50, seed=0))
    table = headline.table(combined)
    inventory = page.inventory(spec, evaluations, {}, flags=" --env=ci", relative=lambda p: p.replace("/abs/project/", ""),
                               provenance={"commit": "abc123", "dirty": True, "env": "ci", "runtime_params": {},
                                           "packages": {"torch": "2.13.0"}})
    curves = {"model__mitdb_mlp__ce_mlp.png": PNG, "mitdb_mlp__autoattack.png": PNG} if with_figures else \
        {page.NOTHING_STORED: PNG}
    return page.build(spec, inventory, table, combined, pd.DataFrame(), pd.DataFrame(),
                      {"curves": curves, "examples": {}, "training": {}, "ensembles": {page.NOTHING_STORED: PNG}},
                      order=lambda name: name, caption=lambda name: name, versions="curves v1")


def headings(text: str) -> list[str]:
    return re.findall(r"<h2[^>]*>([^<]*)</h2>", text)


def test_sections_come_headline_first_and_missing_evaluations_last_and_collapsed():
    text = _page()
    order = headings(text)
    assert order[0].startswith("Headline") and order[-1] == "Missing evaluations"
    assert order.index("Robustness curves by attack") < order.index("Provenance: what this report and its inputs were made with")
    missing = text.split(">Missing evaluations</h2>")[1]
    assert missing.startswith("\n<details><summary>")
    assert "<details open" not in missing
    assert "2 of 2 models lack evaluations" in missing and "--env=ci" in missing
    # the headline table, its intervals and the model's own figure before anything else
    first = text[:text.index("</h2>", text.index("</h2>") + 5)]
    assert "mitdb_test, n = 4 (N 2, S 2), eps_max 0.1" in first
    assert re.search(r"\d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)", first)
    assert "model__mitdb_mlp__ce_mlp.png" in first


def test_empty_sections_are_left_out_not_announced():
    text = _page(with_figures=False)
    assert "nothing_stored" not in text and "No ensemble figures" not in text
    order = headings(text)
    for absent in ("Ensembles", "Adversarial examples", "Training curves", "Robustness curves by attack",
                   "Robustness tables", "Architectures compared"):
        assert not any(h.startswith(absent) for h in order), absent
    assert order[-1] == "Missing evaluations"


def test_provenance_is_shown_with_relative_paths_and_says_what_was_not_recorded():
    text = _page(missing=False)
    section = text.split(">Provenance: what this report")[1].split(">Missing evaluations</h2>")[0]
    assert "abc123" in section and "torch" in section and "2.13.0" in section
    assert "data/ce_mlp/autoattack.json" in section and "/abs/project" not in text
    assert "provenance not recorded" in section  # stored before evaluations carried it
    assert "model fingerprint f1" in section
    made = page.made_with({"model": {"fingerprint": "f"}, "provenance": {
        "commit": "c0ffee", "dirty": False, "env": "ci", "model": {"fingerprint": "f", "version": "v7",
                                                                   "data_fingerprint": "d"},
        "test_data": {"dataset": "mitdb_test", "version": "v2", "fingerprint": "t"}}})
    assert made == "commit c0ffee, env ci; model f version v7; training data d; test data mitdb_test v2 t"


def _benchmark_and_ranking() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two defenses, one seed each, on 40 beats: B loses 10 beats A keeps under attack."""
    from ecg_pipeline.reporting.table import RunDimensions, encode_outcomes, ranking, table

    y, grid = np.repeat([0, 1], 20), [0.0, 0.1]
    outcomes = {"a_mlp": np.ones((2, 40), dtype=bool), "b_mlp": np.ones((2, 40), dtype=bool)}
    outcomes["b_mlp"][1, ::4] = False
    cases = {run: {"grid": grid, "eps_max": 0.1, "n": 40, "acc_robust_balanced": float(c[1].mean()),
                   "curve": [{"eps": e, "balanced_accuracy": float(c[g].mean())} for g, e in enumerate(grid)],
                   "per_beat": encode_outcomes(np.arange(40), y, c)} for run, c in outcomes.items()}
    dims = {run: RunDimensions(run, run.upper(), "x", "mlp", "random", "mitdb", 0) for run in cases}
    boot = Bootstrap(resamples=100, seed=0)
    return table(cases, dims, boot), ranking(cases, dims, boot)


def test_the_page_shows_the_benchmark_table_and_the_ranking():
    benchmark, ranking = _benchmark_and_ranking()
    assert not any(h.startswith(("Benchmark", "Ranking")) for h in headings(_page()))   # not stored: left out
    runs = (ModelRun("a_mlp", "A", "mitdb", "MIT-BIH", "mlp", ("autoattack",), "kedro run"),)
    spec = ReportSpec.from_params({}, runs)
    inventory = {"built_at": "now", "inputs": [], "missing": [], "coverage": [], "provenance": None}
    text = page.build(spec, inventory, pd.DataFrame(), {}, pd.DataFrame(), pd.DataFrame(), {}, order=lambda n: n,
                      caption=lambda n: n, versions="", benchmark=benchmark, ranking=ranking)
    order = headings(text)
    assert order.index("Benchmark: every defense over its seeds, against CE") < order.index(
        "Ranking of defenses under the worst case") < order.index("Missing evaluations")
    shown = text.split("Ranking of defenses under the worst case</h2>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>mlp</td>(.*?)</tr>", shown)
    assert len(rows) == 2 and "A_MLP" in rows[0] and "B_MLP" in rows[1]
    assert re.search(r"B_MLP: \+0\.\d{3} \[0\.\d{3}, 0\.\d{3}\], p [\d.e-]+, resolved", rows[0])
    assert re.search(r"A_MLP: -0\.\d{3} \[-0\.\d{3}, -0\.\d{3}\], p [\d.e-]+, resolved", rows[1])
    table_part = text.split("against CE</h2>")[1].split("</table>")[0]
    assert "<th>worst-case ACC_robust</th>" in table_part and "1.000" in table_part and "0.750" in table_part


def test_the_ranking_section_says_per_model_whether_the_order_changes_between_splits():
    from ecg_pipeline.reporting.table import RunDimensions, encode_outcomes, ranking

    y, grid = np.repeat([0, 1], 20), [0.0, 0.1]
    outcomes = {"a_mlp": np.ones((2, 40), dtype=bool), "b_mlp": np.ones((2, 40), dtype=bool),
                "a_mlp_ip": np.ones((2, 40), dtype=bool), "b_mlp_ip": np.ones((2, 40), dtype=bool)}
    outcomes["b_mlp"][1, ::4] = False      # random split: A above B by 10 beats
    outcomes["a_mlp_ip"][1, ::4] = False   # inter-patient: B above A by 10 beats, both resolved
    cases = {run: {"grid": grid, "eps_max": 0.1, "n": 40, "acc_robust_balanced": float(c[1].mean()),
                   "curve": [{"eps": e, "balanced_accuracy": float(c[g].mean())} for g, e in enumerate(grid)],
                   "per_beat": encode_outcomes(np.arange(40), y, c)} for run, c in outcomes.items()}
    dims = {run: RunDimensions(run.removesuffix("_ip"), run[0].upper(), "x", "mlp",
                               "inter_patient" if run.endswith("_ip") else "random",
                               "mitdb_ip" if run.endswith("_ip") else "mitdb", 0) for run in cases}
    frame = ranking(cases, dims, Bootstrap(resamples=100, seed=0))
    runs = (ModelRun("a_mlp", "A", "mitdb", "MIT-BIH", "mlp", ("autoattack",), "kedro run"),)
    inventory = {"built_at": "now", "inputs": [], "missing": [], "coverage": [], "provenance": None}
    text = page.build(ReportSpec.from_params({}, runs), inventory, pd.DataFrame(), {}, pd.DataFrame(),
                      pd.DataFrame(), {}, order=lambda n: n, caption=lambda n: n, versions="", ranking=frame)
    section = text.split("Ranking of defenses under the worst case</h2>")[1]
    assert "mlp: the order changes between splits, resolved on every split: A and B" in section


def test_the_benchmark_table_shows_each_other_evaluation_with_its_interval_and_its_difference_with_ce():
    from ecg_pipeline.reporting import table as benchmark

    row = dict.fromkeys(benchmark.COLUMNS)
    row.update({"defense": "adv", "model": "mlp", "split": "random", "seeds": "0", "clean": 0.9,
                benchmark.SAP: 0.84, f"{benchmark.SAP} low": 0.823, f"{benchmark.SAP} high": 0.856,
                f"{benchmark.SAP} minus reference": 0.323, f"{benchmark.SAP} minus reference low": 0.309,
                f"{benchmark.SAP} minus reference high": 0.336})
    shown = page.benchmark_display(pd.DataFrame([row], columns=benchmark.COLUMNS))
    assert shown.loc["mlp", benchmark.SAP] == "0.840 [0.823, 0.856]"
    assert shown.loc["mlp", f"{benchmark.SAP} minus CE"] == "+0.323 [0.309, 0.336]"
    assert benchmark.WHITE_NOISE not in shown    # stored for no row: no column
