"""Escalation (evaluation.escalation) on a small MLP trained on real MIT-BIH beats, with a deliberately weak first
run (Square with 10 queries a beat; APGD-CE with 2 steps, which on this smooth model is nearly converged): more
effort adds breaks and never removes one, every added break is a real one (float64, strictly inside the ball and the
bounds, misclassified), accuracy only falls, and it stops by its rule; off by default, where the output is the
attack's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.attacks.apgd import apgd_ce
from ecg_pipeline.attacks.square import square
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgConfigError
from ecg_pipeline.evaluation import AttackSpec, diagnostics, evaluate
from ecg_pipeline.evaluation.escalation import CONVERGED, MAX_DOUBLINGS, Escalation, escalate, in_words, round_seed
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case
from ecg_pipeline.runtime import torch_threads

GRID = [0.0, 0.01, 0.03]
WEAK = {"attack": "apgd", "grid": GRID, "eps_max": 0.03, "bounds": [0, 1], "per_class": 30, "progress": False,
        "num_threads": 1, "params": {"loss": "ce", "steps": 2, "restarts": 1}}
WEAK_SQUARE = {**WEAK, "attack": "square", "params": {"max_queries": 10}}


@pytest.fixture(scope="module")
def real_mlp(trained_mitdb_mlp):
    """The registry's MLP, 3 epochs of Adam on up to 1,500 real beats per class; its test split."""
    model, parts = trained_mitdb_mlp(1500, 3)
    return model, parts["test"]


@pytest.fixture(scope="module")
def weak(real_mlp):
    model, test = real_mlp
    return evaluate(model, test, AttackSpec.from_params(WEAK, "apgd_ce"), name="real.apgd_ce")


@pytest.fixture(scope="module")
def weak_square(real_mlp):
    model, test = real_mlp
    return evaluate(model, test, AttackSpec.from_params(WEAK_SQUARE, "square"), name="real.square")


def test_the_default_is_off_and_the_output_is_the_attacks_own(real_mlp, weak):
    model, test = real_mlp
    metrics, examples = weak
    assert AttackSpec.from_params(WEAK, "apgd_ce").escalation is None and "escalation" not in metrics
    # the stored per-beat outcome is exactly what the configured attack gives (one batch, seed 0 + batch 0)
    x, y, _ = Batches(test).take(examples["subset"])
    with torch.inference_mode():
        clean = model(x).argmax(1)
    for g, eps in enumerate(GRID):
        with torch_threads(1):  # as the spec's num_threads: the same float reductions
            x_adv = apgd_ce(model, x, y, eps, bounds=(0.0, 1.0), seed=0, steps=2, restarts=1) if eps else x
            with torch.inference_mode():
                pred = torch.where(clean != y, clean, model(x_adv).argmax(1)).numpy()
        np.testing.assert_array_equal(examples["pred"][g], pred)


def _escalated(real_mlp, weak, escalation: Escalation, attack=square, params=None, keys=("max_queries",)):
    """escalate() straight on the weak run's outcome, every beat's added break kept (to check it here)."""
    model, test = real_mlp
    metrics, examples = weak
    pred = examples["pred"].astype(np.int64)
    with torch_threads(1):  # tiny MLP: one thread is fastest (ecg_pipeline.runtime)
        record, found = escalate(model, Batches(test), attack, subset=examples["subset"], pred=pred, grid=GRID,
                                 params=params or {"max_queries": 10}, keys=keys, escalation=escalation,
                                 classes=metrics["classes"], bounds=(0.0, 1.0), eps_max=0.03,
                                 keep=np.arange(pred.shape[1]))
    return model, test, examples, pred, record, found


def test_escalation_adds_only_valid_breaks_and_stops_at_max_doublings(real_mlp, weak_square):
    model, test, examples, pred, record, found = _escalated(real_mlp, weak_square, Escalation(2, tolerance=1e-6))
    before, y = examples["pred"], examples["subset_y"]
    assert record["stopped"] == MAX_DOUBLINGS and not record["converged"] and record["doublings"] == 2
    assert [r["effort"] for r in record["rounds"]] == [{"max_queries": 10}, {"max_queries": 20}, {"max_queries": 40}]
    broken_before, broken_after = before != y, pred != y
    assert not (broken_before & ~broken_after).any()                     # never removes a break
    np.testing.assert_array_equal(pred[broken_before], before[broken_before])
    added = broken_after & ~broken_before
    assert added[0].sum() == 0 and added.sum() == record["added"] == len(found) > 0   # eps 0 never attacked
    for (g, position), x_adv in found.items():                          # every added break is a real one
        x, label, _ = Batches(test).take(examples["subset"][[position]])
        linf = np.abs(x_adv.astype(np.float64) - x.numpy().astype(np.float64)).max()
        assert linf < GRID[g] and x_adv.min() >= 0 and x_adv.max() <= 1
        with torch.inference_mode():
            label_adv = int(model(torch.from_numpy(x_adv[None])).argmax(1))
        assert label_adv != int(label) and label_adv == pred[g, position]
    per_round = np.asarray([r["balanced_accuracy"] for r in record["rounds"]])
    assert (np.diff(per_round, axis=0) <= 0).all() and per_round[-1, 2] < per_round[0, 2]
    assert [p["added"] for p in record["per_eps"]] == [[r["added"][g] for r in record["rounds"]] for g in (1, 2)]
    assert record["rounds"][1]["seed"] == round_seed(0, 1) != record["rounds"][2]["seed"] == round_seed(0, 2)
    assert in_words(record).startswith("2 doublings, still moving")


def test_a_loose_tolerance_converges_after_one_doubling(real_mlp, weak):
    *_, record, _ = _escalated(real_mlp, weak, Escalation(3, tolerance=0.05), attack=apgd_ce,
                               params={"steps": 2, "restarts": 1}, keys=("steps", "restarts"))
    assert record["stopped"] == CONVERGED and record["converged"] and record["doublings"] == 1
    assert [r["effort"] for r in record["rounds"]] == [{"steps": 2, "restarts": 1}, {"steps": 4, "restarts": 2}]
    assert len(record["rounds"]) == 2 and all(len(p["balanced_accuracy"]) == 2 for p in record["per_eps"])
    assert in_words(record).startswith("converged after 1 doubling (")


def test_an_eps_that_has_converged_is_not_attacked_again(real_mlp, weak_square):
    """A round that moves an eps by less than the tolerance closes that eps: later rounds attack only the others."""
    *_, record, _ = _escalated(real_mlp, weak_square, Escalation(3, tolerance=0.02))
    rounds = record["rounds"]
    for previous, before, current in zip(rounds, rounds[1:], rounds[2:]):
        for g in (1, 2):
            moved = previous["balanced_accuracy"][g] - before["balanced_accuracy"][g]
            if before["attacked"][g] == 0 or moved < 0.02:
                assert current["attacked"][g] == 0 and current["added"][g] == 0
    assert record["converged"] == all(p["converged"] for p in record["per_eps"])


def test_the_evaluation_records_the_rounds_and_the_flag_says_how_far_it_went(real_mlp, weak_square):
    model, test = real_mlp
    off, off_examples = weak_square
    spec = AttackSpec.from_params({**WEAK_SQUARE, "diagnostics": True, "diagnostics_per_class": 5,
                                   "escalation": {"max_doublings": 2, "tolerance": 1e-6}}, "apgd_ce")
    on, examples = evaluate(model, test, spec, name="real.square")
    record = on["escalation"]
    assert [row["balanced_accuracy"] for row in on["curve"]] == record["rounds"][-1]["balanced_accuracy"]
    assert record["rounds"][0]["balanced_accuracy"] == [row["balanced_accuracy"] for row in off["curve"]]
    assert on["acc_robust_balanced"] <= off["acc_robust_balanced"]
    assert record["rounds"][0]["acc_robust_balanced"] == pytest.approx(off["acc_robust_balanced"])
    assert ((examples["pred"] != examples["subset_y"]) >= (off_examples["pred"] != off_examples["subset_y"])).all()
    # the report's worst case is built from the stored per-beat outcome: it counts the escalated breaks
    combined = worst_case({"square": Outcomes.from_examples(examples)}, GRID, on["classes"], eps_max=0.03)
    assert combined["acc_robust_balanced"] <= on["acc_robust_balanced"] < off["acc_robust_balanced"]
    kept = np.searchsorted(examples["subset"], examples["index"])     # the figures' beats follow the escalation
    for g in range(len(GRID)):
        np.testing.assert_array_equal(examples[f"pred_adv_{g}"], examples["pred"][g][kept])
    effort = next(f for f in on["flags"] if f["flag"] == "more_effort_moves_worst_case")
    assert record["stopped"] == MAX_DOUBLINGS and effort["raised"] and effort["threshold"] == 1e-6
    assert effort["detail"].startswith("escalation: 2 doublings, still moving")
    loose = AttackSpec.from_params({**WEAK_SQUARE, "diagnostics": True, "diagnostics_per_class": 5,
                                    "escalation": {"max_doublings": 1, "tolerance": 0.9}}, "apgd_ce")
    flags, _ = evaluate(model, test, loose, name="real.square")
    assert "more_effort_moves_worst_case" not in diagnostics.raised(flags["flags"])


@pytest.mark.parametrize("value, message", [
    ({"max_doublings": 0}, r"'attacks.apgd_ce.escalation.max_doublings': expected an integer from 1 to 10"),
    ({"max_doublings": 2, "tolerance": 5}, r"'attacks.apgd_ce.escalation.tolerance': expected a fraction"),
    ({"max_doublings": 2, "tol": 0.01}, r"'attacks.apgd_ce.escalation': unknown key\(s\) \['tol'\]"),
    ({"tolerance": 0.01}, r"'attacks.apgd_ce.escalation.max_doublings': missing"),
    (3, r"'attacks.apgd_ce.escalation': expected null or a mapping"),
])
def test_the_escalation_setting_is_checked_naming_its_key(value, message):
    with pytest.raises(EcgConfigError, match=message):
        AttackSpec.from_params({**WEAK, "escalation": value}, "apgd_ce")


def test_escalation_needs_an_attack_with_effort_and_an_eps_grid():
    with pytest.raises(EcgConfigError, match=r"'attacks.fgsm.escalation': attack 'fgsm' declares no effort keys"):
        AttackSpec.from_params({"grid": GRID, "escalation": {"max_doublings": 1}}, "fgsm")
    with pytest.raises(EcgConfigError, match=r"'attacks.snr.escalation': escalation reruns the attack per eps"):
        AttackSpec.from_params({"attack": "pgd", "grid": [10, 20], "grid_param": "snr_db", "eps": 0.01,
                                "escalation": {"max_doublings": 1}}, "snr")


def test_escalated_autoattack_breaks_say_which_attack_found_them(real_mlp):
    model, test = real_mlp
    spec = AttackSpec.from_params({**WEAK, "attack": "autoattack", "params": {"steps": 1, "max_queries": 10},
                                   "escalation": {"max_doublings": 1, "tolerance": 0.005}}, "autoattack")
    metrics, examples = evaluate(model, test, spec, name="real.autoattack")
    record = metrics["escalation"]
    assert record["rounds"][1]["effort"] == {"steps": 2, "restarts": 2, "max_queries": 20}
    clean_right = examples["pred"][0] == examples["subset_y"]
    broken = (examples["pred"] != examples["subset_y"]) & clean_right
    # every break, the normal run's and the escalation's, names its attack (an index into the ensemble)
    assert (examples["broken_by"][broken] >= 0).all() and (examples["broken_by"][~broken & clean_right] == -1).all()
