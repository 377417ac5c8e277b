"""Ensemble metrics (seed 004 Figs. 4-6) and the ensemble as one deployed model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.ensemble import correct_by_member, feature_r2_matrix, member_agreement
from ecg_pipeline.models import build_model
from ecg_pipeline.models.ensemble import Ensemble


def test_agreement_counts_by_hand():
    correct = np.array([[1, 1, 0, 0, 1],
                        [1, 0, 0, 1, 1],
                        [0, 0, 0, 1, 1]], dtype=bool)
    out = member_agreement(correct)
    assert out["n"] == 5
    assert out["member_accuracy"] == pytest.approx([0.6, 0.6, 0.4])
    assert out["mean_member_accuracy"] == pytest.approx(1.6 / 3)
    assert out["p_at_least"] == pytest.approx({1: 0.8, 2: 0.6, 3: 0.2})
    counted = member_agreement(correct, counted=[True, True, True, False, False])
    assert counted["n"] == 3 and counted["p_at_least"] == pytest.approx({1: 2 / 3, 2: 1 / 3, 3: 0.0})
    assert np.isnan(member_agreement(correct, counted=[False] * 5)["p_at_least"][1])


def test_correct_by_member_and_r2_matrix():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[0.0, 2.0], [0.0, 1.0]]])
    np.testing.assert_array_equal(correct_by_member(logits, [0, 1]), [[True, True], [False, True]])
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 6, generator=g)
    r2 = feature_r2_matrix([a, a @ torch.randn(6, 6, generator=g), torch.randn(300, 6, generator=g)])
    assert r2.shape == (3, 3) and np.allclose(np.diag(r2), 1)
    assert r2[0, 1] == pytest.approx(1, abs=1e-6) and r2[0, 2] < 0.1 and r2[2, 1] < 0.1


def test_mean_logits_and_vote():
    torch.manual_seed(0)
    members = [build_model("mlp") for _ in range(3)]
    x = torch.rand(16, 187)
    logits = torch.stack([m(x) for m in members])
    torch.testing.assert_close(Ensemble.of(members)(x), logits.mean(0))
    votes = Ensemble.of(members, combine="vote")(x).argmax(1)
    preds = logits.argmax(2)
    for i in range(16):
        counts = torch.bincount(preds[:, i], minlength=5)
        assert counts[votes[i]] == counts.max()
    with pytest.raises(EcgDataError, match="combine must be one of"):
        Ensemble.of(members, combine="max")


def test_a_saved_ensemble_of_fourier_members_loads_back_through_the_model_dataset(tmp_path):
    from ecg_pipeline.datasets import TorchModelDataset

    torch.manual_seed(1)
    members = [build_model("kachuee_cnn"), build_model("fourier", model={"name": "kachuee_cnn"}, part=0),
               build_model("fourier", model={"name": "kachuee_cnn"}, part=1)]
    ensemble = Ensemble.of(members)
    dataset = TorchModelDataset(filepath=str(tmp_path / "ens.pt"))
    dataset.save(ensemble)
    loaded = dataset.load()
    x = torch.rand(4, 1, 187)
    torch.testing.assert_close(loaded(x), ensemble(x))
    assert loaded.model_config["members"][1] == {"name": "fourier", "model": {"name": "kachuee_cnn"}, "length": 187,
                                                 "bands": 10, "part": 0}


def _constant_member(logits):
    """An MLP whose logits are ``logits`` whatever the input (zero head weights, the logits as bias)."""
    member = build_model("mlp")
    with torch.no_grad():
        member.head.weight.zero_()
        member.head.bias.copy_(torch.tensor(logits))
    return member


def test_the_vote_counts_members_and_breaks_ties_by_mean_softmax():
    x = torch.rand(1, 187)
    # A 2-1 majority beats a third member that is very sure of another class: the vote says 1, mean logits say 4.
    majority = Ensemble.of([_constant_member([0.0, 1.0, 0.0, 0.0, 0.0]), _constant_member([0.0, 1.0, 0.0, 0.0, 0.0]),
                            _constant_member([0.0, 0.0, 0.0, 0.0, 20.0])], combine="vote")
    assert majority(x).argmax(1).item() == 1 and majority.view("mean_logits")(x).argmax(1).item() == 4
    # Hand-computed scores: votes [0, 2, 0, 0, 1] + 1e-3 * mean softmax.
    probs = torch.stack([torch.softmax(torch.tensor(v), 0) for v in
                         ([0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 20.0])]).mean(0)
    torch.testing.assert_close(majority(x)[0], torch.tensor([0.0, 2.0, 0.0, 0.0, 1.0]) + 1e-3 * probs)
    # A 1-1-1 split: the voted class with the highest mean softmax wins (class 2: its member is the surest) ...
    split = Ensemble.of([_constant_member([1.0, 0.0, 0.0, 0.0, 0.0]), _constant_member([0.0, 2.0, 0.0, 0.0, 0.0]),
                         _constant_member([0.0, 0.0, 3.0, 0.0, 0.0])], combine="vote")
    assert split(x).argmax(1).item() == 2
    # ... and a class no member voted for never wins, however much softmax mass it gets from all three.
    unvoted = Ensemble.of([_constant_member([1.0, 0.0, 0.0, 0.95, 0.0]), _constant_member([0.0, 1.0, 0.0, 0.95, 0.0]),
                           _constant_member([0.0, 0.0, 1.0, 0.95, 0.0])], combine="vote")
    assert unvoted.view("mean_logits")(x).argmax(1).item() == 3
    assert unvoted(x).argmax(1).item() in (0, 1, 2)


def test_surrogates_share_the_members():
    torch.manual_seed(0)
    ensemble = Ensemble.of([build_model("mlp") for _ in range(3)], combine="vote")
    found = ensemble.surrogates(["self", "mean_logits", "members"])
    assert [name for name, _ in found] == ["self", "mean_logits", "member0", "member1", "member2"]
    assert found[0][1] is ensemble and found[2][1] is ensemble.members[0]
    mean = found[1][1]
    assert mean.combine == "mean_logits" and mean.members is ensemble.members and ensemble.combine == "vote"
    x = torch.rand(4, 187)
    torch.testing.assert_close(mean(x), ensemble.member_logits(x).mean(0))
    with pytest.raises(EcgDataError, match=r"ensemble surrogates: expected some of \['self', 'mean_logits', 'members'\]"):
        ensemble.surrogates(["median"])
