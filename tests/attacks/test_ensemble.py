"""The AutoAttack "standard" ensemble (fast tier: a small MLP on synthetic beats)."""

from __future__ import annotations

import pytest
import torch

from ecg_pipeline.attacks.apgd import apgd_ce
from ecg_pipeline.attacks.autoattack import CLEAN_WRONG, ENSEMBLE, UNBROKEN, autoattack
from ecg_pipeline.attacks.base import AttackError
from ecg_pipeline.models import logits_of


@pytest.fixture(scope="module")
def tiny(synthetic_beats):
    from ecg_pipeline.defenses import TrainingConfig, fit

    data = synthetic_beats(30)
    model, _, _ = fit(TrainingConfig(model={"name": "mlp"}, epochs=8, batch_size=32, progress=False, device="cpu"),
                      data, None, checkpoints=None, run_name="tiny")
    test = synthetic_beats(10, seed=4)
    x = torch.as_tensor(test["x"])[:, None, :]
    y = torch.as_tensor(test["y"])
    y[:3] = (y[:3] + 1) % 5  # three beats wrong clean
    return model, x, y


def test_each_attack_runs_on_the_beats_still_unbroken(tiny):
    model, x, y = tiny
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    x_adv, info = autoattack(model, x, y, 0.05, bounds=(0, 1), steps=10, max_queries=100)
    broken_by = info["broken_by"]
    with torch.no_grad():
        pred = logits_of(model, x_adv).argmax(1)
        clean = logits_of(model, x).argmax(1)
    assert (broken_by[clean != y] == CLEAN_WRONG).all() and (x_adv[clean != y] == x[clean != y]).all()
    hit = broken_by >= 0
    assert (pred[hit] != y[hit]).all() and (pred[broken_by == UNBROKEN] == y[broken_by == UNBROKEN]).all()
    assert (x_adv - x).abs().max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    alone = apgd_ce(model, x, y, 0.05, bounds=(0, 1), steps=10)
    with torch.no_grad():
        broken_alone = (logits_of(model, alone).argmax(1) != y) & (clean == y)
    assert (hit | ~broken_alone).all()  # never weaker than its first attack alone
    assert {int(b) for b in broken_by.unique()} <= {CLEAN_WRONG, UNBROKEN, *range(len(ENSEMBLE))}
    for key, value in model.state_dict().items():
        assert torch.equal(weights[key], value)


def test_eps_zero_attacks_nothing_and_unknown_members_are_refused(tiny):
    model, x, y = tiny
    x_adv, info = autoattack(model, x, y, 0.0, steps=5, max_queries=10)
    assert torch.equal(x_adv, x) and set(info["broken_by"].tolist()) <= {CLEAN_WRONG, UNBROKEN}
    with pytest.raises(AttackError, match=r"unknown attack\(s\) \['fab'\]"):
        autoattack(model, x, y, 0.05, attacks=("apgd_ce", "fab"))


def test_a_vote_is_attacked_through_its_surrogates_and_judged_by_itself(synthetic_beats):
    from ecg_pipeline.defenses import TrainingConfig, fit
    from ecg_pipeline.models.ensemble import Ensemble

    data = synthetic_beats(30)
    members = [fit(TrainingConfig(model={"name": "mlp"}, epochs=4, batch_size=32, progress=False, device="cpu", seed=s),
                   data, None, checkpoints=None, run_name=f"m{s}")[0] for s in range(3)]
    vote = Ensemble.of(members, combine="vote")
    test = synthetic_beats(10, seed=4)
    x, y = torch.as_tensor(test["x"])[:, None, :], torch.as_tensor(test["y"])
    surrogates = ("self", "mean_logits", "members")
    x_adv, info = autoattack(vote, x, y, 0.1, bounds=(0, 1), steps=10, max_queries=100, surrogates=surrogates)
    with torch.no_grad():
        pred, clean = vote(x_adv).argmax(1), vote(x).argmax(1)
    broken_by, crafted_on = info["broken_by"], info["surrogate"]
    hit = broken_by >= 0
    assert hit.any() and (pred[hit] != y[hit]).all() and (pred[broken_by == UNBROKEN] == y[broken_by == UNBROKEN]).all()
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    # the stand-in of each broken beat is named: 0 self, 1 mean_logits, 2-4 the members, 5 self again for Square
    assert ((crafted_on >= 0) == hit).all() and crafted_on.max() <= 5
    assert ((crafted_on[broken_by == ENSEMBLE.index("square")]) == 5).all()
    # never weaker than crafting on the vote alone (the first stand-in), beat for beat
    alone, _ = autoattack(vote, x, y, 0.1, bounds=(0, 1), steps=10, max_queries=100)
    with torch.no_grad():
        assert ((vote(alone).argmax(1) != y) & (clean == y)).sum() <= hit.sum()
    with pytest.raises(AttackError, match=r"surrogates \['mean_logits'\] need an ensemble.*got MLP"):
        autoattack(members[0], x, y, 0.1, bounds=(0, 1), steps=2, max_queries=10, surrogates=("mean_logits",))
