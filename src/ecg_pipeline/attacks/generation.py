"""Attacked copies of a beat set: ECG-ATK-GAN's training set E'_x (seed 002 section 2, Fig. 1).

ECG-ATK-GAN trains its generator and its attack-detecting discriminator on the union of clean beats
and beats attacked by six attacks (FGSM, BIM, PGD, CW-L-inf, Boundary, HopSkipJump) crafted against
a source classifier. :func:`attacked_set` makes one attack's copy of one split; :func:`union_of_sets`
joins a clean split and its attacked copies into the set the GAN reads; :func:`attack_summary` says
what each copy cost and did to the source classifier.

A set holds, one row per beat: ``x`` float32 [n, L] (the beat as seen: clean or attacked), ``x_clean``
float32 [n, L] (its clean original, the target of seed 002 eq. 3), ``y`` int64 (class index),
``attacked`` bool (``x`` differs from ``x_clean``), ``attack`` str (``"clean"`` or the name of the attack
whose copy the row belongs to), ``source_index`` int64 (the row
of the split it came from) and ``classes``. An attacked copy adds the source classifier's predictions
``pred_clean`` and ``pred`` (on ``x_clean`` and ``x``) and ``seconds`` (its wall time).

The copies are crafted on the source and applied to other models (the GAN's discriminator, the baselines): a
transfer protocol, so ``parameters_atk_gan.yml`` gives the gradient attacks ``confidence: .inf`` (every step,
each beat's strongest iterate: :mod:`.pgd`), the full-confidence examples the paper's fixed-iteration attacks
made; the white-box default stops a beat at its first misclassified iterate, just across the source's
boundary, which transfers worst. ``attacked`` is whether the beat as seen differs from its clean original:
under the default a beat the source already gets wrong is returned unchanged and keeps ``attacked`` False (a
clean beat: labelling it attacked would teach the detector that clean beats are attacks); at ``.inf`` it is
stepped too, and flagged.

Decision-based attacks (Boundary, HopSkipJump) minimise the distance to the clean beat and ignore eps;
their found point is projected onto the eps-ball (every attacked beat then lies within the paper's
budget, perturbed towards the decision boundary): where the found point lay farther than eps, the
projected beat may not fool the source, which ``pred`` shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of

from .base import AttackError, project
from .registry import ATTACKS, SEARCHES

log = logging.getLogger(__name__)

#: The paper's six attacks (seed 002 section 3.2), by their registry names.
ATK_GAN_ATTACKS = ("fgsm", "bim", "pgd", "cw_linf", "boundary", "hopskipjump")
CLEAN = "clean"
BOUNDS = (0.0, 1.0)  # the centred beats are scaled to [0, 1]
SET_KEYS = ("x", "x_clean", "y", "attacked", "attack", "source_index")


def check_attack_name(name: str, where: str) -> str:
    """``name`` if it is one of the paper's six attacks, else an error naming ``where`` it was given."""
    if name not in ATK_GAN_ATTACKS:
        raise AttackError(f"{where}: attack {name!r} is not one of ECG-ATK-GAN's six attacks {list(ATK_GAN_ATTACKS)}")
    return name


def check_classes(model: nn.Module, beats: Mapping[str, np.ndarray], source: str) -> list[str]:
    """The beats' class names, after checking that the source classifier ``source`` predicts exactly those
    classes (its saved class list, and the width of its output layer)."""
    classes = [str(c) for c in beats.get("classes", [])]
    if not classes:
        raise EcgDataError(f"{source}: the beat set has no 'classes' array; expected the class names of its labels")
    meta_classes = [str(c) for c in (getattr(model, "meta", {}) or {}).get("classes") or []]
    if meta_classes and meta_classes != classes:
        raise EcgDataError(f"source classifier {source!r} was trained on classes {meta_classes}, "
                           f"the beats to attack have classes {classes}")
    n_out = (getattr(model, "model_config", {}) or {}).get("n_classes")
    if n_out is not None and int(n_out) != len(classes):
        raise EcgDataError(f"source classifier {source!r} has {n_out} outputs, the beats to attack have "
                           f"{len(classes)} classes {classes}")
    return classes


def attacked_set(
    model: nn.Module,
    beats: Mapping[str, np.ndarray],
    *,
    attack: str,
    eps: float,
    params: Mapping | None = None,
    per_class: int | None = None,
    seed: int = 0,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    progress: bool = False,
    source: str = "source",
) -> dict[str, np.ndarray]:
    """``attack`` at L-inf radius ``eps`` against ``model`` on ``beats`` (a split: ``x`` [n, L], ``y``,
    ``classes``), or on a seeded class-stratified subset of at most ``per_class`` beats per class.

    Gradient attacks run with ``params`` as given; decision-based ones run their eps-free search with
    ``params`` (e.g. ``max_queries``), and the found point is projected onto the eps-ball. Batch ``b``
    uses seed ``seed + b``, so the same seed gives the same set.
    """
    check_attack_name(attack, f"{source}: attacked_set")
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise AttackError(f"{source}: {attack} eps must be a number > 0, got {eps!r}")
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise AttackError(f"{source}: {attack} per_class must be a count >= 1 or null (every beat), got {per_class!r}")
    classes = check_classes(model, beats, source)
    x_all = np.asarray(beats["x"], dtype=np.float32)
    y_all = np.asarray(beats["y"], dtype=np.int64)
    if x_all.ndim != 2:
        raise EcgDataError(f"{source}: beats to attack must be x [n, length], got shape {x_all.shape}")
    index = balanced_subset(y_all, per_class, seed)
    params = dict(params or {})
    search = SEARCHES.get(attack)
    device = torch.device(device)
    model = model.to(device).eval()
    adv, pred_clean, pred, found_linf = [], [], [], []
    t0 = time.perf_counter()
    batches = range(0, index.size, batch_size)
    for b, start in enumerate(tqdm(batches, desc=f"{source} {attack}", disable=not progress, leave=False, unit="batch")):
        rows = index[start : start + batch_size]
        x = torch.from_numpy(x_all[rows][:, None, :]).to(device)
        y = torch.from_numpy(y_all[rows]).to(device)
        if search is not None:
            found = search(model, x, y, bounds=BOUNDS, seed=seed + b, **params)
            x_adv = project(found.x_adv, x, float(eps), None, BOUNDS)
            found_linf.append(found.linf(x).cpu().numpy())
        else:
            x_adv = ATTACKS[attack](model, x, y, float(eps), bounds=BOUNDS, seed=seed + b, **params)
        with torch.inference_mode():
            pred_clean.append(logits_of(model, x).argmax(1).cpu().numpy())
            pred.append(logits_of(model, x_adv).argmax(1).cpu().numpy())
        adv.append(x_adv.detach().cpu().numpy()[:, 0, :])
    seconds = time.perf_counter() - t0
    n = index.size
    out = {
        "x": np.concatenate(adv).astype(np.float32) if n else np.zeros((0, x_all.shape[1]), np.float32),
        "x_clean": x_all[index],
        "y": y_all[index],
        "attacked": np.zeros(n, dtype=bool),
        "attack": np.full(n, attack),
        "source_index": index.astype(np.int64),
        "pred_clean": np.concatenate(pred_clean).astype(np.int64) if n else np.zeros(0, np.int64),
        "pred": np.concatenate(pred).astype(np.int64) if n else np.zeros(0, np.int64),
        "seconds": np.asarray(seconds, dtype=np.float64),
        "classes": np.asarray(classes),
    }
    out["attacked"] = (out["x"] != out["x_clean"]).any(axis=1)
    if search is not None:  # how far the search's adversarial point lay (inf: none found), before the projection
        out["found_linf"] = np.concatenate(found_linf).astype(np.float64) if n else np.zeros(0)
    log.info("%s: %s (eps %g) on %d beats in %.1f s (%.2f ms a beat): accuracy clean %.3f, attacked %.3f",
             source, attack, eps, n, seconds, 1e3 * seconds / max(n, 1),
             *(float(np.mean(p == out["y"])) if n else float("nan") for p in (out["pred_clean"], out["pred"])))
    return out


def clean_set(beats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A split as a set of the same schema: every beat as seen is its clean original."""
    x = np.asarray(beats["x"], dtype=np.float32)
    n = x.shape[0]
    return {"x": x, "x_clean": x, "y": np.asarray(beats["y"], dtype=np.int64), "attacked": np.zeros(n, dtype=bool),
            "attack": np.full(n, CLEAN), "source_index": np.arange(n, dtype=np.int64),
            "classes": np.asarray([str(c) for c in beats["classes"]])}


def union_of_sets(clean: Mapping[str, np.ndarray], attacked: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The clean split and its attacked copies, one set (ECG-ATK-GAN's E'_x with its labels and targets)."""
    parts = [clean_set(clean), *attacked]
    classes = [str(c) for c in parts[0]["classes"]]
    for part in parts[1:]:
        if [str(c) for c in part["classes"]] != classes:
            name = str(part["attack"][0]) if len(part["attack"]) else "?"
            raise EcgDataError(f"attacked set {name!r} has classes {list(part['classes'])}, the clean split {classes}")
    out = {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in SET_KEYS}
    out["attack"] = out["attack"].astype(str)
    out["classes"] = np.asarray(classes)
    return out


def attack_summary(sets: Mapping[tuple[str, str], Mapping[str, np.ndarray]], eps: Mapping[str, float]) -> list[dict]:
    """One row per (attack, split) copy: beats, wall time, the source classifier's accuracy on the clean
    beats and on the attacked ones (a beat counts as correct under attack only if it is also correct clean),
    the fraction of clean-correct beats the attack fooled, and the perturbation's L-inf size."""
    rows = []
    for (attack, split), s in sets.items():
        y, pred_clean, pred = (np.asarray(s[k]) for k in ("y", "pred_clean", "pred"))
        n = int(y.size)
        correct_clean = pred_clean == y
        linf = np.abs(np.asarray(s["x"]) - np.asarray(s["x_clean"])).max(axis=1) if n else np.zeros(0)
        seconds = float(s["seconds"])
        rows.append({
            "attack": attack, "split": split, "eps": float(eps[attack]), "n": n, "seconds": round(seconds, 3),
            "ms_per_beat": round(1e3 * seconds / n, 3) if n else float("nan"),
            "accuracy_clean": float(correct_clean.mean()) if n else float("nan"),
            "accuracy_attacked": float((correct_clean & (pred == y)).mean()) if n else float("nan"),
            "fooled_fraction": float((pred[correct_clean] != y[correct_clean]).mean()) if correct_clean.any() else float("nan"),
            "linf_mean": float(linf.mean()) if n else float("nan"),
            "linf_max": float(linf.max()) if n else float("nan"),
            # decision-based: the search's own point (unprojected) and how many of them lay within eps
            "found_linf_median": float(np.median(s["found_linf"])) if "found_linf" in s and n else float("nan"),
            "found_within_eps": float((np.asarray(s["found_linf"]) <= eps[attack] + 1e-6).mean())
            if "found_linf" in s and n else float("nan"),
        })
    return rows
