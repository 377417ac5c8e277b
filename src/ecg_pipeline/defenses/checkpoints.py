"""Checkpoints of a training run: what one holds, writing it atomically, reading it back, and which stored
checkpoint a run may continue.

A checkpoint (model, optimizer, random states, history, running sums, the objective's state, and where in the
run it stands) is written by the trainer (``defenses.trainer``) after every epoch and between two batches.
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
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecg_pipeline.runtime import resolve_device

from .config import TrainingConfig
from .identity import code_version, describe_mismatch
from .objective_base import Objective

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"                   # after the last finished epoch
PARTIAL_CHECKPOINT_FILE = "checkpoint-partial.pt"   # the newest mid-epoch state; removed when its epoch ends
SUPERSEDED = "superseded"                           # where a checkpoint a run started fresh over is moved


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


#: the keys of run_identity's answer (a caller that passes them all need not have them computed again)
IDENTITY_KEYS = frozenset({"run", "epochs", "code_version", "num_threads", "device", "cpu_capability"})


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


def save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def snapshot(*, run_fingerprint: str, identity: dict, epoch: int, batch: int, running: dict | None, model: nn.Module,
             optimizer: torch.optim.Optimizer, device: torch.device, epoch_rng: tuple, history: list[dict],
             objective: Objective, best: dict | None) -> dict:
    """What a checkpoint holds. ``epoch_rng``: the batch generator's and numpy's states at the start of the
    epoch in progress (a resumed epoch draws its batch order and shifts again, then skips the batches done)."""
    return {"fingerprint": run_fingerprint, "identity": identity, "epoch": epoch, "batch": batch, "running": running,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
            **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
            "generator": epoch_rng[0], "numpy_rng": epoch_rng[1], "history": history,
            "objective": objective.state_dict(), "best": best}


def restore(state: dict, *, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
            generator: torch.Generator, rng: np.random.Generator, objective: Objective) -> None:
    """Put the states of checkpoint ``state`` back into the run's model, optimizer, random generators and objective."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    generator.set_state(state["generator"].cpu())
    rng.bit_generator.state = state["numpy_rng"]
    if state.get("objective") is not None:
        objective.load_state_dict(state["objective"])


def stored_checkpoint(folder: Path, identity: dict, resume: str, dev: torch.device, run_name: str,
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
        at = position(done, batch, n_batches)
        if stored["epochs"] != epochs:
            log.warning("%s: extending the checkpoint of a %d-epoch run from %s to %d epochs (resume: extend; %s)",
                        run_name, stored["epochs"], at, epochs, path)
        elif done == epochs:
            log.info("%s: the checkpoint has finished all %d epochs; nothing left to train (%s)", run_name, epochs, path)
        else:
            log.info("%s: resuming from %s (%s)", run_name, at, path)
        return path, state
    away = supersede(folder, [p for p, _ in found])
    log.warning("%s: starting fresh, not resuming checkpoint %s: %s%s", run_name, path, why,
                f"; moved to {away}" if away else "")
    return None


def supersede(folder: Path, paths: list[Path]) -> Path | None:
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


def position(epochs_done: int, batches_done: int, n_batches: int) -> str:
    if batches_done:
        return f"epoch {epochs_done + 1}, batch {batches_done} of {n_batches}"
    return f"the end of epoch {epochs_done}" if epochs_done else "the start"
