"""The nested evaluation over an eps grid (issue 27: ``attacks.autoattack`` evaluated once per batch for the whole
grid, the per-eps calls replayed bit for bit with Square once for every eps, breaks carried to larger eps) against
the old one, every eps attacked independently (``nested: false``), on a small MLP trained on real MIT-BIH beats and
its real test beats: same beats, same seed. The new outcome is exactly the old one with each break carried to every
larger eps: nested, never weaker at any eps (no beat the old one broke stands in the new one), with escalation too
(the same rounds, decided the same way), and does not depend on the number of worker threads.

The ensemble is deliberately weak (2 steps, 100 Square queries) so that every member, FAB-T and Square included,
has beats left to break; small eps so that some beats stand."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.evaluation import AttackSpec, evaluate

GRID = [0.0, 0.005, 0.01, 0.02, 0.05]
WEAK = {"attack": "autoattack", "grid": GRID, "eps_max": 0.05, "bounds": [0, 1], "per_class": 16, "progress": False,
        "num_threads": 1, "batch_size": 32,
        "params": {"steps": 2, "max_queries": 100, "n_target_classes": 2,
                   "attacks": ["apgd_ce", "apgd_t", "fab_t", "square"]}}


@pytest.fixture(scope="module")
def real_mlp(trained_mitdb_mlp):
    model, parts = trained_mitdb_mlp(1500, 3)
    return model, parts["test"]


def outcome(real_mlp, escalation=None, **params):
    model, test = real_mlp
    spec = AttackSpec.from_params({**WEAK, "params": {**WEAK["params"], **params}, "escalation": escalation},
                                  "autoattack")
    return evaluate(model, test, spec, name="real.autoattack")


@pytest.fixture(scope="module", params=[("apgd_ce", "apgd_t", "fab_t", "square"), ("fab_t", "square")],
                ids=["standard", "fab_t+square"])
def old_and_new(real_mlp, request):
    """Old and new on the same beats and seed: the standard ensemble (the APGDs break most beats on this MLP) and
    FAB-T then Square alone (the members that run from the largest eps down)."""
    members = list(request.param)
    return outcome(real_mlp, nested=False, attacks=members), outcome(real_mlp, nested=True, attacks=members)


def broken(examples) -> np.ndarray:
    return examples["pred"] != examples["subset_y"][None, :]


def test_the_nested_outcome_is_nested_and_never_weaker_than_the_old(old_and_new):
    (old_metrics, old), (new_metrics, new) = old_and_new
    assert np.array_equal(old["subset"], new["subset"]) and old["pred"].shape == new["pred"].shape
    broken_old, broken_new = broken(old), broken(new)
    assert (broken_new[:-1] <= broken_new[1:]).all()  # broken at eps_i: broken at every larger eps
    assert not (broken_old & ~broken_new).any()  # never a beat robust in the new that the old one broke
    assert np.array_equal(broken_new, np.logical_or.accumulate(broken_old, axis=0))  # the old, carried upward
    assert broken_new[1:-1].any() and (~broken_new[1:]).any()  # the comparison compares something
    for old_row, new_row in zip(old_metrics["curve"], new_metrics["curve"]):
        assert new_row["accuracy"] <= old_row["accuracy"]
    # the public layout is unchanged: the same keys, the same shapes
    assert set(old) == set(new) and all(np.shape(old[k]) == np.shape(new[k]) for k in old if k != "classes")
    assert set(old_metrics) == set(new_metrics)


def test_the_break_a_beat_is_counted_with_names_its_attack(old_and_new):
    _, (_, new) = old_and_new
    b, clean_right = broken(new), new["pred"][0] == new["subset_y"]
    assert (new["broken_by"][b & clean_right[None, :]] >= 0).all()
    assert (new["broken_by"][~b] == -1).all() and (new["broken_by"][:, ~clean_right] == -2).all()


def test_two_worker_threads_give_the_same_outcome(real_mlp):
    _, new = outcome(real_mlp, nested=True)
    _, threaded = outcome(real_mlp, nested=True, workers=2)
    assert np.array_equal(threaded["pred"], new["pred"]) and np.array_equal(threaded["broken_by"], new["broken_by"])


def test_escalation_keeps_the_nested_outcome_nested_and_never_weaker(real_mlp):
    escalation = {"max_doublings": 1, "tolerance": 0.005}
    old_metrics, old = outcome(real_mlp, escalation, nested=False)
    new_metrics, new = outcome(real_mlp, escalation, nested=True)
    broken_old, broken_new = broken(old), broken(new)
    assert (broken_new[:-1] <= broken_new[1:]).all()
    assert not (broken_old & ~broken_new).any()
    assert np.array_equal(broken_new, np.logical_or.accumulate(broken_old, axis=0))
    old_rounds, new_rounds = old_metrics["escalation"]["rounds"], new_metrics["escalation"]["rounds"]
    assert len(new_rounds) == len(old_rounds) and old_rounds[1]["added"] != [0] * len(GRID)
    for old_round, new_round in zip(old_rounds, new_rounds):  # the per-eps rounds replayed: the same decisions
        assert new_round["effort"] == old_round["effort"] and new_round["attacked"] == old_round["attacked"]
        assert new_round["independent_balanced_accuracy"] == old_round["balanced_accuracy"]
    assert [r["balanced_accuracy"] for r in new_metrics["curve"]] == new_metrics["escalation"]["rounds"][-1][
        "balanced_accuracy"]
