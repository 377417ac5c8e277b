"""Seed 001's weight-row renormalisation (the authors' code; a declared option): unit rows by hand, rows without
gradient re-drawn, a real training run that keeps every row at unit norm, and a run without it untouched."""

import pytest
import torch
from torch import nn

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import CrossEntropy
from ecg_pipeline.defenses.row_renorm import RowRenorm, unit_rows_
from ecg_pipeline.defenses.trainer import train
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model


def test_unit_rows_by_hand_and_a_zero_row_stays_zero():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    unit_rows_(w)
    assert torch.equal(w, torch.tensor([[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]]))
    conv = torch.full((2, 1, 4), 0.5)  # a filter is a row: 4 values of 0.5 have norm 1 already
    conv[1] *= 4
    unit_rows_(conv)
    assert torch.allclose(conv, torch.full((2, 1, 4), 0.5))


def test_rows_with_a_gradient_are_marked_and_only_the_others_are_redrawn_at_the_epochs_end():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    renorm = RowRenorm(model, seed=0)
    renorm.start()
    seen = renorm.fresh_seen()
    model[0].weight.grad = torch.zeros(4, 3)
    model[0].weight.grad[1, 2] = 0.5            # only row 1 of the first layer had a gradient
    model[2].weight.grad = torch.ones(2, 4)
    renorm.after_step(seen)
    assert seen[0].tolist() == [False, True, False, False] and seen[1].tolist() == [True, True]
    before = [w.detach().clone() for w in renorm.weights]
    assert renorm.end_epoch(1, seen) == 3
    first = renorm.weights[0]
    assert torch.equal(first[1], before[0][1]) and torch.equal(renorm.weights[1], before[1])
    assert all(not torch.equal(first[r], before[0][r]) for r in (0, 2, 3))
    assert torch.allclose(first.norm(dim=1), torch.ones(4))
    again = RowRenorm(model, seed=0)          # the same (seed, epoch) draws the same rows: a resume agrees
    model[0].weight.data.copy_(before[0])
    again.end_epoch(1, seen)
    assert torch.equal(again.weights[0], first)


def test_a_run_with_renorm_rows_ends_with_unit_rows_and_reports_the_redraws(synthetic_beats):
    sets = Batches(synthetic_beats(32, seed=0)), Batches(synthetic_beats(6, seed=1))
    config = TrainingConfig(epochs=2, batch_size=16, seed=0, device="cpu", progress=False, num_threads=1,
                            renorm_rows=True)
    torch.manual_seed(0)
    model, history = train(build_model("mlp"), *sets, config, objective=CrossEntropy(), run_fingerprint="t")
    for layer in (m for m in model.modules() if isinstance(m, nn.Linear)):
        assert torch.allclose(layer.weight.norm(dim=1), torch.ones(layer.out_features), atol=1e-5)
    assert all(isinstance(row["rows_redrawn"], int) and row["rows_redrawn"] >= 0 for row in history)
    plain = TrainingConfig(epochs=2, batch_size=16, seed=0, device="cpu", progress=False, num_threads=1)
    torch.manual_seed(0)
    other, history_plain = train(build_model("mlp"), *sets, plain, objective=CrossEntropy(), run_fingerprint="t")
    assert "rows_redrawn" not in history_plain[0]
    first = next(m for m in other.modules() if isinstance(m, nn.Linear))
    assert not torch.allclose(first.weight.norm(dim=1), torch.ones(first.out_features), atol=1e-3)


def test_the_option_is_checked_and_off_by_default_leaves_the_fingerprint_as_it_was():
    with pytest.raises(EcgDataError, match="renorm_rows': expected true or false"):
        TrainingConfig(renorm_rows="yes")
    assert "renorm_rows" not in TrainingConfig().fingerprinted()
    assert TrainingConfig(renorm_rows=True).fingerprinted()["renorm_rows"] is True
