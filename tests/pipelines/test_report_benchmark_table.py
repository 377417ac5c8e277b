"""The benchmark table's node (pipelines/report: ``report.benchmark_table``): the stored SAP, white-noise,
record-noise and certify evaluations read where stored (pins honoured), nothing where not; its wiring and gate."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration
from ecg_pipeline.evaluation.paired import seed_summary
from ecg_pipeline.pipelines.report import nodes
from ecg_pipeline.reporting.spec import ModelRun
from ecg_pipeline.reporting.table import EVALUATION_COLUMNS, RunDimensions

GRID = [0.0, 0.05, 0.1]
RUNS = (ModelRun("ce_mlp", "CE", "mitdb", "MIT-BIH", "mlp", ("pgd", "sap"), "kedro run"),
        ModelRun("ce_mlp_s1", "CE", "mitdb", "MIT-BIH", "mlp", ("pgd", "sap"), "kedro run"))
DIMENSIONS = {"ce_mlp": RunDimensions("ce_mlp", "CE", "ce", "mlp", "random", "mitdb", 0),
              "ce_mlp_s1": RunDimensions("ce_mlp", "CE", "ce", "mlp", "random", "mitdb", 1)}


def worst(robust: float) -> dict:
    """A stored worst case without per-beat outcomes (the fields the table reads)."""
    return {"grid": GRID, "eps_max": 0.1, "n": 50, "acc_robust_balanced": robust,
            "curve": [{"eps": e, "balanced_accuracy": b} for e, b in zip(GRID, [0.9, 0.6, 0.4])]}


def artifact(versions: dict[str, dict]) -> StoredArtifact:
    """A collection's entry: the newest of ``versions`` loaded, the older ones readable by version."""
    names = tuple(sorted(versions))

    def read(version: str) -> StoredArtifact:
        return StoredArtifact("x", version, True, versions[version], names, read)

    return read(names[-1])


def test_the_node_reads_what_is_stored_at_its_pinned_version(tmp_path):
    evaluations = {"ce_mlp.sap": artifact({"v1": {"acc_robust_balanced": 0.30}, "v2": {"acc_robust_balanced": 0.50}}),
                   "ce_mlp_s1.sap": artifact({"v1": {"acc_robust_balanced": 0.70}}),
                   "ce_mlp.white_noise": artifact({"v1": {"acc_robust_balanced": 0.88}}),
                   "ce_mlp.pgd": artifact({"v1": {"acc_robust_balanced": 0.01}})}   # an attack of no column
    record_noise = {"ce_mlp_s1": artifact({"v1": {"curve": [{"snr_db": None, "balanced_accuracy": 0.9},
                                                            {"snr_db": 12.0, "balanced_accuracy": 0.81},
                                                            {"snr_db": 0.0, "balanced_accuracy": 0.62}]}})}
    certified = {"ce_mlp": artifact({"v1": {"acc_robust_balanced": 0.25,
                                            "curve": [{"eps": 0.0, "balanced_accuracy": 0.9},
                                                      {"eps": 0.01, "balanced_accuracy": 0.8}]}})}
    worst_cases = {"ce_mlp": worst(0.5), "ce_mlp_s1": worst(0.6)}
    frame, text = nodes.benchmark_table({}, worst_cases, evaluations, certified, record_noise,
                                        model_runs=RUNS, dimensions=DIMENSIONS)
    row = frame.iloc[0]
    assert row["n seeds"] == 2 and row["SAP ACC_robust"] == pytest.approx((0.50 + 0.70) / 2)   # newest versions
    assert row["white noise ACC_robust"] == 0.88 and row["record noise 12 dB"] == 0.81
    assert row["record noise 0 dB"] == 0.62 and row["certified ACC_robust"] == 0.25
    assert row["certified at eps 0.01"] == 0.8
    for column, seed in [("white noise ACC_robust", 0), ("record noise 12 dB", 1), ("certified ACC_robust", 0)]:
        assert f"{column}: seed {seed} only (1 of 2)" in row["note"]
    sap = seed_summary([0.50, 0.70])    # two seeds: their t-interval; the others, one seed without outcomes: none
    assert f"| CE | mlp | random | 2 | 0.600 [{sap.low:.3f}, {sap.high:.3f}] | 0.880 | 0.810 | 0.620 | 0.250 | " \
           "0.800 |" in text
    # report.pin picks the older SAP version; a run with nothing stored is empty cells, not an error
    pinned, _ = nodes.benchmark_table({"pin": {"ce_mlp": {"sap": "v1"}}}, worst_cases, evaluations, certified,
                                      record_noise, model_runs=RUNS, dimensions=DIMENSIONS)
    assert pinned.iloc[0]["SAP ACC_robust"] == pytest.approx((0.30 + 0.70) / 2)
    empty, _ = nodes.benchmark_table({}, worst_cases, {}, {}, {}, model_runs=RUNS, dimensions=DIMENSIONS)
    assert empty[EVALUATION_COLUMNS].isna().all().all() and empty.iloc[0]["worst-case ACC_robust"] == pytest.approx(0.55)


def test_the_node_draws_intervals_from_the_outcomes_of_the_metrics_own_version():
    import numpy as np

    from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy, robustness_intervals
    from ecg_pipeline.evaluation.metrics import robust_score
    from ecg_pipeline.evaluation.paired import paired_difference

    rng = np.random.default_rng(6)
    y = np.repeat([0, 1], [40, 30])
    dimensions = {"ce_mlp": DIMENSIONS["ce_mlp"],
                  "adv_mlp": RunDimensions("adv_mlp", "adv", "adversarial", "mlp", "random", "mitdb", 0)}

    def sap(rates) -> tuple[dict, dict, np.ndarray]:
        draws = rng.random(y.size)
        correct = np.stack([draws < r for r in rates])
        score = robust_score(GRID, [balanced_accuracy(y, c) for c in correct], 0.1)["robust"]
        return ({"grid_param": "eps", "grid": GRID, "eps_max": 0.1, "acc_robust_balanced": score},
                {"grid": np.asarray(GRID), "subset": np.arange(y.size), "subset_y": y,
                 "pred": np.where(correct, y, 1 - y)}, correct)

    ce, adv_old, adv_new = sap([0.9, 0.5, 0.2]), sap([0.9, 0.8, 0.7]), sap([0.9, 0.7, 0.6])
    evaluations = {"ce_mlp.sap": artifact({"v1": ce[0]}),
                   "adv_mlp.sap": artifact({"v1": adv_old[0], "v2": adv_new[0]})}
    examples = {"ce_mlp.sap": artifact({"v1": ce[1]}), "adv_mlp.sap": artifact({"v1": adv_old[1], "v2": adv_new[1]})}
    worst_cases = {"ce_mlp": worst(0.3), "adv_mlp": worst(0.6)}
    settings = {"bootstrap": {"resamples": 100, "seed": 3}}
    boot = Bootstrap(100, 3)
    for pin, (_, _, correct) in ((None, adv_new), ("v1", adv_old)):
        params = {**settings, **({"pin": {"adv_mlp": {"sap": pin}}} if pin else {})}
        frame, _ = nodes.benchmark_table(params, worst_cases, evaluations, {}, {}, examples, {}, {},
                                         model_runs=RUNS, dimensions=dimensions)
        row = frame[frame["block"] == "adv_mlp"].iloc[0]
        own = robustness_intervals(y, correct, GRID, boot, 0.1)["acc_robust"]
        difference = paired_difference(y, correct, ce[2], GRID, boot, 0.1)["acc_robust"]
        assert (row["SAP ACC_robust"], row["SAP ACC_robust low"], row["SAP ACC_robust high"]) == pytest.approx(
            (own.estimate, own.low, own.high))
        assert (row["SAP ACC_robust minus reference"], row["SAP ACC_robust minus reference low"]) == pytest.approx(
            (difference.estimate, difference.low))
    # the outcomes of the metrics' version are not stored (only an older one is): the mean, no interval, a note
    frame, _ = nodes.benchmark_table(settings, worst_cases, evaluations, {}, {},
                                     {**examples, "adv_mlp.sap": artifact({"v1": adv_old[1]})}, {}, {},
                                     model_runs=RUNS, dimensions=dimensions)
    row = frame[frame["block"] == "adv_mlp"].iloc[0]
    assert row["SAP ACC_robust"] == pytest.approx(adv_new[0]["acc_robust_balanced"])
    assert pd.isna(row["SAP ACC_robust low"]) and "no interval (per-beat outcomes not stored): SAP" in row["note"]


@pytest.fixture
def pipelines(base_parameters):
    return build_pipelines(read_declaration(copy.deepcopy(dict(base_parameters))))


def test_the_node_reads_the_three_collections_and_main_waits_for_the_noise_stress(pipelines):
    table = next(n for n in pipelines["report"].nodes if n.name == "report.benchmark_table")
    assert {"report.worst_cases", "attack_evaluations", "certify_evaluations", "record_noise_evaluations",
            "attack_examples", "certify_examples", "record_noise_examples"} <= set(table.inputs)
    import yaml
    from pathlib import Path

    catalog = yaml.safe_load((Path(__file__).parents[2] / "conf/base/catalog.yml").read_text())
    assert catalog["record_noise_examples"]["filepath"] == catalog["{run}.record_noise.examples"]["filepath"]
    assert catalog["record_noise_examples"]["type"] == "ecg_pipeline.datasets.StoredCollection"
    main = pipelines["main"]
    gate = next(n for n in main.nodes if n.name == "report.wait_for_evaluations")
    stressed = {n.name.removesuffix(".record_noise") + ".metrics" for n in main.nodes
                if n.name.endswith(".record_noise.record_noise")}
    assert stressed and stressed <= set(gate.inputs)          # every record-noise node of main orders the report
    assert not {i for i in gate.inputs if i.endswith(".record_noise.metrics")} - stressed   # none it lacks
    order = [n.name for n in main.nodes]
    assert max(order.index(n.removesuffix(".metrics") + ".record_noise") for n in stressed) < order.index(
        "report.benchmark_table")


def test_the_ranking_node_ranks_the_stored_worst_cases():
    dimensions = {"ce_mlp": RunDimensions("ce_mlp", "CE", "ce", "mlp", "random", "mitdb", 0),
                  "adv_mlp": RunDimensions("adv_mlp", "adv", "adversarial", "mlp", "random", "mitdb", 0)}
    frame, text = nodes.ranking({}, {"ce_mlp": worst(0.3), "adv_mlp": worst(0.6)}, model_runs=RUNS,
                                dimensions=dimensions)
    assert frame["defense"].tolist() == ["adv", "CE"] and frame["rank"].tolist() == [1, 2]
    # no per-beat outcomes stored: ranked by the means, the comparison says why it is absent
    assert frame.iloc[0]["next verdict"].startswith("no paired comparison: per-beat outcomes not stored")
    assert "| 1 | adv | 0 | 0.600 |" in text and "| 2 | CE | 0 | 0.300 |" in text


def test_the_ranking_is_stored_and_the_page_reads_it_with_the_benchmark_table(pipelines):
    import yaml
    from pathlib import Path

    ranking = next(n for n in pipelines["report"].nodes if n.name == "report.ranking")
    assert ranking.outputs == ["report.ranking", "report.ranking_md"]
    assert {"report.worst_cases", "params:report"} <= set(ranking.inputs)
    func = ranking.func
    while "dimensions" not in func.keywords:   # bound twice: its dimensions, then the report's model runs
        func = func.func
    assert func.keywords["dimensions"]["ce_mlp"].block == "ce_mlp"     # the declaration's blocks, splits, seeds
    page = next(n for n in pipelines["report"].nodes if n.name == "report.html")
    assert {"report.benchmark_table", "report.ranking"} <= set(page.inputs)
    catalog = yaml.safe_load((Path(__file__).parents[2] / "conf/base/catalog_report.yml").read_text())
    assert catalog["report.ranking"]["versioned"] and catalog["report.ranking"]["type"] == "pandas.CSVDataset"
    assert catalog["report.ranking_md"]["filepath"].endswith("report/ranking.md")


def test_a_worst_case_without_the_suite_is_left_out_of_the_table_and_the_ranking(caplog):
    runs = tuple(ModelRun(run, label, "mitdb", "MIT-BIH", "mlp", ("autoattack", "sap"), "kedro run",
                          reference="autoattack") for run, label in (("ce_mlp", "CE"), ("adv_mlp", "adv")))
    dimensions = {"ce_mlp": RunDimensions("ce_mlp", "CE", "ce", "mlp", "random", "mitdb", 0),
                  "adv_mlp": RunDimensions("adv_mlp", "adv", "adversarial", "mlp", "random", "mitdb", 0)}
    cases = {"ce_mlp": {**worst(0.3), "attacks": ["sap", "autoattack"]},
             "adv_mlp": {**worst(0.8), "attacks": ["sap", "white_noise"]}}   # SAP alone: far too kind a "worst case"
    frame, _ = nodes.ranking({}, cases, model_runs=runs, dimensions=dimensions)
    assert frame["defense"].tolist() == ["CE"]
    assert "adv_mlp's worst case lacks autoattack" in caplog.text
    table, _ = nodes.benchmark_table({}, cases, {}, {}, {}, model_runs=runs, dimensions=dimensions)
    assert table["defense"].tolist() == ["CE"]
