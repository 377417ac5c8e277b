"""Robustness evaluation: one attack over a grid of strengths on one model and one data split.

For every grid value (eps, or e.g. snr_db for real noise) the attack runs batch by batch over the
(optionally class-balanced) evaluation subset, the model predicts on the result, and the metrics of
:mod:`ecg_pipeline.evaluation.metrics` are computed. For eps grids, ACC_robust and F1_robust of
seed 001 eq. (8) summarise the curve (with balanced accuracy, the papers' class-balanced accuracy,
and with plain accuracy).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ecg_pipeline.attacks.oracle import within_eps_ball
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of

from .metrics import classification_metrics, robust_score

log = logging.getLogger(__name__)


def evaluate_attack(
    model: nn.Module,
    data: Batches,
    attack: Callable[..., torch.Tensor],
    *,
    grid: Sequence[float],
    grid_param: str = "eps",
    attack_params: dict | None = None,
    eps: float | None = None,
    bounds: tuple[float, float] | None = None,
    eps_max: float | None = None,
    per_class: int | None = None,
    batch_size: int = 512,
    seed: int = 0,
    keep_per_class: int = 2,
    device: torch.device | str = "cpu",
    progress: bool = True,
    name: str = "attack",
    search: Callable | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Attack ``model`` on ``data`` at every grid value; returns (metrics, examples).

    A beat counts as correct under attack only if it is also correct clean: a perturbation that happens
    to fix a misclassified beat does not make it robust (the papers' protocol), so every curve starts
    at clean accuracy and the metrics use the clean prediction for beats already wrong.
    ``examples`` holds the per-beat outcome (``subset``: indices into ``data``, ``pred``: the
    prediction so counted, one row per grid value; ``subset_y``: their labels), what the worst case over
    attacks is built from,
    and clean / adversarial versions of ``keep_per_class`` beats per class for figures.

    ``search`` (decision-based attacks): an eps-free search run once per batch; each eps then keeps
    the found point where it lies in the eps-ball, the clean input elsewhere. An attack may return
    ``(x_adv, info)`` with per-beat integer arrays in ``info`` (e.g. ``broken_by`` of an ensemble):
    they are returned in ``examples`` as ``<key>`` rows per grid value.
    """
    if not len(grid):
        raise EcgDataError(f"{name}: the grid of {grid_param} values is empty")
    if grid_param == "eps" and min(grid) < 0:
        raise EcgDataError(f"{name}: eps must be >= 0, the grid has {min(grid)}")
    device = torch.device(device)
    model = model.to(device).eval()
    classes = data.classes or [str(i) for i in range(data.n_classes)]
    y_all = data.y.numpy()
    subset = balanced_subset(y_all, per_class, seed)
    keep = balanced_subset(y_all[subset], keep_per_class, seed)  # positions within the subset
    params = dict(attack_params or {})
    n_grid = len(grid)
    preds = [[] for _ in range(n_grid)]
    infos: dict[str, list[list[np.ndarray]]] = {}
    kept_x = [[] for _ in range(n_grid)]
    kept_pred = [[] for _ in range(n_grid)]
    t0 = time.perf_counter()
    n_batches = -(-subset.size // batch_size)
    bar = tqdm(total=n_grid * n_batches, desc=name, disable=not progress, leave=False, unit="attack-batch")
    for b, start in enumerate(range(0, subset.size, batch_size)):
        index = subset[start : start + batch_size]
        x, y, mask = data.take(index)
        x, y = x.to(device), y.to(device)
        mask = mask.to(device) if mask is not None else None
        in_batch = (keep >= start) & (keep < start + index.size)
        local = keep[in_batch] - start
        with torch.inference_mode():
            clean = logits_of(model, x, mask).argmax(1)
        wrong_clean = (clean != y).cpu().numpy()
        clean = clean.cpu().numpy()
        found = search(model, x, y, mask=mask, bounds=bounds, seed=seed + b, **params) if search is not None else None
        for g, value in enumerate(grid):
            eps_value = float(value) if grid_param == "eps" else (eps if eps is not None else 0.0)
            if found is not None:
                x_adv = within_eps_ball(x, found, eps_value)
            else:
                call = params if grid_param == "eps" else {**params, grid_param: value}
                x_adv = attack(model, x, y, eps_value, mask=mask, bounds=bounds, seed=seed + b, **call)
                if isinstance(x_adv, tuple):
                    x_adv, info = x_adv
                    for key, values in info.items():
                        infos.setdefault(key, [[] for _ in range(n_grid)])[g].append(np.asarray(values.cpu()))
            with torch.inference_mode():
                pred = logits_of(model, x_adv, mask).argmax(1).cpu().numpy()
            pred = np.where(wrong_clean, clean, pred)  # wrong clean stays wrong
            preds[g].append(pred)
            if local.size:
                kept_x[g].append(x_adv[local].detach().cpu().numpy())
                kept_pred[g].append(pred[local])
            bar.update()
    bar.close()
    rows, examples = [], {"index": subset[keep], "y": y_all[subset][keep], "grid": np.asarray(grid, dtype=np.float64),
                          "subset": subset, "subset_y": y_all[subset].astype(np.int16),
                          "pred": np.stack([np.concatenate(p) for p in preds]).astype(np.int16)}
    for key, per_grid in infos.items():
        examples[key] = np.stack([np.concatenate(p) for p in per_grid])
    for g, value in enumerate(grid):
        m = classification_metrics(y_all[subset], np.concatenate(preds[g]), len(classes), classes)
        rows.append({grid_param: float(value), **{k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "cinc2017_f1") if k in m},
                     "per_class": m["per_class"], "confusion": m["confusion"]})
        examples[f"x_adv_{g}"] = np.concatenate(kept_x[g]) if kept_x[g] else np.zeros((0,), dtype=np.float32)
        examples[f"pred_adv_{g}"] = np.concatenate(kept_pred[g]) if kept_pred[g] else np.zeros((0,), dtype=np.int64)
    x_clean, _, mask_clean = data.take(subset[keep])
    examples["x_clean"] = x_clean.numpy()
    with torch.inference_mode():
        mask_clean = mask_clean.to(device) if mask_clean is not None else None
        examples["pred_clean"] = logits_of(model, x_clean.to(device), mask_clean).argmax(1).cpu().numpy()
    result = {"grid_param": grid_param, "grid": [float(v) for v in grid], "classes": classes, "n": int(subset.size),
              "per_class_subset": per_class, "seconds": time.perf_counter() - t0, "curve": rows}
    if grid_param == "eps" and eps_max is not None and 0 in list(grid):
        for metric, label in (("balanced_accuracy", "acc_robust_balanced"), ("accuracy", "acc_robust"), ("macro_f1", "f1_robust")):
            result[label] = robust_score([r["eps"] for r in rows], [r[metric] for r in rows], eps_max)["robust"]
        result["eps_max"] = eps_max
    summary = ", ".join(f"{r[grid_param]:g}: {r['balanced_accuracy']:.3f}" for r in rows)
    log.info("%s on %d samples, balanced accuracy by %s {%s}%s (%.1f s)", name, subset.size, grid_param, summary,
             f"; ACC_robust {result['acc_robust_balanced']:.4f}" if "acc_robust_balanced" in result else "", result["seconds"])
    return result, examples
