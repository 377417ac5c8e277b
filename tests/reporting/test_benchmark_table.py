"""The benchmark table (reporting/table.py): rows per defense x model x split over seeds, paired against CE."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy, robustness_intervals
from ecg_pipeline.evaluation.metrics import robust_score
from ecg_pipeline.evaluation.paired import mcnemar_table, seed_summary
from ecg_pipeline.reporting.table import (EVALUATION_COLUMNS, RunDimensions, decode_outcomes, encode_outcomes,
                                         evaluation_cells, markdown, table)

GRID, EPS_MAX = [0.0, 0.05, 0.1], 0.1
BOOT = Bootstrap(resamples=200, seed=7)
Y = np.repeat([0, 1, 2], [60, 40, 20])
BEATS = np.arange(200, 200 + Y.size)


def case(correct: np.ndarray, per_beat: bool = True) -> dict:
    """A stored worst case as reporting.worst_cases writes it (the fields the table reads)."""
    curve = [{"eps": e, "balanced_accuracy": float(balanced_accuracy(Y, correct[g]))} for g, e in enumerate(GRID)]
    found = robustness_intervals(Y, correct, GRID, BOOT, EPS_MAX)
    result = {"grid": GRID, "eps_max": EPS_MAX, "n": int(Y.size), "curve": curve,
              "acc_robust_balanced": robust_score(GRID, [r["balanced_accuracy"] for r in curve], EPS_MAX)["robust"],
              "intervals": {"curve": [i.as_dict() for i in found["curve"]], "acc_robust": found["acc_robust"].as_dict()}}
    if per_beat:
        result["per_beat"] = encode_outcomes(BEATS, Y, correct)
    return result


def outcomes(rng, rates) -> np.ndarray:
    """Monotone per-beat outcomes: a beat broken at eps stays broken at larger eps."""
    draws = rng.random(Y.size)
    return np.stack([draws < r for r in rates])


@pytest.fixture
def study():
    rng = np.random.default_rng(11)
    cases, dims = {}, {}
    for seed in (0, 1, 2):
        suffix = "" if seed == 0 else f"_s{seed}"
        ce = outcomes(rng, [0.95, 0.5, 0.2])
        nsr = ce | outcomes(rng, [0.0, 0.3, 0.3])        # NSR keeps every beat CE keeps, and more under attack
        cases[f"ce_mlp{suffix}"], cases[f"nsr_mlp{suffix}"] = case(ce), case(nsr)
        dims[f"ce_mlp{suffix}"] = RunDimensions("ce_mlp", "CE", "ce", "mlp", "random", "mitdb", seed)
        dims[f"nsr_mlp{suffix}"] = RunDimensions("nsr_mlp", "0.4NSR", "nsr", "mlp", "random", "mitdb", seed)
    cases["nsr_mlp_ip"] = case(outcomes(rng, [0.8, 0.4, 0.2]))
    dims["nsr_mlp_ip"] = RunDimensions("nsr_mlp", "0.4NSR", "nsr", "mlp", "inter_patient", "mitdb_ip", 0)
    return cases, dims


def test_outcomes_round_trip():
    correct = np.array([[1, 0, 1], [0, 0, 1]], dtype=bool)
    beats, y, back = decode_outcomes(encode_outcomes([4, 2, 9], [0, 1, 1], correct))
    assert beats.tolist() == [4, 2, 9] and y.tolist() == [0, 1, 1] and np.array_equal(back, correct)


def test_one_row_per_block_and_split_with_the_mean_over_seeds(study):
    cases, dims = study
    frame = table(cases, dims, BOOT)
    assert [(r.block, r.split, r["n seeds"]) for _, r in frame.iterrows()] == [
        ("ce_mlp", "random", 3), ("nsr_mlp", "random", 3), ("nsr_mlp", "inter_patient", 1)]
    nsr = frame.iloc[1]
    values = [cases[r]["acc_robust_balanced"] for r in ("nsr_mlp", "nsr_mlp_s1", "nsr_mlp_s2")]
    expected = seed_summary(values, 0.95)
    assert nsr["worst-case ACC_robust"] == pytest.approx(np.mean(values))
    assert (nsr["worst-case ACC_robust low"], nsr["worst-case ACC_robust high"]) == pytest.approx((expected.low, expected.high))
    assert nsr["interval"].startswith("t over 3 seeds") and nsr["seeds"] == "0 1 2"
    # one seed: the run's own bootstrap interval over beats
    ip = frame.iloc[2]
    stored = cases["nsr_mlp_ip"]["intervals"]["acc_robust"]
    assert (ip["worst-case ACC_robust low"], ip["worst-case ACC_robust high"]) == (stored["low"], stored["high"])
    assert ip["interval"].startswith("stratified bootstrap")
    assert pd_isna(ip["ACC_robust minus reference"]) and pd_isna(ip["reference"])   # no CE on that split


def test_the_comparison_pairs_seeds_and_agrees_with_the_per_pair_numbers(study):
    cases, dims = study
    nsr = table(cases, dims, BOOT).iloc[1]
    differences = [cases[f"nsr_mlp{s}"]["acc_robust_balanced"] - cases[f"ce_mlp{s}"]["acc_robust_balanced"]
                   for s in ("", "_s1", "_s2")]
    assert nsr["reference"] == "ce_mlp" and nsr["pairs"] == 3
    assert nsr["ACC_robust minus reference"] == pytest.approx(np.mean(differences))
    assert nsr["difference low"] > 0          # NSR keeps every beat CE keeps and more: better on every seed
    ps = []
    for s in ("", "_s1", "_s2"):
        a, b = (decode_outcomes(cases[f"{r}{s}"]["per_beat"])[2][-1] for r in ("nsr_mlp", "ce_mlp"))
        ps.append(mcnemar_table(a, b).p_value)
    assert nsr["McNemar p at eps_max"] == pytest.approx(max(ps)) and max(ps) < 1e-3
    assert frame_row_is_empty(table(cases, dims, BOOT).iloc[0])   # CE is not compared with itself


def test_one_seed_pair_uses_the_paired_bootstrap(study):
    cases, dims = study
    keep = {r: d for r, d in dims.items() if d.seed == 0}
    nsr = table(cases, keep, BOOT).iloc[1]
    known = cases["nsr_mlp"]["acc_robust_balanced"] - cases["ce_mlp"]["acc_robust_balanced"]
    assert nsr["ACC_robust minus reference"] == pytest.approx(known)
    assert nsr["difference low"] <= known <= nsr["difference high"]
    assert nsr["difference interval"].startswith(f"paired stratified bootstrap over {Y.size} beats")


def test_without_per_beat_outcomes_the_row_says_so(study):
    cases, dims = study
    cases = {r: {k: v for k, v in c.items() if k != "per_beat"} for r, c in cases.items()}
    nsr = table(cases, dims, BOOT).iloc[1]
    assert "per-beat outcomes not stored" in nsr["note"] and pd_isna(nsr["ACC_robust minus reference"])
    assert "| 0.4NSR | mlp | random | 3 |" in markdown(table(cases, dims, BOOT))


def pd_isna(value) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def frame_row_is_empty(row) -> bool:
    return all(pd_isna(row[c]) for c in ("ACC_robust minus reference", "McNemar p at eps_max"))


# ---- the other evaluations (issue 28 item 6): SAP, white noise, record-level noise, certified ----

def stored_evaluations(sap: float, white: float, noise: dict[float, float], certified: float, at_001: float) -> dict:
    """Loaded metrics of one run, in the stored files' shapes (only the fields the table reads, plus a distractor)."""
    return {"sap": {"grid_param": "eps", "eps_max": 0.1, "acc_robust_balanced": sap, "acc_robust": sap - 0.01},
            "white_noise": {"grid_param": "eps", "eps_max": 0.1, "acc_robust_balanced": white},
            "record_noise": {"curve": [{"condition": "clean", "snr_db": None, "balanced_accuracy": 0.99},
                                       *({"condition": f"em {s:g} dB", "snr_db": s, "balanced_accuracy": b}
                                         for s, b in noise.items())]},
            "certify": {"eps_max": 0.1, "acc_robust_balanced": certified,
                        "curve": [{"eps": 0.0, "balanced_accuracy": 0.95}, {"eps": 0.01, "balanced_accuracy": at_001},
                                  {"eps": 0.03, "balanced_accuracy": 0.1}]}}


def test_evaluation_cells_read_each_stored_schema():
    cells = evaluation_cells(**stored_evaluations(0.8, 0.9, {24.0: 0.97, 12.0: 0.84, 6.0: 0.75, 0.0: 0.69}, 0.44, 0.87))
    assert cells == {"SAP ACC_robust": 0.8, "white noise ACC_robust": 0.9, "record noise 12 dB": 0.84,
                     "record noise 0 dB": 0.69, "certified ACC_robust": 0.44, "certified at eps 0.01": 0.87}
    # nothing stored: no cell; a noise curve without 0 dB and a certify grid without 0.01: those cells absent only
    assert evaluation_cells() == {}
    partial = stored_evaluations(0.8, 0.9, {12.0: 0.84}, 0.44, 0.87)
    partial["certify"]["curve"] = [{"eps": 0.0, "balanced_accuracy": 0.95}, {"eps": 0.05, "balanced_accuracy": 0.0}]
    assert set(evaluation_cells(record_noise=partial["record_noise"], certify=partial["certify"])) == {
        "record noise 12 dB", "certified ACC_robust"}


def test_the_other_evaluations_are_means_over_the_rows_seeds(study):
    cases, dims = study
    evaluations = {
        "ce_mlp": evaluation_cells(**stored_evaluations(0.50, 0.87, {12.0: 0.80, 0.0: 0.60}, 0.10, 0.70)),
        "ce_mlp_s1": evaluation_cells(**stored_evaluations(0.54, 0.85, {12.0: 0.82, 0.0: 0.66}, 0.20, 0.74)),
        "ce_mlp_s2": evaluation_cells(**stored_evaluations(0.52, 0.89, {12.0: 0.78, 0.0: 0.63}, 0.30, 0.72)),
        # nsr: SAP on seeds 0 and 2 only, nothing else stored; nsr_mlp_ip: nothing at all
        "nsr_mlp": {"SAP ACC_robust": 0.80}, "nsr_mlp_s2": {"SAP ACC_robust": 0.86},
    }
    frame = table(cases, dims, BOOT, evaluations=evaluations)
    ce, nsr, ip = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert ce["SAP ACC_robust"] == pytest.approx(0.52)                 # (0.50 + 0.54 + 0.52) / 3
    assert ce["white noise ACC_robust"] == pytest.approx(0.87)         # (0.87 + 0.85 + 0.89) / 3
    assert ce["record noise 12 dB"] == pytest.approx(0.80)             # (0.80 + 0.82 + 0.78) / 3
    assert ce["record noise 0 dB"] == pytest.approx(0.63)              # (0.60 + 0.66 + 0.63) / 3
    assert ce["certified ACC_robust"] == pytest.approx(0.20)           # (0.10 + 0.20 + 0.30) / 3
    assert ce["certified at eps 0.01"] == pytest.approx(0.72)          # (0.70 + 0.74 + 0.72) / 3
    assert ce["note"] == ""                                            # every seed has every column
    # the mean over the seeds that have it, and the note says which
    assert nsr["SAP ACC_robust"] == pytest.approx(0.83)
    assert "SAP ACC_robust: seeds 0 2 only (2 of 3)" in nsr["note"]
    assert all(pd_isna(nsr[c]) for c in EVALUATION_COLUMNS if c != "SAP ACC_robust")
    assert all(pd_isna(ip[c]) for c in EVALUATION_COLUMNS) and "of 1" not in ip["note"]
    # a run lacking a worst case is no row, whatever else it stores; without evaluations the cells are empty
    assert table(cases, dims, BOOT)[EVALUATION_COLUMNS].isna().all().all()
    assert list(frame.columns[-len(EVALUATION_COLUMNS) - 1:]) == [*EVALUATION_COLUMNS, "note"]


def test_the_markdown_shows_the_stored_evaluations_and_names_the_absent(study):
    cases, dims = study
    evaluations = {"ce_mlp": {"SAP ACC_robust": 0.5, "record noise 12 dB": 0.8},
                   "ce_mlp_s1": {"SAP ACC_robust": 0.54}, "nsr_mlp": {"SAP ACC_robust": 0.8}}
    text = markdown(table(cases, dims, BOOT, evaluations=evaluations))
    assert "| defense | model | split | seeds | SAP ACC_robust | record noise 12 dB | note |" in text
    assert "| CE | mlp | random | 3 | 0.520 | 0.800 | SAP ACC_robust: seeds 0 1 only (2 of 3); " \
           "record noise 12 dB: seed 0 only (1 of 3) |" in text
    assert "| 0.4NSR | mlp | inter_patient | 1 |  |  |" in text
    assert ("Not stored for any row: white noise ACC_robust, record noise 0 dB, certified ACC_robust, "
            "certified at eps 0.01.") in text
    assert "| defense | model | split | seeds | clean |" in text           # the first table is unchanged
    bare = markdown(table(cases, dims, BOOT))
    assert "| SAP ACC_robust |" not in bare and "Not stored for any row: SAP ACC_robust, white noise" in bare
