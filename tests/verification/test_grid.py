"""``certify_grid``: certification over an eps grid on the attacks' subset (the lower end of the bracket), on a
small MLP of the registry trained on synthetic three-class beats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.attacks.apgd import apgd_ce
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.errors import EcgConfigError, EcgModelError
from ecg_pipeline.evaluation.metrics import classification_metrics
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case
from ecg_pipeline.models import build_model
from ecg_pipeline.evaluation.worst_case import certified_metrics
from ecg_pipeline.verification import CERTIFIED, UNKNOWN
from ecg_pipeline.verification.grid import CertifySpec, certify_grid

GRID = (0.0, 0.01, 0.03, 0.06, 0.1)
LENGTH = 24
NOISE = 0.25


def synthetic_split(n_per_class: int = 60, seed: int = 0) -> dict:
    """Three classes of noisy shapes in [0, 1] that overlap: some beats are wrong clean, most robust to a few
    hundredths."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, LENGTH)
    shapes = [0.5 + 0.1 * np.sin(2 * np.pi * t), 0.5 + 0.1 * np.cos(2 * np.pi * t), 0.4 + 0.2 * t]
    x = np.concatenate([np.clip(s + NOISE * rng.standard_normal((n_per_class, LENGTH)), 0, 1) for s in shapes])
    y = np.repeat(np.arange(3), n_per_class)
    return {"x": x.astype(np.float32), "y": y, "classes": np.asarray(["N", "S", "V"])}


@pytest.fixture(scope="module")
def trained():
    return train_tiny_mlp()


def train_tiny_mlp():
    train, test = synthetic_split(200, seed=1), synthetic_split(40, seed=2)
    torch.manual_seed(0)
    model = build_model("mlp", input_length=LENGTH, n_classes=3)
    x, y = torch.from_numpy(train["x"][:, None, :]), torch.from_numpy(train["y"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval(), test


def spec(**changes) -> CertifySpec:
    return CertifySpec.from_params({"grid": list(GRID), "eps_max": 0.06, "per_class": 25, "seed": 3,
                                    "method": "crown", **changes})


def test_the_certified_curve_is_a_lower_bound_on_the_attacks_beats(trained):
    model, test = trained
    record, examples = certify_grid(model, test, spec(), name="tiny.certify")
    metrics = certified_metrics(record, examples)  # scored by the attacks' worst-case code, as the node does
    # the attacks' subset: the same selection rule, per_class and seed
    subset = balanced_subset(test["y"], 25, 3)
    assert np.array_equal(examples["subset"], subset) and metrics["n"] == subset.size == 75
    outcome = examples["outcome"]
    # nested balls: certified at eps -> certified at every smaller eps of the grid; broken upwards
    certified = outcome == CERTIFIED
    assert (certified[:-1] >= certified[1:]).all()
    assert ((outcome[:-1] == -1) <= (outcome[1:] == -1)).all()
    accuracy = [row["accuracy"] for row in metrics["curve"]]
    assert accuracy == sorted(accuracy, reverse=True)
    # something is certified, and something is left open at the largest eps
    assert certified[1].sum() > 0 and (outcome[-1] != CERTIFIED).any()

    x = torch.from_numpy(test["x"][subset][:, None, :])
    y = torch.from_numpy(test["y"][subset])
    with torch.no_grad():
        clean = model(x).argmax(1).numpy()
    clean_accuracy = float(np.mean(clean == y.numpy()))
    attack_pred = [clean]
    for g, eps in enumerate(GRID):
        assert metrics["curve"][g]["accuracy"] <= clean_accuracy + 1e-12
        if eps > 0:
            x_adv = apgd_ce(model, x, y, eps, bounds=(0.0, 1.0), seed=0, steps=30)
            with torch.no_grad():
                pred = np.where(clean != y.numpy(), clean, model(x_adv).argmax(1).numpy())
            attack_pred.append(pred)
            broken = pred != y.numpy()
            assert not (certified[g] & broken).any(), f"a beat APGD breaks is certified at eps {eps}"
            attacked = classification_metrics(y.numpy(), pred, 3, ["N", "S", "V"])
            assert metrics["curve"][g]["accuracy"] <= attacked["accuracy"] + 1e-12
            assert metrics["curve"][g]["balanced_accuracy"] <= attacked["balanced_accuracy"] + 1e-12
    assert (attack_pred[-1] != y.numpy()).sum() > (clean != y.numpy()).sum()  # the attack breaks beats: a real check
    # the certified accuracy is the share of certified beats; the counts add up
    for row in metrics["curve"]:
        assert row["accuracy"] == pytest.approx(row["certified"] / row["n"])
        assert row["certified"] + row["unknown"] + row["broken"] == row["n"] == 75
    upper = worst_case({"apgd": Outcomes(np.asarray(GRID), subset, y.numpy(), np.stack(attack_pred))},
                       list(GRID), ["N", "S", "V"], eps_max=0.06)
    assert metrics["acc_robust_balanced"] <= upper["acc_robust_balanced"] + 1e-12
    assert metrics["curve"][0]["exact"] and not metrics["exact"]


@pytest.mark.slow
def test_milp_decides_open_beats_and_never_contradicts_the_bounds(trained):
    model, test = trained
    settings = {"grid": [0.0, 0.03], "eps_max": 0.03, "per_class": 6, "seed": 3, "method": "crown"}
    plain, plain_examples = certify_grid(model, test, CertifySpec.from_params(settings), name="tiny.certify")
    exact, exact_examples = certify_grid(model, test, CertifySpec.from_params(
        {**settings, "milp": {"max_beats": 2, "time_limit": 20}}), name="tiny.certify")
    plain, exact = certified_metrics(plain, plain_examples), certified_metrics(exact, exact_examples)
    assert plain["curve"][1]["unknown"] >= 2
    tried = exact_examples["milp_tried"][1]
    assert tried.sum() == 2 and (plain_examples["outcome"][1][tried] == UNKNOWN).all()
    assert not exact_examples["milp_tried"][0].any()  # nothing is open at eps 0
    assert exact["curve"][1]["milp"]["tried"] == 2 and exact["milp"]["applied"]
    # MILP only adds decisions: a bound's certificate stays, every beat it decided leaves the unknown count
    assert (exact_examples["outcome"][1][plain_examples["outcome"][1] == CERTIFIED] == CERTIFIED).all()
    decided = exact["curve"][1]["milp"]["decided"]
    assert exact["curve"][1]["unknown"] == plain["curve"][1]["unknown"] - decided
    assert exact["curve"][1]["certified"] >= plain["curve"][1]["certified"]
    assert exact["curve"][1]["accuracy"] >= plain["curve"][1]["accuracy"]


def test_spec_and_model_are_refused_before_any_work():
    with pytest.raises(EcgConfigError, match="certify.grid"):
        CertifySpec.from_params({"grid": [0.01, 0.03]})
    with pytest.raises(EcgConfigError, match="did you mean 'method'"):
        CertifySpec.from_params({"grid": [0.0, 0.01], "metod": "crown"})
    with pytest.raises(EcgConfigError, match="certify.milp.max_beats"):
        CertifySpec.from_params({"grid": [0.0, 0.01], "milp": {"max_beats": -1}})
    with pytest.raises(EcgModelError, match="HanCNN"):
        certify_grid(build_model("han_cnn"), synthetic_split(2), spec(), name="x.certify")


def test_a_sample_of_the_attacks_beats_and_nested_bounds_certify_a_subset_of_the_full_run(trained):
    model, test = trained
    full, full_examples = certify_grid(model, test, spec(), name="tiny.certify")
    sampled, sampled_examples = certify_grid(model, test, spec(sample_per_class=5, nested=True), name="tiny.certify")
    attacks_beats = balanced_subset(test["y"], 25, 3)
    sample = sampled_examples["subset"]
    assert sample.size == 15 and np.isin(sample, attacks_beats).all()
    assert np.bincount(test["y"][sample], minlength=3).tolist() == [5, 5, 5]
    positions = np.searchsorted(full_examples["subset"], sample)
    bounded = sampled_examples["bounded"]
    assert bounded[0].all()                               # eps 0: every beat of the sample (a clean error: broken)
    for g in range(1, len(GRID)):                         # above: only what the eps below certified
        certified_below = sampled_examples["outcome"][g - 1] == CERTIFIED
        assert (bounded[g] <= certified_below).all()
        assert sampled["curve"][g]["bounded"] == int(bounded[g].sum())
    # nested trying is sound: it certifies nothing the full run does not (the bounds are the same functions)
    here, there = sampled_examples["outcome"], full_examples["outcome"][:, positions]
    assert ((here == CERTIFIED) <= (there == CERTIFIED)).all()
    assert (here[:2] == there[:2]).all()                  # eps 0 decides every beat: the next eps misses nothing
    assert bounded[2:].sum() < bounded[:2].sum()
    assert sampled["sample_per_class"] == 5 and sampled["nested"] and sampled["n"] == 15


def test_milp_runs_only_at_its_declared_eps(trained):
    model, test = trained
    record, examples = certify_grid(model, test, spec(grid=[0.0, 0.01, 0.03], eps_max=0.03, per_class=4,
                                                      milp={"max_beats": 2, "time_limit": 5, "eps": [0.03]}),
                                    name="tiny.certify")
    assert not examples["milp_tried"][:2].any() and record["milp"]["eps"] == [0.03]
    assert examples["milp_tried"][2].sum() == min(2, record["curve"][2]["unknown"] + examples["milp_tried"][2].sum())
    with pytest.raises(EcgConfigError, match=r"certify.milp.eps.*grid points"):
        spec(milp={"max_beats": 1, "eps": [0.02]})
    with pytest.raises(EcgConfigError, match="certify.sample_per_class"):
        spec(sample_per_class=0)
    with pytest.raises(EcgConfigError, match="certify.nested"):
        spec(nested="yes")
