"""The one training loop: any model, any objective, any model-input set; seeded, checkpointed, resumable.

A checkpoint (model, optimizer, random states, history, running sums, and where in the run it stands) is
written atomically after every epoch and, every ``checkpoint_every_s`` seconds, between two batches of an
epoch (only the newest of those is kept, and it goes when its epoch ends). Running the same training
again with a checkpoint folder that holds one for the same configuration continues from the newest; the
result is bit-identical to an uninterrupted run (same seed, same batches). Ctrl-C stops at the next
batch boundary, saves a checkpoint there and prints one line saying what was kept and how to resume (a
second Ctrl-C stops at once, keeping the last checkpoint). A loss that turns NaN or infinite stops the
run with an error naming the epoch and batch, and the last good checkpoint stays on disk.

Objectives that train more than the trainer's model (ECG-ATK-GAN's generator, ``defenses.atk_gan``) say so
with a ``bind(model, device, make_optimizer)`` method, called once here, and keep their own models and
optimizers in the checkpoint through ``state_dict`` / ``load_state_dict``; an objective with ``extras``
gets those per-beat arrays of each batch as ``extra={name: tensor}``. With ``select_best`` (a history
column such as ``val_accuracy``), the model and the objective's state of the epoch that maximised it are
kept (in the checkpoint too) and returned instead of the last epoch's, that row marked ``selected``.

Every checkpoint records the identity of the run that wrote it (``defenses.identity``: configuration
fingerprint without the epoch count, the epochs asked for, data, code version, CPU threads, device), and
a stored checkpoint is used only as ``config.resume`` allows, each decision one log line naming the run
and the reason (WARNING wherever a checkpoint is left unused or extended):

================================================================  ===========================================
the newest checkpoint in the folder                               what the run does
================================================================  ===========================================
none                                                              trains from the start (no line)
same identity, unfinished                                         resumes there (INFO)
same identity, finished                                           returns it, nothing left to train (INFO)
written before checkpoints recorded their identity                starts fresh
other configuration, data, code version, thread count or device   starts fresh, naming what differs
holds more epochs than this run asks                              starts fresh (never the longer model)
of the same run asked for fewer epochs than this run asks         ``resume: extend``: continues it to this
                                                                  run's epochs; ``auto``: starts fresh
of the same run asked for more epochs, holding fewer than asked   starts fresh
any (``resume: fresh``)                                           starts fresh
================================================================  ===========================================

A checkpoint a run starts fresh over is moved to ``superseded/`` in the folder (replacing what was there),
so that a mistyped command does not destroy a long run's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ecg_pipeline.models import logits_of
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.metrics import classification_metrics
from ecg_pipeline.runtime import resolve_device, torch_threads

from ecg_pipeline.data.batches import Batches

from .config import TrainingConfig
from .identity import code_version, describe_mismatch

log = logging.getLogger(__name__)

OPTIMIZERS = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
CHECKPOINT_FILE = "checkpoint.pt"                   # after the last finished epoch
PARTIAL_CHECKPOINT_FILE = "checkpoint-partial.pt"   # the newest mid-epoch state; removed when its epoch ends
SUPERSEDED = "superseded"                           # where a checkpoint a run started fresh over is moved


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and batch."""


def build_optimizer(name: str, params, **kwargs) -> torch.optim.Optimizer:
    """Optimizer ``name`` over ``params``. Unless ``kwargs`` say otherwise it updates all tensors at once
    (``foreach=True``; torch picks it by default on CUDA only): the same arithmetic, without a Python
    loop over the parameters, which is most of an MLP's optimizer step on CPU."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise EcgDataError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(params, **{"foreach": True, **kwargs})


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able configuration parts and arrays (what a checkpoint belongs to)."""
    h = hashlib.blake2b(digest_size=10)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part.reshape(-1)[:: max(1, part.size // 100_000)]).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


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


def _save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def train(
    model: nn.Module,
    train_data: Batches,
    validation_data: Batches | None,
    config: TrainingConfig,
    *,
    objective: Callable,
    checkpoint_dir: str | Path | None = None,
    run_fingerprint: str = "",
    run_name: str = "training",
    resume_command: str | None = None,
    identity: dict | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Train ``model`` in place as ``config`` says; returns the model (eval mode) and per-epoch history.

    ``resume_command``: what the user runs to continue after Ctrl-C (named in the message then).
    ``identity``: what the run is (:func:`run_identity`; by default that of ``config`` and ``run_fingerprint``),
    recorded in every checkpoint and compared with a stored one's (the table of the module's docstring).
    """
    with torch_threads(config.num_threads):
        identity = {**run_identity(config, run_fingerprint), **(identity or {})}
        return _train(model, train_data, validation_data, config, objective=objective, checkpoint_dir=checkpoint_dir,
                      run_fingerprint=run_fingerprint, run_name=run_name, resume_command=resume_command,
                      identity=identity)


def run_identity(config: TrainingConfig, run_fingerprint: str) -> dict[str, Any]:
    """What a run of ``config`` is, as a checkpoint records it: ``run`` (the fingerprint of its configuration
    without the epoch count, and its data), the ``epochs`` it asks for, the ``code_version`` of the training
    code, the CPU ``num_threads`` it runs with (torch's default where the configuration says null) and the
    ``device`` type; and, for the reader, not compared, the CPU kernels torch dispatches to (``cpu_capability``:
    AVX2, AVX-512, ...; another one moves float results, so a checkpoint carried to another machine resumes
    where the two may differ in the last bits)."""
    return {"run": run_fingerprint, "epochs": config.epochs, "code_version": code_version(),
            "num_threads": config.num_threads or torch.get_num_threads(),
            "device": resolve_device(config.device).type, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def descend(loss: torch.Tensor, opt: torch.optim.Optimizer, weights: list[torch.Tensor]) -> None:
    """One optimiser step on ``loss``, back-propagating to the weights only.

    Naming the weights keeps autograd from also computing d loss/dx for objectives whose input is a
    leaf that requires grad (NSR, Jacobian): about 8% of an NSR step on the Kachuee CNN.
    """
    opt.zero_grad(set_to_none=True)
    torch.autograd.backward(loss, inputs=weights)
    opt.step()


def _stored_checkpoint(folder: Path, identity: dict, resume: str, dev: torch.device, run_name: str,
                       n_batches: int, section: str = "training") -> tuple[Path, dict] | None:
    """The checkpoint in ``folder`` this run continues, or None to train from the start: the decision
    table of the module's docstring on the newest checkpoint there (epoch-end or mid-epoch), said in one line."""
    found = []
    for path in (folder / CHECKPOINT_FILE, folder / PARTIAL_CHECKPOINT_FILE):
        if path.exists():
            found.append((path, torch.load(path, map_location=dev, weights_only=True)))
    if not found:
        return None
    path, state = max(found, key=lambda item: (item[1]["epoch"], item[1].get("batch", 0)))
    epochs, done, batch = identity["epochs"], int(state["epoch"]), int(state.get("batch", 0))
    stored = state.get("identity")
    holds = f"{done} epoch(s)" + (f" and {batch} batch(es)" if batch else "")
    if resume == "fresh":
        why = "resume: fresh"
    elif stored is None:
        why = ("it was written before checkpoints recorded their identity (epochs, code version, threads), so "
               "nothing says it belongs to this run")
    elif (mismatch := describe_mismatch(stored, identity)) is not None:
        why = mismatch
    elif done > epochs or (done == epochs and batch):
        why = f"it holds {holds}, more than the {epochs} this run asks (a shorter run never returns a longer model)"
    elif stored["epochs"] > epochs or (stored["epochs"] < epochs and resume != "extend"):
        why = (f"it is of a {stored['epochs']}-epoch run (it holds {holds}), this run asks {epochs}"
               + (f"; '{section}.resume: extend' continues it" if stored["epochs"] < epochs else ""))
    else:
        at = _position(done, batch, n_batches)
        if stored["epochs"] != epochs:
            log.warning("%s: extending the checkpoint of a %d-epoch run from %s to %d epochs (resume: extend; %s)",
                        run_name, stored["epochs"], at, epochs, path)
        elif done == epochs:
            log.info("%s: the checkpoint has finished all %d epochs; nothing left to train (%s)", run_name, epochs, path)
        else:
            log.info("%s: resuming from %s (%s)", run_name, at, path)
        return path, state
    away = _supersede(folder, [p for p, _ in found])
    log.warning("%s: starting fresh, not resuming checkpoint %s: %s%s", run_name, path, why,
                f"; moved to {away}" if away else "")
    return None


def _supersede(folder: Path, paths: list[Path]) -> Path | None:
    """Move ``paths`` to ``folder/superseded`` (replacing what was there); where that fails, leave them
    (the fresh run overwrites them at its first epoch end)."""
    away = folder / SUPERSEDED
    try:
        if away.exists():
            for old in away.iterdir():
                old.unlink()
        away.mkdir(exist_ok=True)
        for path in paths:
            os.replace(path, away / path.name)
    except OSError as err:
        log.warning("could not move the unused checkpoint to %s (%s); the fresh run overwrites it", away, err)
        return None
    return away


def _position(epochs_done: int, batches_done: int, n_batches: int) -> str:
    if batches_done:
        return f"epoch {epochs_done + 1}, batch {batches_done} of {n_batches}"
    return f"the end of epoch {epochs_done}" if epochs_done else "the start"


@contextmanager
def _ctrl_c_between_batches() -> Iterator[Callable[[], bool]]:
    """While training, the first Ctrl-C only sets a flag (the yielded check) that the loop reads between
    batches, where model, optimizer and random states agree and can be saved; a second one interrupts
    at once. Outside the main thread (ThreadRunner) no handler can be set and Ctrl-C lands wherever it does."""
    pressed: list[int] = []

    def on_sigint(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)

    installed = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if installed else None
    try:
        yield lambda: bool(pressed)
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _train(model, train_data, validation_data, config: TrainingConfig, *, objective, checkpoint_dir, run_fingerprint,
           run_name, resume_command, identity):
    epochs, batch_size, seed, every_s = config.epochs, config.batch_size, config.seed, config.checkpoint_every_s
    dev = resolve_device(config.device)
    torch.manual_seed(seed)
    model.to(dev)
    if config.select_best and config.select_best.startswith("val_") and not (validation_data and len(validation_data)):
        raise EcgDataError(f"{run_name}: select_best {config.select_best!r} needs a validation set; none was given")

    def make_optimizer(params):
        return build_optimizer(config.optimizer, params, lr=config.lr, **(config.optimizer_args or {}))

    opt = make_optimizer(model.parameters())
    if hasattr(objective, "bind"):
        objective.bind(model, dev, make_optimizer)
    weights = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_batches = -(-train_data.epoch_length // batch_size)
    if config.max_batches_per_epoch:
        n_batches = min(n_batches, config.max_batches_per_epoch)

    # Where the run stands: epochs finished, batches of the next one done, that epoch's running sums.
    history: list[dict] = []
    epochs_done, batches_done, running = 0, 0, None
    best: dict | None = None  # with select_best: the epoch, its score, and the model and objective states then
    folder = Path(checkpoint_dir) if checkpoint_dir else None
    found = (_stored_checkpoint(folder, identity, config.resume, dev, run_name, n_batches, config.section)
             if folder else None)
    kept: tuple[Path, str] | None = None  # the newest checkpoint on disk and its position, for the Ctrl-C message
    if found is not None:
        path, state = found
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), dev)
        generator.set_state(state["generator"].cpu())
        rng.bit_generator.state = state["numpy_rng"]
        if state.get("objective") is not None:
            objective.load_state_dict(state["objective"])
        history = list(state["history"])
        epochs_done, batches_done, running = int(state["epoch"]), int(state.get("batch", 0)), state.get("running")
        best = state.get("best")
        kept = path, _position(epochs_done, batches_done, n_batches)

    def checkpoint(name: str) -> None:
        """Save the run as it stands. The generator states are those at the start of the epoch in
        progress: a resumed epoch draws its batch order (and shifts) again, then skips the batches done."""
        nonlocal kept, saved_at
        _save_atomic(
            {"fingerprint": run_fingerprint, "identity": identity, "epoch": epochs_done, "batch": batches_done,
             "running": {**running, "seconds": time.perf_counter() - t0} if running else None,
             "model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
             **({"cuda_rng": torch.cuda.get_rng_state(dev)} if dev.type == "cuda" else {}),
             "generator": epoch_rng[0], "numpy_rng": epoch_rng[1], "history": history,
             "objective": objective.state_dict() if hasattr(objective, "state_dict") else None, "best": best},
            folder / name,
        )
        kept, saved_at = (folder / name, _position(epochs_done, batches_done, n_batches)), time.monotonic()

    # One bar for the whole run, so its ETA is that of every remaining epoch; smoothing=0 rates it by the
    # mean over the session, validation and checkpoints included.
    bar = tqdm(total=epochs * n_batches, initial=epochs_done * n_batches + batches_done, desc=run_name,
               disable=not config.progress, leave=False, unit="batch", smoothing=0)
    saved_at, t0 = time.monotonic(), time.perf_counter()
    epoch_rng = (generator.get_state(), rng.bit_generator.state)
    between_batches = True  # the state is one a checkpoint can hold (Ctrl-C may save it)
    try:
        with _ctrl_c_between_batches() as ctrl_c:
            for epoch in range(epochs_done + 1, epochs + 1):
                model.train()
                epoch_rng = (generator.get_state(), rng.bit_generator.state)
                running = running or {"loss": 0.0, "correct": 0, "seen": 0, "stats": {}, "seconds": 0.0}
                t0 = time.perf_counter() - running["seconds"]
                if ctrl_c():
                    raise KeyboardInterrupt
                batches = train_data.epoch(batch_size, generator=generator, rng=rng, skip=batches_done)
                for b, (x, y, mask, *extra) in enumerate(batches, start=batches_done + 1):
                    if b > n_batches:
                        break
                    between_batches = False
                    x, y = x.to(dev), y.to(dev)
                    mask = mask.to(dev) if mask is not None else None
                    if extra:
                        loss, logits, stats = objective(model, x, y, mask, epoch,
                                                        extra={k: v.to(dev) for k, v in extra[0].items()})
                    else:
                        loss, logits, stats = objective(model, x, y, mask, epoch)
                    if not torch.isfinite(loss):
                        raise TrainingDiverged(
                            f"{run_name}: loss is {loss.item()} at epoch {epoch}, batch {b}/{n_batches}; "
                            f"the last good checkpoint ({kept[0] if kept else 'none'}) is kept"
                        )
                    descend(loss, opt, weights)
                    running["loss"] += loss.item() * y.shape[0]
                    running["correct"] += int((logits.detach().argmax(1) == y).sum())
                    running["seen"] += y.shape[0]
                    for k, v in stats.items():
                        running["stats"][k] = running["stats"].get(k, 0.0) + float(v) * y.shape[0]
                    batches_done, between_batches = b, True
                    bar.set_postfix(epoch=f"{epoch}/{epochs}", loss=f"{running['loss'] / running['seen']:.4f}",
                                    refresh=False)
                    bar.update()
                    if ctrl_c():
                        raise KeyboardInterrupt
                    if folder and every_s and b < n_batches and time.monotonic() - saved_at >= every_s:
                        checkpoint(PARTIAL_CHECKPOINT_FILE)
                between_batches = False
                seen = max(running["seen"], 1)
                row = {
                    "epoch": epoch,
                    "train_loss": running["loss"] / seen,
                    "train_accuracy": running["correct"] / seen,
                    **{f"train_{k}": v / seen for k, v in running["stats"].items()},
                }
                if validation_data is not None and len(validation_data):
                    y_val = validation_data.y.numpy()
                    m = classification_metrics(y_val, predict(model, validation_data, device=dev,
                                                              batch_size=4 * batch_size),
                                               validation_data.n_classes, validation_data.classes)
                    row.update(val_accuracy=m["accuracy"], val_balanced_accuracy=m["balanced_accuracy"],
                               val_macro_f1=m["macro_f1"], **({"val_cinc2017_f1": m["cinc2017_f1"]}
                                                              if "cinc2017_f1" in m else {}))
                row["seconds"] = time.perf_counter() - t0
                history.append(row)
                if config.select_best:
                    best = _better(best, row, config.select_best, model, objective, run_name)
                bar.clear()  # the run's bar stays open: the epoch's line goes on a line of its own
                log.info(
                    "%s epoch %d/%d: loss %.4f, train acc %.4f%s (%.1f s)", run_name, epoch, epochs, row["train_loss"],
                    row["train_accuracy"],
                    f", val balanced acc {row['val_balanced_accuracy']:.4f}" if "val_balanced_accuracy" in row else "",
                    row["seconds"],
                )
                epochs_done, batches_done, running = epoch, 0, None
                epoch_rng = (generator.get_state(), rng.bit_generator.state)
                between_batches = True
                if folder:
                    checkpoint(CHECKPOINT_FILE)
                    (folder / PARTIAL_CHECKPOINT_FILE).unlink(missing_ok=True)
    except KeyboardInterrupt:
        bar.close()
        if folder and between_batches and batches_done:  # at batch 0 the epoch-end checkpoint holds it already
            checkpoint(PARTIAL_CHECKPOINT_FILE)
        if kept:
            resume = f"`{resume_command}`" if resume_command else "the same training"
            said = f"kept {kept[1]} in {kept[0]}; {resume} resumes from there"
        else:
            said = "nothing kept (no checkpoint folder)" if not folder else "nothing kept (no checkpoint yet)"
        print(f"{run_name}: interrupted; {said}", file=sys.stderr, flush=True)
        raise
    finally:
        bar.close()
    if best is not None:
        model.load_state_dict(best["model"])
        if best.get("objective") is not None:
            objective.load_state_dict(best["objective"])
        history = [{**row, "selected": row["epoch"] == best["epoch"]} for row in history]
        log.info("%s: kept epoch %d (%s %.4f), the best on validation", run_name, best["epoch"], config.select_best,
                 best["score"])
    model.eval()
    return model, history


def _better(best: dict | None, row: dict, column: str, model: nn.Module, objective, run_name: str) -> dict | None:
    """``best`` or, when ``row`` scores higher on ``column`` (the first epoch wins ties), this epoch's states."""
    if column not in row:
        raise EcgDataError(f"{run_name}: select_best {column!r} is not in the epoch history (it has {sorted(row)}; "
                           "validation columns need a validation set)")
    if best is not None and not row[column] > best["score"]:
        return best
    return {"epoch": row["epoch"], "score": float(row[column]),
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "objective": objective.state_dict() if hasattr(objective, "state_dict") else None}
