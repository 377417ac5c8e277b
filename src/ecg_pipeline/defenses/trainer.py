"""The one training loop: any model, any objective, any model-input set; seeded, checkpointed, resumable.

A checkpoint (``defenses.checkpoints``) is written atomically after every epoch and, every
``checkpoint_every_s`` seconds, between two batches of an epoch (only the newest of those is kept, and it goes
when its epoch ends). Running the same training again with a checkpoint folder that holds one for the same
configuration continues from the newest, as the decision table of ``defenses.checkpoints`` allows; the result
is bit-identical to an uninterrupted run (same seed, same batches). Ctrl-C stops at the next batch boundary,
saves a checkpoint there and prints one line saying what was kept and how to resume (a second Ctrl-C stops at
once, keeping the last checkpoint). A loss that turns NaN or infinite stops the run with an error naming the
epoch and batch, and the last good checkpoint stays on disk.

The objective (``defenses.objective_base.Objective``) is bound once to the model, device and the run's optimizer
factory (ECG-ATK-GAN builds its generator and the generator's optimizer there) and keeps its own state in the
checkpoint; an objective with ``extras`` gets those per-beat arrays of each batch as ``extra={name: tensor}``.
With ``select_best`` (a history column such as ``val_accuracy``), the model and the objective's state of the
epoch that maximised it are kept (in the checkpoint too) and returned instead of the last epoch's, that row
marked ``selected``.

The loop is :class:`TrainingRun`, one method per named step: :meth:`~TrainingRun.run` (the epochs),
:meth:`~TrainingRun.epoch` (its batches), :meth:`~TrainingRun.step` (one batch: objective, check, descent,
running sums), :meth:`~TrainingRun.end_epoch` (history row, validation, selection, checkpoint),
:meth:`~TrainingRun.save`, :meth:`~TrainingRun.interrupted` and :meth:`~TrainingRun.finish`.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError, EcgModelError
from ecg_pipeline.evaluation.epoch_robustness import COLUMN as ROBUST_COLUMN
from ecg_pipeline.evaluation.metrics import classification_metrics
from ecg_pipeline.models import logits_of
from ecg_pipeline.runtime import resolve_device, torch_threads

from .checkpoints import (CHECKPOINT_FILE, IDENTITY_KEYS, PARTIAL_CHECKPOINT_FILE, position, restore, run_identity,
                          save_atomic, snapshot, stored_checkpoint)
from .config import TrainingConfig
from .objective_base import Objective, ObjectiveResult, as_objective
from .optimisation import TrainingDiverged, build_optimizer, descend
from .row_renorm import RowRenorm

__all__ = ["CHECKPOINT_FILE", "PARTIAL_CHECKPOINT_FILE", "TrainingDiverged", "TrainingRun", "build_optimizer",
           "descend", "predict", "train"]

log = logging.getLogger(__name__)

# Per-batch bookkeeping kept off the step (issue 27: on the MLP, whose CE step is about 1 ms, each extra tensor
# op between two steps costs 10-30 us, cold in cache after the backward pass):
COUNT_CORRECT_EVERY = 64    # batches whose logits wait for one argmax over all of them (the count is the same)
PROGRESS_EVERY_S = 1.0      # the bar's redraw and loss field at most this often (each redraw writes to the terminal)


def train(
    model: nn.Module,
    train_data: Batches,
    validation_data: Batches | None,
    config: TrainingConfig,
    *,
    objective: Objective | Callable[..., ObjectiveResult],
    checkpoint_dir: str | Path | None = None,
    run_fingerprint: str = "",
    run_name: str = "training",
    resume_command: str | None = None,
    identity: dict | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Train ``model`` in place as ``config`` says; returns the model (eval mode) and per-epoch history.

    ``objective``: an :class:`~ecg_pipeline.defenses.objective_base.Objective`, or a plain function of the same
    call shape (given every default). ``resume_command``: what the user runs to continue after Ctrl-C (named in
    the message then). ``identity``: what the run is (:func:`~ecg_pipeline.defenses.checkpoints.run_identity`; by
    default that of ``config`` and ``run_fingerprint``), recorded in every checkpoint and compared with a stored
    one's (the table of ``defenses.checkpoints``).
    """
    with torch_threads(config.num_threads):
        if identity is None or not IDENTITY_KEYS <= identity.keys():  # fit() passes it whole: no second code hash
            identity = {**run_identity(config, run_fingerprint), **(identity or {})}
        run = TrainingRun(model, train_data, validation_data, config, objective=as_objective(objective),
                          folder=Path(checkpoint_dir) if checkpoint_dir else None, run_fingerprint=run_fingerprint,
                          run_name=run_name, resume_command=resume_command, identity=identity)
        return run.run()


@torch.inference_mode()
def predict(model: nn.Module, data: Batches, *, batch_size: int = 1024, device: torch.device | None = None) -> np.ndarray:
    """Predicted class per sample (eval mode, restored afterwards)."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for x, _, mask in data.epoch(batch_size, shuffle=False):
        x = x.to(device)
        mask = mask.to(device) if mask is not None else None
        out.append(logits_of(model, x, mask).argmax(1).cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


class CtrlCBetweenBatches:
    """While training, the first Ctrl-C only sets :attr:`pressed`, which the loop reads between batches, where
    model, optimizer and random states agree and can be saved; a second one interrupts at once. Outside the main
    thread (ThreadRunner) no handler can be set and Ctrl-C lands wherever it does."""

    def __init__(self) -> None:
        self.pressed = False
        self.installed = threading.current_thread() is threading.main_thread()
        self.previous = None

    def on_sigint(self, signum, frame) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self) -> CtrlCBetweenBatches:
        if self.installed:
            self.previous = signal.signal(signal.SIGINT, self.on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.SIG_DFL)


class TrainingRun:
    """One training run: its parts (model, optimizer, objective, random generators, checkpoint folder) and where
    it stands (epochs finished, batches of the next one done, that epoch's running sums, the history, and with
    ``select_best`` the best epoch so far: its score and its model and objective states)."""

    def __init__(self, model: nn.Module, train_data: Batches, validation_data: Batches | None, config: TrainingConfig,
                 *, objective: Objective, folder: Path | None, run_fingerprint: str, run_name: str,
                 resume_command: str | None, identity: dict):
        self.model, self.train_data, self.validation_data, self.config = model, train_data, validation_data, config
        self.objective, self.folder, self.run_fingerprint, self.run_name = objective, folder, run_fingerprint, run_name
        self.resume_command, self.identity = resume_command, identity
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        model.to(self.device)
        if config.select_best and config.select_best.startswith("val_") and not (validation_data and len(validation_data)):
            raise EcgDataError(f"{run_name}: select_best {config.select_best!r} needs a validation set; none was given")
        self.optimizer = self.make_optimizer(model.parameters())
        objective.bind(model, self.device, self.make_optimizer)
        self.renorm = RowRenorm(model, config.seed) if config.renorm_rows else None
        if self.renorm is not None:
            self.renorm.start()  # a resumed run then loads its stored weights over these
        self.epoch_robustness = config.epoch_robustness()
        if self.epoch_robustness is not None and not (validation_data and len(validation_data)):
            raise EcgDataError(f"{run_name}: validation_attack needs a validation set; none was given")
        self.weights = [p for p in model.parameters() if p.requires_grad]
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        n_batches = -(-train_data.epoch_length // config.batch_size)
        self.n_batches = min(n_batches, config.max_batches_per_epoch) if config.max_batches_per_epoch else n_batches
        self.history: list[dict] = []
        self.epochs_done, self.batches_done, self.running = 0, 0, None
        self.uncounted: list[tuple[torch.Tensor, torch.Tensor]] = []  # (logits, labels) not yet in running["correct"]
        self.postfix_at = 0.0
        self.best: dict | None = None
        self.kept: tuple[Path, str] | None = None  # the newest checkpoint on disk and its position (Ctrl-C says it)
        self.between_batches = True  # the state is one a checkpoint can hold (Ctrl-C may save it)
        self.saved_at, self.t0 = time.monotonic(), time.perf_counter()
        self.resume()
        self.epoch_rng = self.rng_states()

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        """The run's optimizer over ``params`` (the objective's companion models get theirs from here too)."""
        return build_optimizer(self.config.optimizer, params, lr=self.config.lr, **(self.config.optimizer_args or {}))

    def rng_states(self) -> tuple:
        return self.generator.get_state(), self.rng.bit_generator.state

    def resume(self) -> None:
        """Continue from the stored checkpoint the decision table allows, if any."""
        config = self.config
        found = (stored_checkpoint(self.folder, self.identity, config.resume, self.device, self.run_name,
                                   self.n_batches, config.section) if self.folder else None)
        if found is None:
            return
        path, state = found
        restore(state, model=self.model, optimizer=self.optimizer, device=self.device, generator=self.generator,
                rng=self.rng, objective=self.objective)
        self.history = list(state["history"])
        self.epochs_done, self.batches_done = int(state["epoch"]), int(state.get("batch", 0))
        self.running, self.best = state.get("running"), state.get("best")
        self.kept = path, position(self.epochs_done, self.batches_done, self.n_batches)

    def run(self) -> tuple[nn.Module, list[dict]]:
        """Every epoch left; Ctrl-C saves the run between two batches and says how to resume."""
        epochs = self.config.epochs
        # One bar for the whole run, so its ETA is that of every remaining epoch; smoothing=0 rates it by the
        # mean over the session, validation and checkpoints included.
        self.bar = tqdm(total=epochs * self.n_batches, initial=self.epochs_done * self.n_batches + self.batches_done,
                        desc=self.run_name, disable=not self.config.progress, leave=False, unit="batch", smoothing=0,
                        mininterval=PROGRESS_EVERY_S)
        self.saved_at, self.t0 = time.monotonic(), time.perf_counter()
        self.epoch_rng = self.rng_states()
        try:
            with CtrlCBetweenBatches() as ctrl_c:
                for epoch in range(self.epochs_done + 1, epochs + 1):
                    self.epoch(epoch, ctrl_c)
        except KeyboardInterrupt:
            self.bar.close()
            self.interrupted()
            raise
        finally:
            self.bar.close()
        return self.finish()

    def epoch(self, epoch: int, ctrl_c: CtrlCBetweenBatches) -> None:
        """The batches of ``epoch`` left to train, then its end."""
        self.model.train()
        self.epoch_rng = self.rng_states()
        self.running = self.running or {"loss": 0.0, "correct": 0, "seen": 0, "stats": {}, "seconds": 0.0,
                                        **({"rows_seen": self.renorm.fresh_seen()} if self.renorm else {})}
        self.t0 = time.perf_counter() - self.running["seconds"]
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        every_s = self.config.checkpoint_every_s
        batches = self.train_data.epoch(self.config.batch_size, generator=self.generator, rng=self.rng,
                                        skip=self.batches_done)
        for b, (x, y, mask, *extra) in enumerate(batches, start=self.batches_done + 1):
            if b > self.n_batches:
                break
            self.between_batches = False
            self.step(epoch, b, x, y, mask, extra[0] if extra else None)
            self.batches_done, self.between_batches = b, True
            now = time.monotonic()
            if now - self.postfix_at >= PROGRESS_EVERY_S:
                self.postfix_at = now
                self.bar.set_postfix(epoch=f"{epoch}/{self.config.epochs}",
                                     loss=f"{self.running['loss'] / self.running['seen']:.4f}", refresh=False)
            self.bar.update()
            if ctrl_c.pressed:
                raise KeyboardInterrupt
            if self.folder and every_s and b < self.n_batches and now - self.saved_at >= every_s:
                self.save(PARTIAL_CHECKPOINT_FILE)
        self.between_batches = False
        self.end_epoch(epoch)

    def step(self, epoch: int, b: int, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None,
             extra: dict[str, torch.Tensor] | None) -> None:
        """Batch ``b``: the objective's loss, checked finite, one descent step, the running sums (the correct
        count of this batch's logits joins them in :meth:`count_correct`, every ``COUNT_CORRECT_EVERY`` batches)."""
        dev, running = self.device, self.running
        if dev.type != "cpu":
            x, y = x.to(dev), y.to(dev)
            mask = mask.to(dev) if mask is not None else None
            extra = {k: v.to(dev) for k, v in extra.items()} if extra is not None else None
        if extra is not None:
            loss, logits, stats = self.objective(self.model, x, y, mask, epoch, extra=extra)
        else:
            loss, logits, stats = self.objective(self.model, x, y, mask, epoch)
        value = loss.item()  # the one read of the loss: the finiteness check and the running sum
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"{self.run_name}: loss is {value} at epoch {epoch}, batch {b}/{self.n_batches}; "
                f"the last good checkpoint ({self.kept[0] if self.kept else 'none'}) is kept"
            )
        descend(loss, self.optimizer, self.weights)
        if self.renorm is not None:
            self.renorm.after_step(running["rows_seen"])
        n = y.shape[0]
        running["loss"] += value * n
        self.uncounted.append((logits.detach(), y))
        if len(self.uncounted) >= COUNT_CORRECT_EVERY:
            self.count_correct()
        running["seen"] += n
        for k, v in stats.items():
            running["stats"][k] = running["stats"].get(k, 0.0) + float(v) * n

    def count_correct(self) -> None:
        """Add the correct predictions of the batches not yet counted to ``running["correct"]``: one argmax over
        their logits together instead of three small ops a batch (the same count: rows are independent)."""
        if not self.uncounted:
            return
        logits, labels = zip(*self.uncounted)
        self.uncounted = []
        predicted, y = torch.cat(logits).argmax(1), torch.cat(labels)
        if predicted.shape != y.shape:
            raise EcgModelError(f"{self.run_name}: the objective returned logits for {predicted.shape[0]} samples "
                                f"over the last batches, expected one row per sample ({y.shape[0]})")
        self.running["correct"] += int((predicted == y).sum())

    def end_epoch(self, epoch: int) -> None:
        """The epoch's history row (training sums, validation), the best epoch so far, its log line and checkpoint."""
        self.count_correct()
        running, seen = self.running, max(self.running["seen"], 1)
        redrawn = self.renorm.end_epoch(epoch, running["rows_seen"]) if self.renorm is not None else None
        row = {
            "epoch": epoch,
            "train_loss": running["loss"] / seen,
            "train_accuracy": running["correct"] / seen,
            **{f"train_{k}": v / seen for k, v in running["stats"].items()},
            **({"rows_redrawn": redrawn} if redrawn is not None else {}),
            **self.validate(),
        }
        row["seconds"] = time.perf_counter() - self.t0
        self.history.append(row)
        if self.config.select_best:
            self.best = _better(self.best, row, self.config.select_best, self.model, self.objective, self.run_name)
        self.bar.clear()  # the run's bar stays open: the epoch's line goes on a line of its own
        log.info(
            "%s epoch %d/%d: loss %.4f, train acc %.4f%s%s (%.1f s)", self.run_name, epoch, self.config.epochs,
            row["train_loss"], row["train_accuracy"],
            f", val balanced acc {row['val_balanced_accuracy']:.4f}" if "val_balanced_accuracy" in row else "",
            f", val ACC_robust {row[ROBUST_COLUMN]:.4f}" if ROBUST_COLUMN in row else "", row["seconds"],
        )
        self.epochs_done, self.batches_done, self.running = epoch, 0, None
        self.epoch_rng = self.rng_states()
        self.between_batches = True
        if self.folder:
            self.save(CHECKPOINT_FILE)
            (self.folder / PARTIAL_CHECKPOINT_FILE).unlink(missing_ok=True)

    def validate(self) -> dict[str, float]:
        """The validation columns of the epoch's row (none without a validation set)."""
        data = self.validation_data
        if data is None or not len(data):
            return {}
        m = classification_metrics(data.y.numpy(), predict(self.model, data, device=self.device,
                                                            batch_size=4 * self.config.batch_size),
                                   data.n_classes, data.classes)
        robust = self.epoch_robustness.score(self.model, data, self.device) if self.epoch_robustness else {}
        return dict(val_accuracy=m["accuracy"], val_balanced_accuracy=m["balanced_accuracy"], val_macro_f1=m["macro_f1"],
                    **({"val_cinc2017_f1": m["cinc2017_f1"]} if "cinc2017_f1" in m else {}), **robust)

    def save(self, name: str) -> None:
        """Save the run as it stands to ``folder/name``."""
        if self.running:
            self.count_correct()
        running = {**self.running, "seconds": time.perf_counter() - self.t0} if self.running else None
        save_atomic(snapshot(run_fingerprint=self.run_fingerprint, identity=self.identity, epoch=self.epochs_done,
                             batch=self.batches_done, running=running, model=self.model, optimizer=self.optimizer,
                             device=self.device, epoch_rng=self.epoch_rng, history=self.history,
                             objective=self.objective, best=self.best),
                    self.folder / name)
        self.kept = self.folder / name, position(self.epochs_done, self.batches_done, self.n_batches)
        self.saved_at = time.monotonic()

    def interrupted(self) -> None:
        """After Ctrl-C: save where the run stands (between two batches) and say what was kept."""
        folder = self.folder
        if folder and self.between_batches and self.batches_done:  # at batch 0 the epoch-end checkpoint holds it
            self.save(PARTIAL_CHECKPOINT_FILE)
        if self.kept:
            resume = f"`{self.resume_command}`" if self.resume_command else "the same training"
            said = f"kept {self.kept[1]} in {self.kept[0]}; {resume} resumes from there"
        else:
            said = "nothing kept (no checkpoint folder)" if not folder else "nothing kept (no checkpoint yet)"
        print(f"{self.run_name}: interrupted; {said}", file=sys.stderr, flush=True)

    def finish(self) -> tuple[nn.Module, list[dict]]:
        """The model (eval mode) and history; with ``select_best``, the best epoch's model and objective state."""
        best, history = self.best, self.history
        if best is not None:
            self.model.load_state_dict(best["model"])
            if best.get("objective") is not None:
                self.objective.load_state_dict(best["objective"])
            history = [{**row, "selected": row["epoch"] == best["epoch"]} for row in history]
            log.info("%s: kept epoch %d (%s %.4f), the best on validation", self.run_name, best["epoch"],
                     self.config.select_best, best["score"])
        self.model.eval()
        return self.model, history


def _better(best: dict | None, row: dict, column: str, model: nn.Module, objective, run_name: str) -> dict | None:
    """``best`` or, when ``row`` scores higher on ``column`` (the first epoch wins ties), this epoch's states."""
    if column not in row:
        raise EcgDataError(f"{run_name}: select_best {column!r} is not in the epoch history (it has {sorted(row)}; "
                           "validation columns need a validation set)")
    if best is not None and not row[column] > best["score"]:
        return best
    return {"epoch": row["epoch"], "score": float(row[column]),
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "objective": objective.state_dict()}
