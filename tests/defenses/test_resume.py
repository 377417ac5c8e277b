"""Training a user can leave and come back to: mid-epoch checkpoints, Ctrl-C, and a resumed run that is
bit-identical to an uninterrupted one; and a checkpoint that is not this run's is never used silently (the
decision table of ``ecg_pipeline.defenses.checkpoints``). Tiny synthetic beats in memory (10 batches an epoch,
3 epochs)."""

import logging
import os
import signal

import numpy as np
import pytest
import torch

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.data.padding import pack_signals
from ecg_pipeline.defenses import checkpoints, trainer
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import Adversarial, CrossEntropy, Decorrelated, Jacobian, NSR
from ecg_pipeline.defenses.objectives.trades import Trades
from ecg_pipeline.defenses.checkpoints import CHECKPOINT_FILE, PARTIAL_CHECKPOINT_FILE
from ecg_pipeline.defenses.trainer import train
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model

EPOCHS, BATCHES = 3, 10
RESUME = "kedro run --pipelines=train_ce --namespaces=tiny"

OBJECTIVES = {
    "ce": CrossEntropy,
    "nsr": lambda: NSR(beta=0.4, eps_max=1.0),
    # Its PGD random starts are seeded per (epoch, batch): the batch counter must survive a resume.
    "adversarial": lambda: Adversarial(eps=0.05, steps=1, step_size=0.05),
    # Its roles and projections come from its own generator: that state must survive a resume too.
    "decorrelation": lambda: Decorrelated(lam=0.2, projection_dim=8, seed=3),
    # Its random projections (Hoffman et al. 2019) come from its own generator, kept in the checkpoint.
    "jacobian_projected": lambda: Jacobian(lam=0.05, projections=1, seed=3),
    # Its inner maximisation starts from seeded noise per (epoch, batch) (Zhang et al. 2019, algorithm 1).
    "trades": lambda: Trades(beta=6.0, eps=0.05, steps=2, step_size=0.02),
}


@pytest.fixture(scope="module")
def tiny_sets(synthetic_beats):
    return Batches(synthetic_beats(32, seed=0)), Batches(synthetic_beats(6, seed=1))  # 160 beats: 10 batches of 16


def _sets_for(objective, tiny_sets, synthetic_beats):
    """The decorrelation objective reads two earlier members' (here random) features per beat."""
    if not getattr(objective, "extras", ()):
        return tiny_sets
    previous = torch.randn(160, 2, build_model("mlp").head.in_features, generator=torch.Generator().manual_seed(9))
    train = {**synthetic_beats(32, seed=0), "previous_features": previous.numpy()}
    return Batches(train, extras=objective.extras), tiny_sets[1]


def _fit(sets, objective, checkpoint_dir=None, **kw):
    torch.manual_seed(0)
    config = TrainingConfig(**{"epochs": EPOCHS, "batch_size": 16, "seed": 0, "device": "cpu", "progress": False, **kw})
    return train(build_model("mlp"), *sets, config, objective=objective, checkpoint_dir=checkpoint_dir,
                 run_fingerprint="test", run_name="tiny", resume_command=RESUME)


def _without_seconds(history):
    return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in history]  # wall times differ


def _assert_same_run(a, b):
    (model_a, history_a), (model_b, history_b) = a, b
    for (name, p), q in zip(model_a.named_parameters(), model_b.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert _without_seconds(history_a) == _without_seconds(history_b)


def at_batch(objective, epoch, batch, action):
    """``objective`` that calls ``action()`` at the start of ``batch`` of ``epoch`` (1-based)."""

    class Wrapped(type(objective)):
        calls = {}

        def __call__(self, model, x, y, mask, e, **by_sample):
            self.calls[e] = self.calls.get(e, 0) + 1
            if (e, self.calls[e]) == (epoch, batch):
                action()
            return super().__call__(model, x, y, mask, e, **by_sample)

    objective.__class__ = Wrapped
    return objective


def _kill():
    raise RuntimeError("killed")  # a crash or kill -9: nothing is saved on the way out


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


# Training options with state of their own: the rows seen this epoch (renorm) and a validation attack whose random
# draws must leave the run's own untouched.
OPTIONS = {
    "renorm_rows": {"renorm_rows": True},
    "validation_attack": {"validation_attack": {"per_class": 4, "params": {"steps": 3, "restarts": 1, "max_queries": 10,
                                                                           "attacks": ["apgd_ce", "square"]}}},
}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_killed_mid_epoch_a_run_with_a_stateful_option_resumes_bit_identical(tiny_sets, tmp_path, option):
    options = {**OPTIONS[option], "num_threads": 1}
    uninterrupted = _fit(tiny_sets, CrossEntropy(), **options)
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tiny_sets, at_batch(CrossEntropy(), 2, 6, _kill), tmp_path, checkpoint_every_s=1e-6, **options)
    resumed = _fit(tiny_sets, CrossEntropy(), tmp_path, checkpoint_every_s=1e-6, **options)
    _assert_same_run(uninterrupted, resumed)


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_killed_mid_epoch_the_run_resumes_from_the_timed_checkpoint_bit_identical(tiny_sets, tmp_path, name,
                                                                                  synthetic_beats):
    tiny_sets = _sets_for(OBJECTIVES[name](), tiny_sets, synthetic_beats)
    uninterrupted = _fit(tiny_sets, OBJECTIVES[name]())
    # A 1 us interval: a mid-epoch checkpoint after every batch; killed during batch 6 of epoch 2.
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tiny_sets, at_batch(OBJECTIVES[name](), 2, 6, _kill), tmp_path, checkpoint_every_s=1e-6)
    saved = torch.load(tmp_path / PARTIAL_CHECKPOINT_FILE, weights_only=True)
    assert (saved["epoch"], saved["batch"]) == (1, 5)
    resumed = _fit(tiny_sets, OBJECTIVES[name](), tmp_path, checkpoint_every_s=1e-6)
    _assert_same_run(uninterrupted, resumed)
    assert not (tmp_path / PARTIAL_CHECKPOINT_FILE).exists()  # its epoch ended: the epoch-end one holds it all
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["epoch"] == EPOCHS


def test_ctrl_c_saves_at_the_batch_boundary_and_says_how_to_resume(tiny_sets, tmp_path, capsys):
    uninterrupted = _fit(tiny_sets, CrossEntropy())
    # Ctrl-C during batch 3 of epoch 2 (no timed checkpoints): that batch ends, then the run stops.
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_sets, at_batch(CrossEntropy(), 2, 3, _ctrl_c), tmp_path, checkpoint_every_s=0)
    path = tmp_path / PARTIAL_CHECKPOINT_FILE
    saved = torch.load(path, weights_only=True)
    assert (saved["epoch"], saved["batch"]) == (1, 3)
    assert capsys.readouterr().err.strip() == (
        f"tiny: interrupted; kept epoch 2, batch 3 of {BATCHES} in {path}; `{RESUME}` resumes from there")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is Python's again
    resumed = _fit(tiny_sets, CrossEntropy(), tmp_path, checkpoint_every_s=0)
    _assert_same_run(uninterrupted, resumed)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tiny_sets, tmp_path, capsys):
    def twice():
        _ctrl_c()
        _ctrl_c()

    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_sets, at_batch(CrossEntropy(), 2, 3, twice), tmp_path, checkpoint_every_s=0)
    assert not (tmp_path / PARTIAL_CHECKPOINT_FILE).exists()  # mid-batch: nothing consistent to save
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["epoch"] == 1
    assert capsys.readouterr().err.strip() == (
        f"tiny: interrupted; kept the end of epoch 1 in {tmp_path / CHECKPOINT_FILE}; `{RESUME}` resumes from there")


def test_the_progress_bar_spans_the_whole_run_and_restarts_where_it_stopped(tiny_sets, tmp_path, monkeypatch):
    """One bar for the run, so its ETA covers every remaining epoch; a resumed run's bar starts where it stopped."""
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tiny_sets, at_batch(CrossEntropy(), 2, 6, _kill), tmp_path, checkpoint_every_s=1e-6)
    bars = []

    class Bar(trainer.tqdm):
        def __init__(self, **kw):
            bars.append(kw)
            super().__init__(**kw)

    monkeypatch.setattr(trainer, "tqdm", Bar)
    _fit(tiny_sets, CrossEntropy(), tmp_path)
    assert [(bar["total"], bar["initial"]) for bar in bars] == [(EPOCHS * BATCHES, BATCHES + 5)]


def test_checkpoint_interval_is_checked_and_not_fingerprinted():
    with pytest.raises(EcgDataError, match=r"'training.checkpoint_every_s': expected a number >= 0"):
        TrainingConfig(checkpoint_every_s=-1)
    assert TrainingConfig().checkpoint_every_s == 300
    assert TrainingConfig(checkpoint_every_s=5).fingerprinted() == TrainingConfig().fingerprinted()


def test_a_resumed_epoch_of_shifted_padded_records_skips_to_the_same_batches():
    """A resumed epoch draws its order and random shifts again from the epoch-start states, then skips."""
    packed = pack_signals([np.arange(n, dtype=np.float32)[None] for n in range(50, 90)], 100, align="right")
    data = Batches({**packed, "y": np.arange(40) % 3}, max_shift=30)

    def epoch(skip):
        generator, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)
        batches = list(data.epoch(8, generator=generator, rng=rng, skip=skip))
        return batches, generator.get_state(), rng.bit_generator.state

    (full, g_full, r_full), (rest, g_rest, r_rest) = epoch(0), epoch(2)
    assert len(rest) == len(full) - 2
    for (x, y, mask), (x2, y2, mask2) in zip(full[2:], rest, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2) and torch.equal(mask, mask2)
    assert torch.equal(g_full, g_rest) and r_full == r_rest  # the next epoch draws the same either way


# --- which checkpoint a run may use (the decision table of ecg_pipeline.defenses.checkpoints) -----------------

def counting(objective):
    """``objective`` that counts the batches it trains (``.calls``): a resumed run trains fewer than a fresh one."""

    class Counted(type(objective)):
        calls = 0

        def __call__(self, *args, **kw):
            type(self).calls += 1
            return super().__call__(*args, **kw)

    objective.__class__ = Counted
    return objective


def _same_weights(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _decisions(caplog):
    """The lines about checkpoints: (level, message)."""
    return [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == checkpoints.__name__ and ("checkpoint" in r.getMessage() or "resuming" in r.getMessage())]


def _killed_in_epoch_2(tiny_sets, folder, **kw):
    """A 3-epoch run killed during batch 6 of epoch 2: a mid-epoch checkpoint that a matching run resumes."""
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tiny_sets, at_batch(CrossEntropy(), 2, 6, _kill), folder, checkpoint_every_s=1e-6, **kw)
    assert (folder / PARTIAL_CHECKPOINT_FILE).exists()


def test_a_shorter_run_after_a_longer_one_starts_fresh_and_never_returns_the_longer_model(tiny_sets, tmp_path,
                                                                                          caplog):
    """The surprise of issue 26: ``epochs`` was not fingerprinted, so a 2-epoch run after a 3-epoch one in the
    same folder "resumed from the end of epoch 3" and returned the 3-epoch model without training."""
    longer, _ = _fit(tiny_sets, CrossEntropy(), tmp_path)
    fresh_2, fresh_history = _fit(tiny_sets, CrossEntropy(), epochs=2)
    with caplog.at_level(logging.INFO):
        model, history = _fit(tiny_sets, CrossEntropy(), tmp_path, epochs=2)
    assert [row["epoch"] for row in history] == [1, 2]
    assert not _same_weights(model, longer)
    _assert_same_run((model, history), (fresh_2, fresh_history))  # the same seed gives the same 2-epoch model
    assert _decisions(caplog) == [("WARNING", f"tiny: starting fresh, not resuming checkpoint {tmp_path / CHECKPOINT_FILE}: "
                                   f"it holds 3 epoch(s), more than the 2 this run asks (a shorter run never returns "
                                   f"a longer model); moved to {tmp_path / checkpoints.SUPERSEDED}")]
    assert torch.load(tmp_path / checkpoints.SUPERSEDED / CHECKPOINT_FILE, weights_only=True)["epoch"] == 3  # not lost
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["identity"]["epochs"] == 2


def test_an_exact_match_resumes_and_a_finished_one_is_returned_without_training(tiny_sets, tmp_path, caplog):
    uninterrupted = _fit(tiny_sets, CrossEntropy())
    _killed_in_epoch_2(tiny_sets, tmp_path)
    with caplog.at_level(logging.INFO):
        resumed = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path)
    _assert_same_run(uninterrupted, resumed)
    assert objective.calls == 5 + BATCHES  # the rest of epoch 2, then epoch 3
    assert _decisions(caplog) == [("INFO", f"tiny: resuming from epoch 2, batch 5 of {BATCHES} "
                                           f"({tmp_path / PARTIAL_CHECKPOINT_FILE})")]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        again = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path)
    _assert_same_run(uninterrupted, again)
    assert objective.calls == 0
    assert "nothing left to train" in _decisions(caplog)[0][1]


def test_a_longer_run_extends_a_shorter_one_only_when_its_configuration_says_so(tiny_sets, tmp_path, caplog):
    uninterrupted = _fit(tiny_sets, CrossEntropy())  # 3 epochs
    _fit(tiny_sets, CrossEntropy(), tmp_path, epochs=2)
    with caplog.at_level(logging.INFO):
        extended = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path, resume="extend")
    assert objective.calls == BATCHES  # epoch 3 only
    _assert_same_run(uninterrupted, extended)  # bit-identical to 3 epochs in one go
    assert _decisions(caplog) == [("WARNING", f"tiny: extending the checkpoint of a 2-epoch run from the end of epoch 2 "
                                              f"to 3 epochs (resume: extend; {tmp_path / CHECKPOINT_FILE})")]


def test_extend_never_continues_a_run_asked_for_more_epochs(tiny_sets, tmp_path, caplog):
    _killed_in_epoch_2(tiny_sets, tmp_path)  # a 3-epoch run holding 1 epoch and 5 batches
    fresh_2 = _fit(tiny_sets, CrossEntropy(), epochs=2)
    with caplog.at_level(logging.INFO):
        shorter = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path, epochs=2, resume="extend")
    assert objective.calls == 2 * BATCHES
    _assert_same_run(fresh_2, shorter)
    [(level, line)] = _decisions(caplog)
    assert level == "WARNING" and line.endswith(f"it is of a 3-epoch run (it holds 1 epoch(s) and 5 batch(es)), this "
                                                f"run asks 2; moved to {tmp_path / checkpoints.SUPERSEDED}")


def test_by_default_a_longer_run_does_not_extend_a_shorter_one(tiny_sets, tmp_path, caplog):
    _fit(tiny_sets, CrossEntropy(), tmp_path, epochs=2)
    with caplog.at_level(logging.INFO):
        model, history = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path)
    assert objective.calls == EPOCHS * BATCHES and len(history) == EPOCHS  # trained from the start
    [(level, line)] = _decisions(caplog)
    assert level == "WARNING" and "starting fresh" in line
    assert line.endswith(f"it is of a 2-epoch run (it holds 2 epoch(s)), this run asks 3; 'training.resume: extend' "
                         f"continues it; moved to {tmp_path / checkpoints.SUPERSEDED}")


def test_a_code_change_starts_fresh_saying_so(tiny_sets, tmp_path, caplog, monkeypatch):
    uninterrupted = _fit(tiny_sets, CrossEntropy())
    _killed_in_epoch_2(tiny_sets, tmp_path)
    written_by = torch.load(tmp_path / PARTIAL_CHECKPOINT_FILE, weights_only=True)["identity"]["code_version"]
    monkeypatch.setattr(checkpoints, "code_version", lambda: "0123456789abcdef")
    with caplog.at_level(logging.INFO):
        model, history = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path)
    assert objective.calls == EPOCHS * BATCHES
    _assert_same_run(uninterrupted, (model, history))
    [(level, line)] = _decisions(caplog)
    assert level == "WARNING" and (f"it was written by other code (code version {written_by}, this run "
                                   "0123456789abcdef)") in line
    assert sorted(p.name for p in (tmp_path / checkpoints.SUPERSEDED).iterdir()) == sorted([CHECKPOINT_FILE,
                                                                                          PARTIAL_CHECKPOINT_FILE])


def test_another_thread_count_starts_fresh_naming_the_setting_that_resumes(tiny_sets, tmp_path, caplog):
    _killed_in_epoch_2(tiny_sets, tmp_path, num_threads=1)
    assert torch.load(tmp_path / PARTIAL_CHECKPOINT_FILE, weights_only=True)["identity"]["num_threads"] == 1
    with caplog.at_level(logging.INFO):
        _, history = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path, num_threads=2)
    assert objective.calls == EPOCHS * BATCHES and len(history) == EPOCHS
    [(level, line)] = _decisions(caplog)
    assert level == "WARNING" and ("it was trained with 1 CPU thread(s), this run has 2 (set num_threads: 1 to "
                                   "resume it)") in line


def test_resume_fresh_ignores_a_matching_checkpoint(tiny_sets, tmp_path, caplog):
    _killed_in_epoch_2(tiny_sets, tmp_path)
    with caplog.at_level(logging.INFO):
        _, history = _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path, resume="fresh")
    assert objective.calls == EPOCHS * BATCHES and len(history) == EPOCHS
    [(level, line)] = _decisions(caplog)
    assert level == "WARNING" and "starting fresh" in line and ": resume: fresh; moved to" in line
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["epoch"] == EPOCHS


def test_a_checkpoint_written_before_identities_is_not_used(tiny_sets, tmp_path, caplog):
    _killed_in_epoch_2(tiny_sets, tmp_path)
    for name in (CHECKPOINT_FILE, PARTIAL_CHECKPOINT_FILE):  # as the trainer before issue 26 wrote them
        state = torch.load(tmp_path / name, weights_only=True)
        del state["identity"]
        torch.save(state, tmp_path / name)
    with caplog.at_level(logging.INFO):
        _fit(tiny_sets, objective := counting(CrossEntropy()), tmp_path)
    assert objective.calls == EPOCHS * BATCHES
    [(level, line)] = _decisions(caplog)
    assert level == "WARNING" and "written before checkpoints recorded their identity" in line


def test_a_checkpoint_records_the_identity_of_its_run(tiny_sets, tmp_path):
    from ecg_pipeline.defenses.identity import code_version

    _fit(tiny_sets, CrossEntropy(), tmp_path, epochs=1, num_threads=1)
    identity = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["identity"]
    assert identity == {"run": "test", "epochs": 1, "code_version": code_version(), "num_threads": 1,
                        "device": "cpu", "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def test_resume_is_checked_and_not_fingerprinted():
    with pytest.raises(EcgDataError, match=r"'runs.ce_mlp.resume': expected one of \['auto', 'extend', 'fresh'\]"):
        TrainingConfig.from_params({"resume": "restart"}, "runs.ce_mlp")
    assert TrainingConfig(resume="fresh").fingerprinted() == TrainingConfig().fingerprinted()
    # the epoch count is in the identity, not in the folder's fingerprint
    assert TrainingConfig(epochs=3).fingerprinted() != TrainingConfig().fingerprinted()
    assert TrainingConfig(epochs=3).fingerprinted(epochs=False) == TrainingConfig().fingerprinted(epochs=False)
