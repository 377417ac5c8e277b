"""fit: a run that fails before its first checkpoint leaves no checkpoint folder behind."""

from __future__ import annotations

import importlib

import pytest
import torch

from ecg_pipeline.datasets import FolderDataset
from ecg_pipeline.defenses import TrainingConfig, fit
from ecg_pipeline.defenses.trainer import CHECKPOINT_FILE, TrainingDiverged
from ecg_pipeline.errors import EcgDataError

fit_module = importlib.import_module("ecg_pipeline.defenses.fit")  # the package exports fit, the function


def _config(**model):
    return TrainingConfig(model={"name": "mlp", **model}, epochs=2, batch_size=32, device="cpu", progress=False)


@pytest.fixture
def checkpoints(tmp_path):
    """The run's checkpoint folder as the catalog hands it to the training node."""
    return FolderDataset(path=str(tmp_path / "06_models" / "checkpoints" / "ce_mlp")).load()


def test_a_run_refused_before_training_leaves_no_folder(synthetic_beats, checkpoints, tmp_path):
    with pytest.raises(EcgDataError, match=r"ce_mlp: model has 4 outputs but the training set has 5 classes"):
        fit(_config(n_classes=4), synthetic_beats(10), None, checkpoints=checkpoints, run_name="ce_mlp")
    assert not (tmp_path / "06_models").exists()


def test_a_run_that_diverges_in_its_first_epoch_leaves_no_folder(synthetic_beats, checkpoints, tmp_path, monkeypatch):
    def diverging(name, **params):
        def objective(model, x, y, mask, epoch):
            logits = model(x)
            return logits.sum() * torch.tensor(float("nan")), logits, {}
        return objective

    monkeypatch.setattr(fit_module, "build_objective", diverging)
    with pytest.raises(TrainingDiverged, match=r"ce_mlp: loss is nan at epoch 1, batch 1/"):
        fit(_config(), synthetic_beats(10), None, checkpoints=checkpoints, run_name="ce_mlp")
    assert not (tmp_path / "06_models").exists()


def test_the_first_checkpoint_creates_the_folder(synthetic_beats, checkpoints):
    _, meta, _ = fit(_config(), synthetic_beats(10), None, checkpoints=checkpoints, run_name="ce_mlp")
    assert (checkpoints / meta["fingerprint"] / CHECKPOINT_FILE).is_file()
