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

from ecg_pipeline.attacks.base import frozen
from ecg_pipeline.attacks.oracle import within_eps_ball
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of

from .escalation import Escalation, escalate, in_words
from .grid_pass import INDEPENDENT, grid_call, in_threads, nested_form
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
    escalation: Escalation | None = None,
    effort_keys: Sequence[str] = (),
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

    An attack with a nested pass over the grid (``attack.over_grid``: ``attacks.autoattack``) is called once per
    batch for the whole grid, a beat broken at a smaller eps carrying its example to the larger ones (unless its
    params say ``nested: false``); ``workers`` in its params (default 1) runs the batches in that many threads,
    each seeded by its batch as before, so the outcome does not depend on it.

    ``escalation`` (eps grids): after the normal run, :func:`.escalation.escalate` reruns the attack with its
    ``effort_keys`` doubled on the beats still unbroken, adding every valid new break to the per-beat outcome
    before the metrics are computed; its record is the result's ``escalation``. None: nothing else runs.
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
    alone: list[list[np.ndarray]] = [[] for _ in range(n_grid)]  # nested: pairs the per-eps evaluation does not count
    t0 = time.perf_counter()
    n_batches = -(-subset.size // batch_size)
    bar = tqdm(total=n_grid * n_batches, desc=name, disable=not progress, leave=False, unit="attack-batch")
    nested = grid_param == "eps" and search is None and nested_form(attack, params) is not None
    workers = int(params.get("workers", 1))
    for b, start, outcome in _batches_over_grid(model, data, attack, subset, batch_size, grid, params, bounds,
                                                seed, device, workers if nested else 1, nested):
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
            if outcome is not None:  # the nested pass over the grid (attacks.autoattack): already attacked
                x_adv = outcome[0][g]
                for key, values in outcome[1].items():
                    if key == INDEPENDENT:  # kept apart for the escalation: what the per-eps evaluation leaves
                        alone[g].append(np.asarray(values[g].cpu()) | wrong_clean)
                    else:
                        infos.setdefault(key, [[] for _ in range(n_grid)])[g].append(np.asarray(values[g].cpu()))
            elif found is not None:
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
    pred_all = np.stack([np.concatenate(p) for p in preds])
    info_all = {key: np.stack([np.concatenate(p) for p in per_grid]) for key, per_grid in infos.items()}
    record = None
    if escalation is not None and grid_param == "eps":
        record, found = escalate(model, data, attack, subset=subset, pred=pred_all, grid=grid, params=params,
                                 keys=effort_keys, escalation=escalation, classes=classes, bounds=bounds,
                                 eps_max=eps_max, batch_size=batch_size, seed=seed, device=device, keep=keep,
                                 infos=info_all, nested=nested, workers=workers if nested else 1,
                                 independent=np.stack([np.concatenate(a) for a in alone]) if nested else None)
        _update_kept(kept_x, kept_pred, keep, found, pred_all)
        log.info("%s: escalation %s", name, in_words(record))
    rows, examples = [], {"index": subset[keep], "y": y_all[subset][keep], "grid": np.asarray(grid, dtype=np.float64),
                          "subset": subset, "subset_y": y_all[subset].astype(np.int16),
                          "pred": pred_all.astype(np.int16)}
    examples.update(info_all)
    for g, value in enumerate(grid):
        m = classification_metrics(y_all[subset], pred_all[g], len(classes), classes)
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
    if record is not None:
        result["escalation"] = record
    if grid_param == "eps" and eps_max is not None and 0 in list(grid):
        for metric, label in (("balanced_accuracy", "acc_robust_balanced"), ("accuracy", "acc_robust"), ("macro_f1", "f1_robust")):
            result[label] = robust_score([r["eps"] for r in rows], [r[metric] for r in rows], eps_max)["robust"]
        result["eps_max"] = eps_max
    summary = ", ".join(f"{r[grid_param]:g}: {r['balanced_accuracy']:.3f}" for r in rows)
    log.info("%s on %d samples, balanced accuracy by %s {%s}%s (%.1f s)", name, subset.size, grid_param, summary,
             f"; ACC_robust {result['acc_robust_balanced']:.4f}" if "acc_robust_balanced" in result else "", result["seconds"])
    return result, examples


def _batches_over_grid(model, data, attack, subset, batch_size, grid, params, bounds, seed, device, workers, nested):
    """``(b, start, outcome)`` per batch of ``subset``: ``outcome`` is the nested pass's ``(x_adv per eps, info)``
    (None when the attack is called per eps), computed in ``workers`` threads, yielded in batch order."""
    starts = list(enumerate(range(0, subset.size, batch_size)))
    if not nested:
        yield from ((b, start, None) for b, start in starts)
        return
    over_grid, call = nested_form(attack, params), grid_call(params)

    def work(item):
        b, start = item
        x, y, mask = data.take(subset[start : start + batch_size])[:3]
        mask = mask.to(device) if mask is not None else None
        return over_grid(model, x.to(device), y.to(device), grid, mask=mask, bounds=bounds, seed=seed + b, **call)

    with frozen(model):
        for (b, start), outcome in zip(starts, in_threads(work, starts, workers)):
            yield b, start, outcome


def _update_kept(kept_x: list[list[np.ndarray]], kept_pred: list[list[np.ndarray]], keep: np.ndarray,
                 found: dict[tuple[int, int], np.ndarray], pred: np.ndarray) -> None:
    """The figures' kept beats (``keep``: positions in the subset, in order) that escalation broke: their new
    adversarial version and prediction in place of the normal run's."""
    order = {int(k): i for i, k in enumerate(keep)}
    for g in {g for g, _ in found}:
        x_rows = np.concatenate(kept_x[g]) if kept_x[g] else None
        if x_rows is None:
            continue
        pred_rows = np.asarray(pred[g][keep])
        for (g_found, position), x_adv in found.items():
            if g_found == g and position in order:
                x_rows[order[position]] = x_adv
        kept_x[g], kept_pred[g] = [x_rows], [pred_rows]
