import numpy as np
import pytest
import torch

from ecg_pipeline.data.balance import cap_per_class
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import CrossEntropy, build_objective
from ecg_pipeline.defenses.trainer import CHECKPOINT_FILE, TrainingDiverged, train
from ecg_pipeline.errors import EcgDataError, EcgModelError
from ecg_pipeline.runtime import resolve_device
from ecg_pipeline.models import build_model


@pytest.fixture(scope="module")
def small_sets(kachuee_beats):
    parts = split_beats(cap_per_class(kachuee_beats, 300, seed=0), seed=0)
    return Batches(parts["train"]), Batches(parts["validation"])


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _fit(sets, epochs, checkpoint_dir=None, objective=None, **kw):
    torch.manual_seed(0)
    model = build_model("mlp")
    config = TrainingConfig(epochs=epochs, batch_size=64, seed=0, device="cpu", progress=False, **kw)
    return train(model, *sets, config, objective=objective or CrossEntropy(), checkpoint_dir=checkpoint_dir,
                 run_fingerprint="test")


def test_training_learns_and_logs_history(small_sets):
    model, history = _fit(small_sets, 3)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_balanced_accuracy"] > 0.45  # 5 classes: chance is 0.2 (45 Adamax steps so far)
    assert not model.training


def test_seeded_runs_are_identical(small_sets):
    a, _ = _fit(small_sets, 1)
    b, _ = _fit(small_sets, 1)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], rtol=0, atol=0)


def test_killed_run_resumes_from_its_checkpoint_to_the_same_result(small_sets, tmp_path):
    uninterrupted, full_history = _fit(small_sets, 3)

    class KilledAtEpoch3(CrossEntropy):
        def __call__(self, model, x, y, mask, epoch):
            if epoch == 3:
                raise KeyboardInterrupt  # what a killed process looks like from the inside
            return super().__call__(model, x, y, mask, epoch)

    with pytest.raises(KeyboardInterrupt):
        _fit(small_sets, 3, checkpoint_dir=tmp_path, objective=KilledAtEpoch3())
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert saved["epoch"] == 2
    resumed, history = _fit(small_sets, 3, checkpoint_dir=tmp_path)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for k, v in uninterrupted.state_dict().items():
        torch.testing.assert_close(v, resumed.state_dict()[k], rtol=0, atol=0)
    assert history[-1]["train_loss"] == pytest.approx(full_history[-1]["train_loss"])


def test_nan_loss_names_epoch_and_batch_and_keeps_the_last_good_checkpoint(small_sets, tmp_path):
    class DivergesAtEpoch2Batch3(CrossEntropy):
        batch = 0

        def __call__(self, model, x, y, mask, epoch):
            loss, logits, stats = super().__call__(model, x, y, mask, epoch)
            if epoch == 2:
                self.batch += 1
                if self.batch == 3:
                    loss = loss * float("nan")
            return loss, logits, stats

    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 2, batch 3/\d+; the last good checkpoint"):
        _fit(small_sets, 3, checkpoint_dir=tmp_path, objective=DivergesAtEpoch2Batch3())
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["epoch"] == 1


def test_bad_configuration_errors(small_sets):
    with pytest.raises(EcgDataError, match="unknown optimizer 'adagrad2'"):
        _fit(small_sets, 1, optimizer="adagrad2")
    with pytest.raises(EcgDataError, match="unknown training objective 'mixup'"):
        build_objective("mixup")
    with pytest.raises(EcgDataError, match=r"'training.epochs': expected a positive integer, got 0"):
        _fit(small_sets, 0)
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_padded_sets_batch_with_masks(shared_data):
    from ecg_pipeline.data.cinc2017 import pad_cinc2017, read_cinc2017

    padded = pad_cinc2017(read_cinc2017(shared_data / "cinc2017" / "training2017.zip", max_records=20))
    batches = Batches(padded)
    x, y, mask = next(batches.epoch(8, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (8, 1, 18000) and mask.shape == (8, 1, 18000) and y.shape == (8,)
    assert (x[mask == 0] == 0).all()
    assert np.isin(y.numpy(), [0, 1, 2, 3]).all()


def test_the_default_optimizer_updates_all_tensors_at_once_with_the_same_arithmetic():
    """foreach Adamax (the trainer's default) gives the weights the per-parameter loop gives."""
    from ecg_pipeline.defenses.trainer import build_optimizer, descend
    from ecg_pipeline.defenses.objectives import NSR

    x, y = torch.rand(32, 1, 187), torch.randint(0, 5, (32,))
    weights = {}
    for foreach in (True, False):
        torch.manual_seed(0)
        model = build_model("mlp")
        opt = build_optimizer("adamax", model.parameters(), lr=1e-2, **({} if foreach else {"foreach": False}))
        assert opt.defaults["foreach"] is foreach
        for _ in range(5):
            descend(NSR(beta=0.4)(model, x, y, None, 1)[0], opt, list(model.parameters()))
        weights[foreach] = model.state_dict()
    for key, value in weights[True].items():
        torch.testing.assert_close(value, weights[False][key], rtol=1e-6, atol=1e-7)
    torch.manual_seed(0)
    assert not torch.equal(weights[True]["head.weight"], build_model("mlp").state_dict()["head.weight"])  # it trained


def test_the_training_accuracy_counts_every_batch_once_when_counted_in_groups(small_sets, monkeypatch):
    """The trainer counts correct predictions every COUNT_CORRECT_EVERY batches (and at the epoch's end): the
    history's train_accuracy is the per-batch count all the same."""
    from ecg_pipeline.defenses import trainer

    monkeypatch.setattr(trainer, "COUNT_CORRECT_EVERY", 4)
    counted = {}

    class Counting(CrossEntropy):
        def __call__(self, model, x, y, mask, epoch):
            loss, logits, stats = super().__call__(model, x, y, mask, epoch)
            right, seen = counted.get(epoch, (0, 0))
            counted[epoch] = right + int((logits.argmax(1) == y).sum()), seen + len(y)
            return loss, logits, stats

    _, history = _fit(small_sets, 2, objective=Counting())
    n_batches = -(-len(small_sets[0]) // 64)
    assert n_batches % 4 != 0  # the last group is short: counted at the epoch's end
    for row in history:
        right, seen = counted[row["epoch"]]
        assert seen == len(small_sets[0]) and row["train_accuracy"] == right / seen
    assert 0.2 < history[-1]["train_accuracy"] < 1.0


def test_logits_of_another_length_than_the_labels_are_an_error_naming_the_run(small_sets):
    class DropsARow(CrossEntropy):
        def __call__(self, model, x, y, mask, epoch):
            loss, logits, stats = super().__call__(model, x, y, mask, epoch)
            return loss, logits[:-1], stats

    with pytest.raises(EcgModelError, match=r"training: the objective returned logits for \d+ samples .* expected one "
                                            r"row per sample"):
        _fit(small_sets, 1, objective=DropsARow())
