"""A run's identity: the code version (what changes a trained model, not how the source is laid out), and
``fit``'s checkpoint folder and model ``meta`` (issue 26: a run with fewer epochs after a longer one must not
return the longer model)."""

from __future__ import annotations

import shutil

import pytest
import torch

import ecg_pipeline
from ecg_pipeline.defenses import TrainingConfig, fit
from ecg_pipeline.defenses import identity
from ecg_pipeline.defenses.trainer import CHECKPOINT_FILE


@pytest.fixture
def package(tmp_path):
    """A copy of the package's training code (``CODE_PATHS``) and one file outside it."""
    root = tmp_path / "pkg"
    for entry in identity.CODE_PATHS:
        source = identity.PACKAGE / entry
        (root / entry).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / entry)
    (root / "reporting").mkdir()
    (root / "reporting" / "report.py").write_text("X = 1\n")
    return root


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_code_version_ignores_docstrings_comments_and_layout(package):
    before = identity.code_version(package)
    assert before == identity.code_version(identity.PACKAGE)  # where the code lies does not matter
    trainer = package / "defenses" / "trainer.py"
    _edit(trainer, '"""Predicted class per sample (eval mode, restored afterwards)."""',
          '"""Predicted class per sample,\n    reflowed (eval mode, restored afterwards)."""')
    _edit(trainer, "    was_training = model.training\n", "    # a comment\n    was_training = (model.training)\n")
    (package / "reporting" / "report.py").write_text("X = 2\n")  # not training code
    assert identity.code_version(package) == before


@pytest.mark.parametrize("path, old, new", [
    ("defenses/trainer.py", "    was_training = model.training\n", "    was_training = not model.training\n"),
    ("defenses/objectives/nsr.py", "signal + 0.01", "signal + 0.02"),
    ("defenses/checkpoints.py", '"epoch": epoch,', '"epoch": epoch + 0,'),
    ("models/mlp.py", "class MLP", "SOMETHING = 1\n\n\nclass MLP"),
    ("data/batches.py", "class Batches", "SOMETHING = 1\n\n\nclass Batches"),
])
def test_a_code_change_changes_the_code_version(package, path, old, new):
    before = identity.code_version(package)
    _edit(package / path, old, new)
    assert identity.code_version(package) != before


def _config(epochs, **kw):
    return TrainingConfig(model={"name": "mlp"}, epochs=epochs, batch_size=32, device="cpu", progress=False,
                          num_threads=1, **kw)


def test_the_code_files_cover_every_module_of_the_training_code():
    """The objectives package, the checkpoints and the optimisation helpers are training code: a change there retires
    a checkpoint."""
    files = {p.relative_to(identity.PACKAGE).as_posix() for p in identity.code_files()}
    defenses = {p.relative_to(identity.PACKAGE).as_posix() for p in (identity.PACKAGE / "defenses").rglob("*.py")}
    assert defenses <= files
    assert {"defenses/objective_base.py", "defenses/objectives/nsr.py", "defenses/checkpoints.py",
            "defenses/optimisation.py", "defenses/trainer.py", "defenses/atk_gan.py"} <= files


def test_fit_with_fewer_epochs_after_a_longer_run_trains_them(synthetic_beats, tmp_path):
    """Issue 26's `kedro run --pipelines=train_ce --namespaces=ce_mlp --env=ci` after a longer run, through fit:
    the same checkpoint folder, and the shorter run's own model back."""
    data = synthetic_beats(10)
    longer, _, _ = fit(_config(3), data, None, checkpoints=tmp_path, run_name="ce_mlp")
    shorter, meta, history = fit(_config(2), data, None, checkpoints=tmp_path, run_name="ce_mlp")
    alone, alone_meta, alone_history = fit(_config(2), data, None, checkpoints=None, run_name="ce_mlp")
    assert len(history) == meta["epochs"] == 2
    assert not all(torch.equal(a, b) for a, b in zip(shorter.parameters(), longer.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(shorter.parameters(), alone.parameters()))
    assert meta["fingerprint"] == alone_meta["fingerprint"]  # the folder: the configuration without its epochs
    assert torch.load(tmp_path / meta["fingerprint"] / CHECKPOINT_FILE, weights_only=True)["epoch"] == 2


def test_a_models_meta_carries_the_identity_it_was_trained_under(synthetic_beats, tmp_path):
    data = synthetic_beats(10)
    _, meta, _ = fit(_config(1), data, None, checkpoints=tmp_path, run_name="ce_mlp")
    _, meta_2, _ = fit(_config(2), data, None, checkpoints=None, run_name="ce_mlp")
    assert meta["code_version"] == identity.code_version() and meta["num_threads"] == 1 and meta["device"] == "cpu"
    assert meta["package_version"] == ecg_pipeline.__version__
    assert meta["git_commit"] == identity.git_commit()
    assert meta_2["fingerprint"] == meta["fingerprint"] and meta_2["config_fingerprint"] != meta["config_fingerprint"]
    stored = torch.load(tmp_path / meta["fingerprint"] / CHECKPOINT_FILE, weights_only=True)["identity"]
    assert stored["data_fingerprint"] == meta["data_fingerprint"]
    assert {k: stored[k] for k in ("code_version", "num_threads", "device")} == {
        k: meta[k] for k in ("code_version", "num_threads", "device")}
