"""The one training loop: any model, any objective, any model-input set; seeded, checkpointed, resumable.

A checkpoint (model, optimizer, epoch, history, random states) is written atomically after every
epoch. Running the same training again with a checkpoint folder that holds one for the same
configuration continues after its last epoch instead of starting over; the result is the same as an
uninterrupted run (same seed, same batches). A loss that turns NaN or infinite stops the run with an
error naming the epoch and batch, and the last good checkpoint stays on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
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

log = logging.getLogger(__name__)

OPTIMIZERS = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
CHECKPOINT_FILE = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and batch."""


def build_optimizer(name: str, params, **kwargs) -> torch.optim.Optimizer:
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise EcgDataError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(params, **kwargs)


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
) -> tuple[nn.Module, list[dict]]:
    """Train ``model`` in place as ``config`` says; returns the model (eval mode) and per-epoch history."""
    with torch_threads(config.num_threads):
        return _train(model, train_data, validation_data, config, objective=objective, checkpoint_dir=checkpoint_dir,
                      run_fingerprint=run_fingerprint, run_name=run_name)


def descend(loss: torch.Tensor, opt: torch.optim.Optimizer, weights: list[torch.Tensor]) -> None:
    """One optimiser step on ``loss``, back-propagating to the weights only.

    Naming the weights keeps autograd from also computing d loss/dx for objectives whose input is a
    leaf that requires grad (NSR, Jacobian): about 8% of an NSR step on the Kachuee CNN.
    """
    opt.zero_grad(set_to_none=True)
    torch.autograd.backward(loss, inputs=weights)
    opt.step()


def _train(model, train_data, validation_data, config: TrainingConfig, *, objective, checkpoint_dir, run_fingerprint,
           run_name):
    epochs, batch_size, seed, progress = config.epochs, config.batch_size, config.seed, config.progress
    max_batches_per_epoch = config.max_batches_per_epoch
    dev = resolve_device(config.device)
    torch.manual_seed(seed)
    model.to(dev)
    opt = build_optimizer(config.optimizer, model.parameters(), lr=config.lr, **(config.optimizer_args or {}))
    weights = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    history: list[dict] = []
    start_epoch = 1

    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
    if ckpt_path is not None and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=dev, weights_only=True)
        if state.get("fingerprint") == run_fingerprint:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            generator.set_state(state["generator"])
            rng.bit_generator.state = state["numpy_rng"]
            history = list(state["history"])
            start_epoch = int(state["epoch"]) + 1
            log.info("%s: resuming from the checkpoint after epoch %d (%s)", run_name, state["epoch"], ckpt_path)
        else:
            log.info("%s: checkpoint %s belongs to another configuration; starting over", run_name, ckpt_path)

    for epoch in range(start_epoch, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        n_batches = -(-len(train_data) // batch_size)
        if max_batches_per_epoch:
            n_batches = min(n_batches, max_batches_per_epoch)
        totals = {"loss": 0.0, "correct": 0, "seen": 0}
        stat_sums: dict[str, float] = {}
        bar = tqdm(total=n_batches, desc=f"{run_name} epoch {epoch}/{epochs}", disable=not progress, leave=False, unit="batch")
        for b, (x, y, mask) in enumerate(train_data.epoch(batch_size, generator=generator, rng=rng), start=1):
            if b > n_batches:
                break
            x, y = x.to(dev), y.to(dev)
            mask = mask.to(dev) if mask is not None else None
            loss, logits, stats = objective(model, x, y, mask, epoch)
            if not torch.isfinite(loss):
                bar.close()
                raise TrainingDiverged(
                    f"{run_name}: loss is {loss.item()} at epoch {epoch}, batch {b}/{n_batches}; "
                    f"the last good checkpoint ({ckpt_path or 'none: no checkpoint_dir'}) is kept"
                )
            descend(loss, opt, weights)
            totals["loss"] += loss.item() * y.shape[0]
            totals["correct"] += int((logits.detach().argmax(1) == y).sum())
            totals["seen"] += y.shape[0]
            for k, v in stats.items():
                stat_sums[k] = stat_sums.get(k, 0.0) + float(v) * y.shape[0]
            bar.set_postfix(loss=f"{totals['loss'] / totals['seen']:.4f}", refresh=False)
            bar.update()
        bar.close()
        row = {
            "epoch": epoch,
            "train_loss": totals["loss"] / max(totals["seen"], 1),
            "train_accuracy": totals["correct"] / max(totals["seen"], 1),
            **{f"train_{k}": v / max(totals["seen"], 1) for k, v in stat_sums.items()},
        }
        if validation_data is not None and len(validation_data):
            y_val = validation_data.y.numpy()
            m = classification_metrics(y_val, predict(model, validation_data, device=dev), validation_data.n_classes)
            row.update(val_accuracy=m["accuracy"], val_balanced_accuracy=m["balanced_accuracy"], val_macro_f1=m["macro_f1"])
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        log.info(
            "%s epoch %d/%d: loss %.4f, train acc %.4f%s (%.1f s)", run_name, epoch, epochs, row["train_loss"],
            row["train_accuracy"],
            f", val balanced acc {row['val_balanced_accuracy']:.4f}" if "val_balanced_accuracy" in row else "",
            row["seconds"],
        )
        if ckpt_path is not None:
            _save_atomic(
                {"fingerprint": run_fingerprint, "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                 "torch_rng": torch.get_rng_state(), "generator": generator.get_state(),
                 "numpy_rng": rng.bit_generator.state, "history": history},
                ckpt_path,
            )
    model.eval()
    return model, history
