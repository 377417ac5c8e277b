"""The stored-intervals tool gives, for the same per-beat outcomes, exactly the intervals the report gives (same
function, same settings), reads both stored layouts, and refuses an evaluation stored without its outcomes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.evaluation.metrics import classification_metrics, robust_score
from ecg_pipeline.evaluation.worst_case import Outcomes, certified_metrics
from ecg_pipeline.reporting import headline
from ecg_pipeline.reporting.spec import ModelRun, ReportSpec
from ecg_pipeline.reporting.stored_intervals import (Evaluation, bootstrap_settings, certified_intervals,
                                                     evaluation_intervals, main, worst_case_intervals)
from ecg_pipeline.reporting.worst_cases import worst_cases

GRID = [0.0, 0.01, 0.03, 0.1]
CLASSES = ["N", "S", "V"]
VERSION = "2026-12-07T08.00.00.000Z"
BOOTSTRAP = Bootstrap(resamples=400, seed=20261207, level=0.95)


def _outcomes(seed: int) -> dict[str, np.ndarray]:
    """60 beats (30 N, 20 S, 10 V); a beat broken at one eps stays broken above it, clean-wrong beats wrong."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], [30, 20, 10])
    broken_from = rng.integers(0, len(GRID) + 1, size=y.size)       # len(GRID): never broken
    pred = np.where(np.arange(len(GRID))[:, None] >= broken_from[None, :], (y + 1) % 3, y)
    return {"grid": np.array(GRID), "subset": np.arange(100, 160), "subset_y": y.astype(np.int16),
            "pred": pred.astype(np.int16)}


def _metrics(attack: str, examples: dict) -> dict:
    y, pred = examples["subset_y"], examples["pred"]
    curve = [{"eps": e, "balanced_accuracy": classification_metrics(y, p, 3, CLASSES)["balanced_accuracy"]}
             for e, p in zip(GRID, pred)]
    return {"attack": attack, "grid_param": "eps", "grid": GRID, "classes": CLASSES, "eps_max": 0.1, "curve": curve,
            "acc_robust_balanced": robust_score(GRID, [p["balanced_accuracy"] for p in curve], 0.1)["robust"],
            "model": {"run": "ce", "fingerprint": "m"}, "flags": []}


ATTACKS = {"autoattack": _outcomes(1), "pgd": _outcomes(2)}


def _evaluations() -> dict[str, Evaluation]:
    return {a: Evaluation(f"ce.{a}", VERSION, _metrics(a, ex), Outcomes.from_examples(ex), None)
            for a, ex in ATTACKS.items()}


def _report_worst_case() -> dict:
    """What the report's worst_cases node stores for the same outcomes, with the same bootstrap settings."""
    run = ModelRun("ce", "CE", "mitdb", "MIT-BIH", "mlp", tuple(ATTACKS), "kedro run", reference="autoattack")
    spec = ReportSpec(groups=(), attacks=tuple(ATTACKS), model_runs=(run,))
    stored = {f"ce.{a}": StoredArtifact(f"{a}.json", VERSION, True, _metrics(a, ex)) for a, ex in ATTACKS.items()}
    shown = {f"ce.{a}": StoredArtifact(f"{a}.npz", VERSION, True, ex) for a, ex in ATTACKS.items()}
    return worst_cases(spec, stored, shown, BOOTSTRAP)["ce"]


def test_the_worst_case_interval_equals_the_reports_for_the_same_outcomes():
    report = _report_worst_case()
    found = worst_case_intervals(_evaluations(), BOOTSTRAP)
    assert found["n"] == report["n"] == 60
    assert found["acc_robust"].as_dict() == report["intervals"]["acc_robust"]
    assert [i.as_dict() | {"eps": e} for i, e in zip(found["curve"], GRID)] == report["intervals"]["curve"]
    row = headline.table({"ce": report}).iloc[0]
    assert (found["curve"][0].low, found["curve"][0].high) == (row["clean low"], row["clean high"])
    assert (found["acc_robust"].low, found["acc_robust"].high) == (row["worst-case ACC_robust low"],
                                                                   row["worst-case ACC_robust high"])
    assert found["acc_robust"].low < found["acc_robust"].estimate < found["acc_robust"].high


def test_one_attacks_interval_is_the_reports_worst_case_of_that_attack_alone():
    """With monotone outcomes an attack alone is its own worst case: the report's interval of it is the tool's."""
    (name, evaluation), = list(_evaluations().items())[:1]
    alone = worst_case_intervals({name: evaluation}, BOOTSTRAP)
    found = evaluation_intervals(evaluation, BOOTSTRAP)
    assert found["acc_robust"] == alone["acc_robust"] and found["curve"] == alone["curve"]
    assert found["acc_robust"].estimate == pytest.approx(found["stored_acc_robust"], abs=1e-12)


def test_the_certified_interval_is_around_the_certified_number_the_report_stores():
    examples = ATTACKS["pgd"]
    record = {"run": "ce", "grid": GRID, "classes": CLASSES, "eps_max": 0.1,
              "curve": [{"certified": 0} for _ in GRID]}
    stored = certified_metrics(record, examples)
    found = certified_intervals(Evaluation("ce.certify", VERSION, stored, Outcomes.from_examples(examples), None),
                                BOOTSTRAP)
    assert found["acc_robust"].estimate == pytest.approx(stored["acc_robust_balanced"], abs=1e-12)
    assert found["acc_robust"].low < stored["acc_robust_balanced"] < found["acc_robust"].high


def _project(tmp_path, *, with_examples: bool = True, drop: str | None = None):
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base" / "parameters_report.yml").write_text(
        "report:\n  bootstrap: {resamples: 400, seed: 20261207, level: 0.95}\n")
    (conf / "other").mkdir()
    (conf / "other" / "parameters_report.yml").write_text("report:\n  bootstrap: {resamples: 300}\n")
    for attack, examples in ATTACKS.items():
        metrics = tmp_path / "data/08_reporting/attacks/ce" / f"{attack}.json" / VERSION
        metrics.mkdir(parents=True)
        (metrics / f"{attack}.json").write_text(json.dumps(_metrics(attack, examples)))
        if with_examples:
            folder = tmp_path / "data/07_model_output/adversarial/ce" / f"{attack}.npz" / VERSION
            folder.mkdir(parents=True)
            np.savez(folder / f"{attack}.npz", **{k: v for k, v in examples.items() if k != drop})
    return tmp_path


def test_the_command_prints_the_reports_intervals_from_a_stored_project(tmp_path, capsys):
    root = _project(tmp_path)
    assert bootstrap_settings(root) == BOOTSTRAP
    assert bootstrap_settings(root, "other") == Bootstrap(300, 20261207, 0.95)
    assert main([str(root), "ce"]) == 0
    printed = capsys.readouterr().out
    report = _report_worst_case()["intervals"]["acc_robust"]
    worst = printed.split("worst case over autoattack, pgd")[1]
    expected = f"{report['estimate']:.3f} [{report['low']:.3f}, {report['high']:.3f}]"
    assert f"ACC_robust (balanced, eq. 8)      {expected}" in worst
    assert "ce.pgd (2026-12-07T08.00.00.000Z)" in printed and "DIFFERS" not in printed


def test_an_evaluation_stored_without_its_per_beat_outcomes_is_refused_naming_the_file(tmp_path, capsys):
    root = _project(tmp_path, with_examples=False)
    assert main([str(root), "ce", "pgd"]) == 2
    said = capsys.readouterr().err
    assert "ce.pgd: the per-beat outcomes are not stored" in said
    assert f"data/07_model_output/adversarial/ce/pgd.npz/{VERSION}/pgd.npz" in said


def test_outcomes_stored_without_predictions_are_refused_naming_the_file(tmp_path, capsys):
    root = _project(tmp_path, drop="pred")
    assert main([str(root), "ce", "autoattack"]) == 2
    said = capsys.readouterr().err
    assert f"autoattack.npz/{VERSION}/autoattack.npz" in said and "['pred']" in said


def test_without_bootstrap_settings_it_refuses_before_reading_any_evaluation(tmp_path):
    with pytest.raises(EcgDataError, match="report.bootstrap"):
        bootstrap_settings(tmp_path)


def test_a_noise_curve_gets_intervals_per_snr_and_stays_out_of_the_worst_case():
    noise = dict(ATTACKS["pgd"], grid=np.array([24.0, 12.0, 6.0, 0.0]))
    metrics = dict(_metrics("real_noise_em", noise), grid_param="snr_db", grid=[24.0, 12.0, 6.0, 0.0])
    del metrics["eps_max"], metrics["acc_robust_balanced"]
    curve = Evaluation("ce.real_noise_em", VERSION, metrics, Outcomes.from_examples(noise), None)
    found = evaluation_intervals(curve, BOOTSTRAP)
    assert found["acc_robust"] is None and found["grid_param"] == "snr_db"
    assert [i.estimate for i in found["curve"]] == pytest.approx(found["stored_curve"], abs=1e-12)
    with_noise = worst_case_intervals({**_evaluations(), "real_noise_em": curve}, BOOTSTRAP)
    assert with_noise["acc_robust"] == worst_case_intervals(_evaluations(), BOOTSTRAP)["acc_robust"]
    assert with_noise["name"] == "worst case over autoattack, pgd"


def test_an_own_model_judgement_is_read_from_its_one_outcomes_file(tmp_path, capsys):
    root = _project(tmp_path, with_examples=False)
    metrics = root / "data/08_reporting/own_model/mitdb_test/metrics.json" / VERSION
    outcomes = root / "data/07_model_output/own_model/mitdb_test/outcomes.npz" / VERSION
    metrics.mkdir(parents=True), outcomes.mkdir(parents=True)
    (metrics / "metrics.json").write_text(json.dumps(
        {"run": "mine", "evaluations": {a: _metrics(a, ex) for a, ex in ATTACKS.items()}}))
    arrays = {"grid": np.array(GRID), "subset_y": ATTACKS["pgd"]["subset_y"]}
    for a, ex in ATTACKS.items():
        arrays.update({f"pred_{a}": ex["pred"], f"subset_{a}": ex["subset"], f"grid_{a}": ex["grid"]})
    np.savez(outcomes / "outcomes.npz", **arrays)
    assert main([str(root), "mitdb_test", "--own-model"]) == 0
    report = _report_worst_case()["intervals"]["acc_robust"]
    worst = capsys.readouterr().out.split("worst case over autoattack, pgd")[1]
    assert f"{report['estimate']:.3f} [{report['low']:.3f}, {report['high']:.3f}]" in worst
    del arrays["pred_pgd"]
    np.savez(outcomes / "outcomes.npz", **arrays)
    assert main([str(root), "mitdb_test", "--own-model"]) == 2
    assert "no per-beat outcomes of 'pgd'" in capsys.readouterr().err


def test_a_stored_reports_worst_case_is_rescored_to_the_intervals_it_stored(tmp_path, capsys):
    root = _project(tmp_path, with_examples=False)
    report = _report_worst_case()
    folder = root / "data/08_reporting/report/worst_cases.json" / VERSION
    folder.mkdir(parents=True)
    (folder / "worst_cases.json").write_text(json.dumps({"ce": report, "old": {k: v for k, v in report.items()
                                                                                   if k != "per_beat"}}))
    assert main([str(root), "ce", "--report", VERSION]) == 0
    stored = report["intervals"]["acc_robust"]
    assert f"{stored['estimate']:.3f} [{stored['low']:.3f}, {stored['high']:.3f}]" in capsys.readouterr().out
    assert main([str(root), "old", "--report", VERSION]) == 2
    assert "without its per-beat outcomes" in capsys.readouterr().err
