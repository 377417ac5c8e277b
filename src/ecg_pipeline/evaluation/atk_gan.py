"""ECG-ATK-GAN judged on the paper's protocol (seed 002 section 3.3-3.4, Tables 1 and 3), and the detector under
an adaptive attacker (the question the paper did not ask).

What the deployed model is. Seed 002 classifies test beats with the discriminator (Fig. 1: "the discriminator
[...] is responsible for classifying different types of arrhythmia"; Table 1 benchmarks it on the attacked and
non-attacked test beats). The generator cannot be on the test-time path: it is class-conditioned on the true
label E_y (section 2.1), which a deployed classifier does not have. So the deployed classifier is the
discriminator's arrhythmia head applied to the input beat, ``model(x)``, exactly as every other model of the
project is judged; the generator is judged only as a generator (Table 3), on test beats with their true labels.

Inputs are the test union written by ``attack_generation`` (``atk_gan_test_set``: the clean test split and its
six attacked copies, rows tagged by ``attack``; see :mod:`ecg_pipeline.attacks.generation`). A "set" below is
the rows of one ``attack`` value: ``clean`` or one of the six. The attacked copies were crafted on the source
classifier (the discriminator trained clean, Fig. 1), so for the trained GAN and for the baselines they are
transferred attacks - the paper's protocol, not an attack on the model judged - crafted at full confidence
(``confidence: .inf`` in ``parameters_atk_gan.yml``: every step, not the first misclassified iterate).

- :func:`protocol_rows` (Table 1): accuracy, balanced accuracy and per-class sensitivity / specificity per set.
- :func:`detection_rows`: the attack head's verdict per set: the fraction flagged, the detection rate (flagged
  among the beats that differ from their clean original), the false-positive rate (flagged among the beats that
  do not), and its accuracy against the ``attacked`` flag. On the clean set the accuracy is 1 - false-positive rate.
- :func:`fidelity_rows` (Table 3): G(E'_x, E_y, z) against the clean beat E_x (eq. 3's target) and against
  its input E'_x, with the measures of :mod:`ecg_pipeline.evaluation.fidelity`.
- :func:`evasion_rows`: PGD and APGD on the deployed discriminator with the plain cross-entropy and with the detector-
  evasion loss (:func:`ecg_pipeline.attacks.losses.detector_evasion_loss`), and the fraction of the beats it
  fools that the attack head flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ecg_pipeline.attacks.generation import ATK_GAN_ATTACKS, BOUNDS, CLEAN, check_classes
from ecg_pipeline.attacks.apgd import apgd
from ecg_pipeline.attacks.pgd import pgd
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.errors import EcgDataError

from .fidelity import fidelity
from .metrics import classification_metrics

UNION_KEYS = ("x", "x_clean", "y", "attacked", "attack", "classes")
ATTACKED_CLASS = 1   # the attack head's classes: 0 clean, 1 attacked (seed 002 eq. 1)
REFERENCES = ("clean", "input")   # fidelity against E_x (eq. 3's target) and against E'_x (G's input)


def check_union(union: Mapping[str, np.ndarray], who: str) -> list[str]:
    """The set names present in ``union`` (clean first, then the paper's order), after checking its arrays."""
    missing = [k for k in UNION_KEYS if k not in union]
    if missing:
        raise EcgDataError(f"{who}: the test union lacks {missing}; expected the arrays {list(UNION_KEYS)} that "
                           "attack_generation writes (atk_gan_test_set)")
    n = len(union["y"])
    bad = [k for k in ("x", "x_clean", "attacked", "attack") if len(union[k]) != n]
    if bad or np.shape(union["x"]) != np.shape(union["x_clean"]):
        raise EcgDataError(f"{who}: arrays {bad or ['x', 'x_clean']} of the test union do not hold one row per beat "
                           f"({n} labels, x {np.shape(union['x'])}, x_clean {np.shape(union['x_clean'])})")
    names = [str(a) for a in np.unique(union["attack"])]
    unknown = sorted(set(names) - {CLEAN, *ATK_GAN_ATTACKS})
    if unknown:
        raise EcgDataError(f"{who}: the test union has rows of attack(s) {unknown}; expected 'clean' and "
                           f"ECG-ATK-GAN's six attacks {list(ATK_GAN_ATTACKS)}")
    return [a for a in (CLEAN, *ATK_GAN_ATTACKS) if a in names]


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _eval(model: nn.Module) -> nn.Module:
    return model.eval()


def predict(model: nn.Module, x: np.ndarray, *, batch_size: int = 512, device: torch.device | str = "cpu") -> np.ndarray:
    """Arrhythmia predictions of ``model`` (its ``forward``: for a discriminator, the arrhythmia head)."""
    model = _eval(model).to(device)
    out = []
    with torch.inference_mode():
        for part in _batches(len(x), batch_size):
            out.append(model(torch.as_tensor(np.asarray(x[part], dtype=np.float32), device=device)).argmax(1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def flagged(discriminator: nn.Module, x: np.ndarray, *, batch_size: int = 512,
            device: torch.device | str = "cpu") -> np.ndarray:
    """True where the discriminator's attack head calls the beat attacked."""
    _require_heads(discriminator, "the attack head's verdict")
    model = _eval(discriminator).to(device)
    out = []
    with torch.inference_mode():
        for part in _batches(len(x), batch_size):
            heads = model.heads(torch.as_tensor(np.asarray(x[part], dtype=np.float32), device=device))
            out.append((heads.attack.argmax(1) == ATTACKED_CLASS).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=bool)


def _require_heads(model: nn.Module, what: str) -> None:
    if not callable(getattr(model, "heads", None)):
        raise EcgDataError(f"{what} needs a three-head discriminator (atk_gan_discriminator or "
                           f"atk_gan_discriminator_code); got {type(model).__name__}")


def _rate(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else float("nan")


def protocol_rows(model: nn.Module, union: Mapping[str, np.ndarray], *, run: str, batch_size: int = 512,
                  device: torch.device | str = "cpu") -> list[dict]:
    """Table 1's row of ``run`` for every set of ``union``: beats, accuracy, balanced accuracy and each class's
    sensitivity and specificity (fractions), the model predicting every beat as it is stored."""
    sets = check_union(union, run)
    classes = check_classes(model, union, run)
    pred = predict(model, union["x"], batch_size=batch_size, device=device)
    y, attack = np.asarray(union["y"]), np.asarray(union["attack"]).astype(str)
    rows = []
    for name in sets:
        sel = attack == name
        m = classification_metrics(y[sel], pred[sel], len(classes), classes)
        row = {"run": run, "set": name, "beats": int(sel.sum()), "accuracy": m["accuracy"],
               "balanced_accuracy": m["balanced_accuracy"]}
        for c in classes:
            row[f"{c}_sensitivity"] = m["per_class"][c]["sensitivity"]
            row[f"{c}_specificity"] = m["per_class"][c]["specificity"]
        rows.append(row)
    return rows


def detection_rows(discriminator: nn.Module, union: Mapping[str, np.ndarray], *, run: str, batch_size: int = 512,
                   device: torch.device | str = "cpu") -> list[dict]:
    """The attack head on every set: ``flagged`` (fraction of all its beats), ``detection_rate`` (among the beats
    that differ from their clean original; NaN where none does), ``false_positive_rate`` (among the others; NaN
    where none), ``accuracy`` (verdict == the ``attacked`` flag)."""
    sets = check_union(union, run)
    flags = flagged(discriminator, union["x"], batch_size=batch_size, device=device)
    attacked, attack = np.asarray(union["attacked"], dtype=bool), np.asarray(union["attack"]).astype(str)
    rows = []
    for name in sets:
        sel = attack == name
        f, a = flags[sel], attacked[sel]
        rows.append({"run": run, "set": name, "beats": int(sel.sum()), "attacked_beats": int(a.sum()),
                     "flagged": _rate(f), "detection_rate": _rate(f[a]), "false_positive_rate": _rate(f[~a]),
                     "accuracy": _rate(f == a)})
    return rows


def generate(generator: nn.Module, x: np.ndarray, y: np.ndarray, *, seed: int = 0, batch_size: int = 512,
             device: torch.device | str = "cpu") -> np.ndarray:
    """G(E'_x, E_y, z) [n, L] in eval mode, z drawn uniform in [0, 1] from a generator seeded with ``seed``."""
    generator = _eval(generator).to(device)
    length = int(np.shape(x)[1])
    rng = torch.Generator().manual_seed(int(seed))
    out = []
    with torch.inference_mode():
        for part in _batches(len(x), batch_size):
            xb = torch.as_tensor(np.asarray(x[part], dtype=np.float32))
            z = torch.rand(xb.shape[0], 1, length, generator=rng)
            g = generator(xb.to(device), torch.as_tensor(np.asarray(y[part]), device=device), z.to(device))
            out.append(g.reshape(xb.shape[0], length).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, length), dtype=np.float32)


def fidelity_rows(generator: nn.Module, union: Mapping[str, np.ndarray], *, run: str, seed: int = 0,
                  batch_size: int = 512, device: torch.device | str = "cpu") -> tuple[list[dict], dict[str, np.ndarray]]:
    """Table 3 for ``run``'s generator: per set and reference (``clean``: E_x, eq. 3's target; ``input``: E'_x),
    the mean MSE, SSIM, cross-correlation coefficient and NRMSE of G(E'_x, E_y, z) to the reference; and one
    example beat per set (its first beat that differs from its clean original, the first beat of the clean set):
    arrays ``set``, ``x_clean``, ``x``, ``generated``, ``y``, ``row`` (its row in the union)."""
    sets = check_union(union, run)
    n_classes = getattr(generator, "n_classes", None)
    classes = [str(c) for c in union["classes"]]
    if n_classes is not None and int(n_classes) != len(classes):
        raise EcgDataError(f"{run}: the generator is conditioned on {n_classes} classes, the test union has "
                           f"{len(classes)} classes {classes}")
    generated = generate(generator, union["x"], union["y"], seed=seed, batch_size=batch_size, device=device)
    attack = np.asarray(union["attack"]).astype(str)
    references = {"clean": np.asarray(union["x_clean"]), "input": np.asarray(union["x"])}
    attacked = np.asarray(union["attacked"], dtype=bool)
    rows, shown = [], []
    for name in sets:
        sel = attack == name
        for reference in REFERENCES:
            rows.append({"run": run, "set": name, "reference": reference, "beats": int(sel.sum()),
                         **fidelity(generated[sel], references[reference][sel])})
        candidates = np.flatnonzero(sel & attacked) if name != CLEAN else np.flatnonzero(sel)
        if candidates.size:
            shown.append(int(candidates[0]))
    shown = np.asarray(shown, dtype=np.int64)
    examples = {"set": attack[shown], "x_clean": references["clean"][shown].astype(np.float32),
                "x": references["input"][shown].astype(np.float32), "generated": generated[shown].astype(np.float32),
                "y": np.asarray(union["y"])[shown], "row": shown, "classes": np.asarray(union["classes"])}
    return rows, examples


EVASION_ATTACKS = ("pgd", "apgd")


def evasion_rows(discriminator: nn.Module, beats: Mapping[str, np.ndarray], *, run: str, eps: float,
                 attacks: Sequence[str] = EVASION_ATTACKS, losses: Sequence[str] = ("ce", "evasion"),
                 steps: int = 100, step_size: float | None = None, restarts: int = 1, per_class: int | None = None,
                 seed: int = 0, batch_size: int = 512, device: torch.device | str = "cpu") -> list[dict]:
    """PGD and APGD (``attacks``) at ``eps`` on the deployed discriminator, once per loss of ``losses`` ("ce": the
    arrhythmia head alone; "evasion": plus the detector's "clean" term), on a seeded class-balanced subset of the
    clean ``beats`` (``step_size`` is PGD's; APGD adapts its own).

    Per loss: ``accuracy`` (a beat counts as correct only if it is also correct clean), ``fooled`` (fraction of the
    clean-correct beats misclassified), ``flagged_fooled`` (fraction of the fooled beats the attack head flags),
    ``undetected_fooled`` (fraction of the clean-correct beats fooled and not flagged), ``flagged_clean`` (the
    head's false-positive rate on the same beats clean). PGD and APGD return each beat's first misclassified
    iterate (:mod:`ecg_pipeline.attacks.pgd`, :mod:`ecg_pipeline.attacks.apgd`): they stop once the arrhythmia
    head is fooled, whether flagged or not, so an attacker who kept stepping on the detector term could only
    lower ``flagged_fooled``: it is an upper bound of what the head catches of this attacker."""
    unknown = [a for a in attacks if a not in EVASION_ATTACKS]
    if unknown:
        raise EcgDataError(f"{run}: evasion attacks {unknown}; expected some of {list(EVASION_ATTACKS)}", key="attacks")
    _require_heads(discriminator, f"{run}: the detector-evasion attack")
    classes = check_classes(discriminator, beats, run)
    x_all, y_all = np.asarray(beats["x"], dtype=np.float32), np.asarray(beats["y"], dtype=np.int64)
    subset = balanced_subset(y_all, per_class, seed)
    x, y = x_all[subset], y_all[subset]
    model = _eval(discriminator).to(device)
    clean_pred = predict(model, x, batch_size=batch_size, device=device)
    clean_flags = flagged(model, x, batch_size=batch_size, device=device)
    correct = clean_pred == y
    rows = []
    for attack, loss in ((a, loss) for a in attacks for loss in losses):
        adv = np.empty_like(x)
        for part in _batches(len(x), batch_size):
            xb = torch.as_tensor(x[part], device=device)
            yb = torch.as_tensor(y[part], device=device)
            if attack == "pgd":
                xa = pgd(model, xb, yb, eps, bounds=BOUNDS, seed=seed, steps=steps, step_size=step_size,
                         restarts=restarts, loss=loss)
            else:
                xa = apgd(model, xb, yb, eps, bounds=BOUNDS, seed=seed, steps=steps, restarts=restarts, loss=loss)
            adv[part] = xa.cpu().numpy()
        pred = predict(model, adv, batch_size=batch_size, device=device)
        flags = flagged(model, adv, batch_size=batch_size, device=device)
        fooled = correct & (pred != y)
        rows.append({"run": run, "attack": attack, "loss": loss, "eps": float(eps), "beats": int(len(y)), "classes": len(classes),
                     "clean_accuracy": _rate(correct), "accuracy": _rate(correct & (pred == y)),
                     "fooled": _rate(fooled[correct]), "flagged_fooled": _rate(flags[fooled]),
                     "undetected_fooled": _rate((fooled & ~flags)[correct]), "flagged_clean": _rate(clean_flags),
                     "linf": float(np.abs(adv - x).max()) if len(x) else float("nan")})
    return rows
