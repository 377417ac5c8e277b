"""The decorrelated ensemble in the benchmark table and the ranking (issue 28): conf/benchmark_table's declaration
(``ensembles.dec_mlp.splits``) through the report's run dimensions into ``reporting.table``, on synthetic worst
cases (fast tier, in memory: no data, no training)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy, robustness_intervals
from ecg_pipeline.evaluation.metrics import robust_score
from ecg_pipeline.reporting.table import (CERTIFIED, RECORD_NOISE, SAP, WHITE_NOISE, encode_outcomes,
                                         evaluation_cells, markdown, ranking, table)

GRID, EPS_MAX = [0.0, 0.05, 0.1], 0.1
BOOT = Bootstrap(resamples=200, seed=3)
Y = np.repeat([0, 1, 2], [60, 40, 20])
BEATS = np.arange(Y.size)


def case(correct: np.ndarray) -> dict:
    """A stored worst case in the fields the table reads (reporting.worst_cases' form)."""
    curve = [{"eps": e, "balanced_accuracy": float(balanced_accuracy(Y, correct[g]))} for g, e in enumerate(GRID)]
    found = robustness_intervals(Y, correct, GRID, BOOT, EPS_MAX)
    return {"grid": GRID, "eps_max": EPS_MAX, "n": int(Y.size), "curve": curve,
            "acc_robust_balanced": robust_score(GRID, [r["balanced_accuracy"] for r in curve], EPS_MAX)["robust"],
            "intervals": {"curve": [i.as_dict() for i in found["curve"]], "acc_robust": found["acc_robust"].as_dict()},
            "per_beat": encode_outcomes(BEATS, Y, correct)}


def outcomes(rng, rates) -> np.ndarray:
    draws = rng.random(Y.size)
    return np.stack([draws < r for r in rates])


@pytest.fixture(scope="module")
def dimensions(project_root):
    """The main study's run dimensions of conf/benchmark_table, as the report binds them."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.pipelines.declaration import read_declaration
    from ecg_pipeline.pipelines.report.pipeline import run_dimensions

    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="benchmark_table",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "benchmark_table"})
    declaration = read_declaration(copy.deepcopy(dict(loader["parameters"])))
    return run_dimensions(declaration, declaration.main)


@pytest.fixture
def cases():
    """CE over three seeds on the random split and one on the inter-patient split; the ensemble (CE member 0 and
    two members that keep every beat it keeps, and more under attack) one seed on each split."""
    rng = np.random.default_rng(5)
    found = {}
    for run in ("ce_mlp", "ce_mlp_s1", "ce_mlp_s2", "ce_mlp_ip"):
        found[run] = outcomes(rng, [0.9, 0.45, 0.2])
    found["dec_mlp"] = found["ce_mlp"] | outcomes(rng, [0.0, 0.25, 0.25])
    found["dec_mlp_ip"] = found["ce_mlp_ip"] | outcomes(rng, [0.0, 0.25, 0.25])
    return {run: case(correct) for run, correct in found.items()}


def test_the_ensemble_is_a_defense_of_the_mlp_on_each_split(dimensions):
    own, ip = dimensions["dec_mlp"], dimensions["dec_mlp_ip"]
    assert (own.block, own.defense, own.family, own.model, own.split, own.data, own.seed) == (
        "dec_mlp", "dec ensemble", "ens", "mlp", "random", "mitdb", 0)
    assert (ip.block, ip.defense, ip.family, ip.model, ip.split, ip.data, ip.seed) == (
        "dec_mlp", "dec ensemble", "ens", "mlp", "inter_patient", "mitdb_ip", 0)


def test_an_ensemble_row_enters_the_table_paired_with_ce_of_its_split(dimensions, cases):
    # the ensemble is judged by pgd and autoattack only (family ens): record-level noise is its one other evaluation
    noise = {"curve": [{"snr_db": 12.0, "balanced_accuracy": 0.81}, {"snr_db": 0.0, "balanced_accuracy": 0.52}]}
    cells = {"dec_mlp": evaluation_cells(record_noise=noise),
             "ce_mlp": evaluation_cells(sap={"acc_robust_balanced": 0.5}, white_noise={"acc_robust_balanced": 0.9})}
    frame = table(cases, dimensions, BOOT, evaluations=cells)
    assert [(r["defense"], r["split"], r["n seeds"]) for _, r in frame.iterrows()] == [
        ("CE", "random", 3), ("CE", "inter_patient", 1), ("dec ensemble", "random", 1),
        ("dec ensemble", "inter_patient", 1)]
    for split, ce in (("random", "ce_mlp"), ("inter_patient", "ce_mlp_ip")):
        row = frame[(frame["block"] == "dec_mlp") & (frame["split"] == split)].iloc[0]
        run = "dec_mlp" if split == "random" else "dec_mlp_ip"
        known = cases[run]["acc_robust_balanced"] - cases[ce]["acc_robust_balanced"]
        assert (row["model"], row["family"], row["reference"], row["pairs"]) == ("mlp", "ens", "ce_mlp", 1)
        assert row["worst-case ACC_robust"] == pytest.approx(cases[run]["acc_robust_balanced"])
        assert row["ACC_robust minus reference"] == pytest.approx(known) and known > 0
        assert row["difference low"] > 0   # it keeps every beat its CE member keeps, and more
    own = frame[(frame["block"] == "dec_mlp") & (frame["split"] == "random")].iloc[0]
    assert (own[RECORD_NOISE[0]], own[RECORD_NOISE[1]]) == (0.81, 0.52)
    assert all(pd.isna(own[c]) for c in (SAP, WHITE_NOISE, CERTIFIED))   # not asked of an ensemble: empty cells
    assert "| dec ensemble | mlp | inter_patient | 1 |" in markdown(frame)


def test_the_ensemble_is_ranked_among_the_mlp_defenses_on_both_splits(dimensions, cases):
    frame = ranking(cases, dimensions, BOOT)
    for data in ("mitdb", "mitdb_ip"):
        part = frame[frame["data"] == data]
        assert list(part["defense"]) == ["dec ensemble", "CE"] and list(part["rank"]) == [1, 2]
        assert part.iloc[0]["next"] == "CE" and part.iloc[0]["next verdict"] == "resolved"
    ensemble = frame[frame["block"] == "dec_mlp"]
    assert list(ensemble["rank (random)"]) == [1, 1] and list(ensemble["rank (inter_patient)"]) == [1, 1]
