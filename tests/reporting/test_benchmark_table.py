"""The benchmark table (reporting/table.py): rows per defense x model x split over seeds, paired against CE."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy, robustness_intervals
from ecg_pipeline.evaluation.metrics import robust_score
from ecg_pipeline.evaluation.paired import mcnemar_table, seed_summary
from ecg_pipeline.reporting.table import (EVALUATION_COLUMNS, EVALUATION_CSV_COLUMNS, RunDimensions, decode_outcomes, encode_outcomes,
                                         evaluation_cells, markdown, ranking, ranking_markdown, split_verdict, table,
                                         verdict)

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


def test_a_variant_of_the_reference_family_declared_later_does_not_become_the_reference(study):
    cases, dims = study
    rng = np.random.default_rng(5)
    cases["ce_mlp_renorm"] = case(outcomes(rng, [0.95, 0.7, 0.4]))
    dims["ce_mlp_renorm"] = RunDimensions("ce_mlp_renorm", "CE (row renorm)", "ce", "mlp", "random", "mitdb", 0)
    frame = table(cases, dims, BOOT)
    frame = frame[frame.split == "random"].set_index("block")
    assert frame_row_is_empty(frame.loc["ce_mlp"])                       # CE is the reference, not compared
    assert frame.loc["nsr_mlp", "reference"] == "ce_mlp" and frame.loc["nsr_mlp", "pairs"] == 3
    assert frame.loc["ce_mlp_renorm", "reference"] == "ce_mlp"           # the variant is compared with CE
    assert frame.loc["ce_mlp_renorm", "ACC_robust minus reference"] == pytest.approx(
        cases["ce_mlp_renorm"]["acc_robust_balanced"] - cases["ce_mlp"]["acc_robust_balanced"])


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
    # each column with its interval and its difference from the reference, then the note
    assert list(frame.columns[-len(EVALUATION_CSV_COLUMNS) - 1:]) == [*EVALUATION_CSV_COLUMNS, "note"]
    assert EVALUATION_CSV_COLUMNS[:7] == ["SAP ACC_robust", "SAP ACC_robust low", "SAP ACC_robust high",
                                          "SAP ACC_robust minus reference", "SAP ACC_robust minus reference low",
                                          "SAP ACC_robust minus reference high",
                                          "SAP ACC_robust minus reference McNemar p"]


def test_the_markdown_shows_the_stored_evaluations_and_names_the_absent(study):
    cases, dims = study
    evaluations = {"ce_mlp": {"SAP ACC_robust": 0.5, "record noise 12 dB": 0.8},
                   "ce_mlp_s1": {"SAP ACC_robust": 0.54}, "nsr_mlp": {"SAP ACC_robust": 0.8}}
    text = markdown(table(cases, dims, BOOT, evaluations=evaluations))
    assert "| defense | model | split | seeds | SAP ACC_robust | record noise 12 dB | note |" in text
    sap = seed_summary([0.5, 0.54])     # two seeds: the t-interval; one seed without outcomes: no interval, a note
    assert f"| CE | mlp | random | 3 | 0.520 [{sap.low:.3f}, {sap.high:.3f}] | 0.800 | SAP ACC_robust: seeds 0 1 " \
           "only (2 of 3); record noise 12 dB: seed 0 only (1 of 3); no interval (per-beat outcomes not stored): " \
           "record noise 12 dB |" in text
    assert "| 0.4NSR | mlp | inter_patient | 1 |  |  |" in text
    assert ("Not stored for any row: white noise ACC_robust, record noise 0 dB, certified ACC_robust, "
            "certified at eps 0.01.") in text
    assert "| defense | model | split | seeds | clean |" in text           # the first table is unchanged
    bare = markdown(table(cases, dims, BOOT))
    assert "| SAP ACC_robust |" not in bare and "Not stored for any row: SAP ACC_robust, white noise" in bare


# ---- the ranking of defenses (issue 28 item 2) ----

def holding(keep) -> np.ndarray:
    """correct[g, i] for a beat kept clean and, where ``keep(i)``, at every eps (else broken from the first eps)."""
    broken_at = np.array([len(GRID) if keep(i) else 1 for i in range(Y.size)])
    return np.arange(len(GRID))[:, None] < broken_at[None, :]


STRONG = holding(lambda i: i % 5 != 0)                        # 80% of every class kept
# STRONG with 3 kept beats of class 0 broken and 2 broken ones kept: 5 discordant beats, a net loss of one
NEAR = STRONG.copy()
NEAR[1:, [1, 2, 3]], NEAR[1:, [0, 5]] = False, True
WEAK = holding(lambda i: i % 5 in (1, 2))                      # 40% kept
MIDDLE = holding(lambda i: i % 5 in (1, 2, 3))                 # 60% kept


def ranked_study(with_extra: bool = False) -> tuple[dict, dict]:
    """Blocks declared weak first. Random split: strong > near (not resolved) > weak; inter-patient: near > strong >
    weak, each resolved. ``with_extra``: a block on the random split only, between strong and weak."""
    cases, dims = {}, {}
    for block, defense, random, inter in (("weak_mlp", "W", WEAK, WEAK), ("strong_mlp", "S", STRONG, MIDDLE),
                                          ("near_mlp", "N", NEAR, STRONG)):
        cases[block], cases[f"{block}_ip"] = case(random), case(inter)
        dims[block] = RunDimensions(block, defense, "x", "mlp", "random", "mitdb", 0)
        dims[f"{block}_ip"] = RunDimensions(block, defense, "x", "mlp", "inter_patient", "mitdb_ip", 0)
    if with_extra:
        cases["extra_mlp"] = case(MIDDLE)
        dims["extra_mlp"] = RunDimensions("extra_mlp", "E", "x", "mlp", "random", "mitdb", 0)
    return cases, dims


def test_the_ranking_orders_by_acc_robust_and_says_which_neighbours_are_resolved():
    cases, dims = ranked_study()
    frame = ranking(cases, dims, BOOT)
    random = frame[frame.split == "random"].set_index("block")
    assert random.index.tolist() == ["strong_mlp", "near_mlp", "weak_mlp"] and random["rank"].tolist() == [1, 2, 3]
    robust = {b: cases[b]["acc_robust_balanced"] for b in ("strong_mlp", "near_mlp", "weak_mlp")}
    strong, near, weak = random.loc["strong_mlp"], random.loc["near_mlp"], random.loc["weak_mlp"]
    # one seed: the paired bootstrap over the same beats; the estimate is the exact difference, upper minus lower
    assert strong["next"] == "N"
    assert strong["minus next difference"] == pytest.approx(robust["strong_mlp"] - robust["near_mlp"])
    assert 0 < strong["minus next difference"] < 0.02
    assert strong["next low"] <= 0 <= strong["next high"] and strong["next verdict"] == "not resolved"
    assert strong["next interval"].startswith(f"paired stratified bootstrap over {Y.size} beats")
    assert strong["next McNemar p"] == pytest.approx(mcnemar_table(STRONG[-1], NEAR[-1]).p_value)  # 3 vs 2: p = 1
    assert near["next"] == "W" and near["minus next difference"] > 0.1 and near["next low"] > 0
    assert near["next verdict"] == "resolved" and near["next McNemar p"] < 1e-6
    assert pd_isna(weak["next"]) and pd_isna(weak["minus next difference"])
    # every defense against the best: negative, resolved only where it is clearly worse; the best has none
    assert pd_isna(strong["best"]) and near["best"] == "S" and weak["best"] == "S"
    assert near["minus best difference"] == pytest.approx(-strong["minus next difference"])
    assert near["best verdict"] == "not resolved" and near["best low"] < 0 < near["best high"]
    assert weak["minus best difference"] == pytest.approx(robust["weak_mlp"] - robust["strong_mlp"])
    assert weak["best high"] < 0 and weak["best verdict"] == "resolved"
    text = ranking_markdown(frame)
    assert "### mlp, random split (mitdb)" in text and "| 1 | S | 0 |" in text and "**not resolved**" in text


def test_split_ranks_say_whether_the_order_changes_and_whether_that_is_resolved():
    cases, dims = ranked_study(with_extra=True)
    frame = ranking(cases, dims, BOOT)
    assert list(frame.columns[3:6]) == ["rank", "rank (random)", "rank (inter_patient)"]
    by = {(r.split, r.block): r for _, r in frame.iterrows()}
    # the extra block is ranked on its split, but split ranks are among the blocks on both splits
    assert by[("random", "extra_mlp")]["rank"] == 3 and by[("random", "weak_mlp")]["rank"] == 4
    extra = by[("random", "extra_mlp")]
    assert pd_isna(extra["rank (random)"]) and "not on every split" in extra["note"]
    ranks = {b: (by[("random", b)]["rank (random)"], by[("random", b)]["rank (inter_patient)"])
             for b in ("strong_mlp", "near_mlp", "weak_mlp")}
    assert ranks == {"strong_mlp": (1, 2), "near_mlp": (2, 1), "weak_mlp": (3, 3)}
    assert all(by[("inter_patient", b)]["rank (inter_patient)"] == ranks[b][1] for b in ranks)
    # the swap: not resolved on the random split, resolved (and the other way round) on the inter-patient one
    change = by[("random", "strong_mlp")]["split change"]
    assert change.startswith("vs N: +0.0") and change.endswith("not resolved")
    change = by[("inter_patient", "strong_mlp")]["split change"]
    assert change.startswith("vs N: -0.") and change.endswith(" resolved") and "not resolved" not in change
    assert by[("random", "weak_mlp")]["split change"] == "same order against every other block"
    text = ranking_markdown(frame)
    assert "### Does the ranking change between splits?" in text
    assert "| mlp | S | 1 | 2 | random | vs N: +0.0" in text
    # resolved on the inter-patient split but not on the random one: not a resolved change of the order
    assert "mlp: the order differs between splits only within the intervals (N and S: not resolved" in text
    # the verdict is carried as data on every row of the model, not read back from the text
    assert set(frame["split verdict"]) == {frame["split verdict"].iloc[0]}
    assert frame["split verdict"].iloc[0].startswith("the order differs between splits only within the intervals")
    # resolved on both splits (each block's row says so): a change; resolved on one only: none
    assert split_verdict({frozenset("NS"): [True, True, True, True]}).startswith(
        "the order changes between splits, resolved on every split: N and S")
    assert "no resolved change" in split_verdict({frozenset("NS"): [True, True, False, False]})
    # the same order on both splits is said so
    same = {r: c for r, c in cases.items()}
    same["near_mlp_ip"] = case(NEAR)
    same["strong_mlp_ip"] = case(STRONG)
    assert "mlp: the same order on every split." in ranking_markdown(ranking(same, dims, BOOT))


def test_the_ranking_pairs_seeds_with_the_t_interval(study):
    cases, dims = study
    frame = ranking(cases, dims, BOOT)
    nsr, ce = frame.iloc[0], frame.iloc[1]
    assert (nsr["block"], nsr["split"], ce["block"]) == ("nsr_mlp", "random", "ce_mlp")
    differences = [cases[f"nsr_mlp{s}"]["acc_robust_balanced"] - cases[f"ce_mlp{s}"]["acc_robust_balanced"]
                   for s in ("", "_s1", "_s2")]
    expected = seed_summary(differences, 0.95)
    assert nsr["minus next difference"] == pytest.approx(expected.mean)
    assert (nsr["next low"], nsr["next high"]) == pytest.approx((expected.low, expected.high))
    assert nsr["next interval"].startswith("t over 3 seed pairs") and nsr["next verdict"] == "resolved"
    # the same as the benchmark table's comparison against CE
    against = table(cases, dims, BOOT).iloc[1]
    assert nsr["minus next difference"] == pytest.approx(against["ACC_robust minus reference"])
    assert nsr["next McNemar p"] == pytest.approx(against["McNemar p at eps_max"])
    # CE is on one split only: no split rank, and the note says so; without per-beat outcomes, the verdict says why
    assert pd_isna(ce["rank (random)"]) and "not on every split" in ce["note"]
    bare = {r: {k: v for k, v in c.items() if k != "per_beat"} for r, c in cases.items()}
    assert ranking(bare, dims, BOOT).iloc[0]["next verdict"].startswith("no paired comparison: per-beat outcomes")


def test_a_block_without_acc_robust_is_unranked_and_verdicts_read_intervals():
    cases, dims = ranked_study()
    cases["near_mlp"] = {**cases["near_mlp"], "acc_robust_balanced": None}
    random = ranking(cases, dims, BOOT).query("split == 'random'")
    assert random["block"].tolist() == ["strong_mlp", "weak_mlp", "near_mlp"]
    assert pd_isna(random.iloc[2]["rank"]) and "unranked" in random.iloc[2]["note"]
    assert (verdict(0.01, 0.2), verdict(-0.2, -0.01), verdict(-0.01, 0.2), verdict(0.0, 0.1), verdict(None, 0.1)) == (
        "resolved", "resolved", "not resolved", "not resolved", "not resolved")
