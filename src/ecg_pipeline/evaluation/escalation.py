"""Escalation: more effort on the beats an attack left standing, until its robust accuracy stops moving.

Carlini et al. 2019 ("On Evaluating Adversarial Robustness", sec. 5's checklist: run iterative attacks with more
iterations and random restarts until the accuracy stops decreasing) and Croce & Hein 2020 (AutoAttack: report a
robust accuracy only from attacks that have converged): an attack's number bounds robustness from above only as
tightly as the attack has converged. The rule, after the attack's normal run (round 0): round r = 1, 2, .. reruns
the attack with each effort key it declares (``attacks.registry.effort_keys``: APGD steps and restarts, Square
queries, FAB steps ..) at 2^r times its configured value, on the beats still unbroken, at every eps > 0 of the
grid that has not converged, with a seed derived from the attack's seed and r; every new break that passes
:func:`valid_breaks` is added to the per-beat outcome (never is one removed). An eps has converged once a round
moved its class-balanced accuracy by less than ``tolerance``; it is not attacked again (a doubling that did not
move it is the convergence test, and re-attacking the most robust eps at 8x effort is most of the cost). It stops
when every eps has converged, or after ``max_doublings`` rounds; the record says per eps the accuracy after each
round, the effort, the beats added and why it stopped (``converged`` / ``max_doublings reached``).

Cost: every effort key is doubled, so round r costs about 2^r times the normal run for an attack with one key
(Square: queries) and 4^r for one with two (APGD, FAB: steps and restarts), on the beats still unbroken (those
dominate an attack's time: a broken beat leaves early). A run that stops at ``max_doublings`` 3 costs about
2 + 4 + 8 = 14 normal runs of Square and 4 + 16 + 64 = 84 of each APGD / FAB-T on the beats they leave; one that
converges after the first doubling pays 2x and 4x once (measured on 20 beats of a Kachuee CNN: that one round was
75 % of the `autoattack` evaluation's wall time, docs/measurements.md 16.1).
A decision-based attack's eps-free search is rerun per eps here (the attack-call form), not once per batch.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ecg_pipeline.attacks.base import frozen
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgConfigError
from ecg_pipeline.models import logits_of

from .grid_pass import grid_call, in_threads
from .metrics import classification_metrics, robust_score

CONVERGED, MAX_DOUBLINGS = "converged", "max_doublings reached"
#: Float32 rounding of ``x + delta``: an escalated break on the ball's surface is pulled this many float32 spacings
#: (of the beat's largest |x|) inside before it is checked strictly inside in float64.
SURFACE_SPACINGS = 4


@dataclass(frozen=True)
class Escalation:
    """``attacks.<name>.escalation``: at most ``max_doublings`` rounds of doubled effort, stopping once no eps moves
    by ``tolerance`` (a fraction: 0.005 = 0.5 point of class-balanced accuracy) or more."""

    max_doublings: int
    tolerance: float = 0.005

    @classmethod
    def from_value(cls, value, section: str) -> Escalation | None:
        """None (no escalation: the evaluation as before), or the checked mapping ``{max_doublings, tolerance}``."""
        where = f"parameters '{section}.escalation"
        if value is None or isinstance(value, Escalation):
            return value
        if not isinstance(value, Mapping):
            raise EcgConfigError(f"{where}': expected null or a mapping {{max_doublings: int, tolerance: float}}, "
                                 f"got {value!r}")
        unknown = sorted(set(value) - {"max_doublings", "tolerance"})
        if unknown:
            raise EcgConfigError(f"{where}': unknown key(s) {unknown}; expected max_doublings and tolerance")
        if "max_doublings" not in value:
            raise EcgConfigError(f"{where}.max_doublings': missing (how many doublings of the effort at most)")
        doublings, tolerance = value["max_doublings"], value.get("tolerance", cls.tolerance)
        if isinstance(doublings, bool) or not isinstance(doublings, int) or not 1 <= doublings <= 10:
            raise EcgConfigError(f"{where}.max_doublings': expected an integer from 1 to 10 (round r runs each effort "
                                 f"key at 2^r times its value), got {doublings!r}")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
            raise EcgConfigError(f"{where}.tolerance': expected a fraction of accuracy in (0, 1) (0.005 = 0.5 point), "
                                 f"got {tolerance!r}")
        return cls(doublings, float(tolerance))


def round_seed(seed: int, round_: int) -> int:
    """The seed of escalation round ``round_`` of an attack seeded ``seed`` (batch b adds b, as the normal run)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(round_)]).generate_state(1)[0] >> 1)


def effort_at(attack: Callable, params: Mapping, keys: Sequence[str], factor: int) -> dict:
    """The effort keys ``keys`` of ``attack`` (integers: their configured value, else the default) times ``factor``."""
    accepted = inspect.signature(attack).parameters
    effort = {}
    for key in keys:
        if key in accepted:
            value = params.get(key, accepted[key].default)
            if isinstance(value, int) and not isinstance(value, bool):
                effort[key] = factor * value
    return effort


def valid_breaks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, eps: float,
                 mask: torch.Tensor | None, bounds: tuple[float, float] | None,
                 ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """``(valid, pred, checked)`` per beat (``checked``: the points judged): ``x_adv`` is a real break at ``eps``:
    the model misclassifies it, its float64 L-inf distance to ``x`` is strictly below eps, it lies in ``bounds``
    and leaves padded samples untouched (the rule of ``attacks.fab``'s returned points). A point on the ball's
    surface (a projected iterate, whose float32 sum may round past eps) is first pulled :data:`SURFACE_SPACINGS`
    float32 spacings inside, then checked."""
    x, x_adv = x.detach(), x_adv.detach()
    scale = float(x.abs().max()) if x.numel() else 1.0
    margin = SURFACE_SPACINGS * float(torch.finfo(torch.float32).eps) * max(scale, 1.0)
    room = max(float(eps) - margin, 0.0)  # eps below float32 resolution: nothing is strictly inside
    delta = (x_adv.double() - x.double()).clamp(-room, room)
    candidate = (x.double() + delta).to(x.dtype)
    if bounds is not None:
        candidate = candidate.clamp(bounds[0], bounds[1])
    if mask is not None:
        candidate = torch.where(torch.broadcast_to(mask == 0, x.shape), x, candidate)
    inside = (candidate.double() - x.double()).flatten(1).abs().amax(1) < eps
    in_box = torch.ones_like(inside) if bounds is None else \
        ((candidate >= bounds[0]) & (candidate <= bounds[1])).flatten(1).all(1)
    with torch.inference_mode():
        pred = logits_of(model, candidate, mask).argmax(1)
    return ((pred != y) & inside & in_box).cpu().numpy(), pred.cpu().numpy(), candidate


def _scores(y: np.ndarray, pred: np.ndarray, grid: Sequence[float], classes: Sequence[str],
            eps_max: float | None) -> dict:
    """Accuracy and class-balanced accuracy per eps of one round's outcome, and ACC_robust when ``eps_max``."""
    rows = [classification_metrics(y, p, len(classes), classes) for p in pred]
    scores = {"accuracy": [float(r["accuracy"]) for r in rows],
              "balanced_accuracy": [float(r["balanced_accuracy"]) for r in rows]}
    if eps_max is not None and 0.0 in list(grid):
        scores["acc_robust_balanced"] = float(robust_score(list(grid), scores["balanced_accuracy"], eps_max)["robust"])
    return scores


def escalate(model: nn.Module, data: Batches, attack: Callable, *, subset: np.ndarray, pred: np.ndarray,
             grid: Sequence[float], params: Mapping, keys: Sequence[str], escalation: Escalation,
             classes: Sequence[str], bounds: tuple[float, float] | None = None, eps_max: float | None = None,
             batch_size: int = 512, seed: int = 0, device: torch.device | str = "cpu", keep: np.ndarray | None = None,
             infos: dict[str, np.ndarray] | None = None, nested: bool = False, workers: int = 1,
             independent: np.ndarray | None = None) -> tuple[dict, dict[tuple[int, int], np.ndarray]]:
    """Escalate ``attack`` (module docstring) on ``data[subset]``; ``pred`` [len(grid), len(subset)] (the normal
    run's prediction per eps, clean-wrong beats kept wrong) gains every valid new break, in place; so do ``infos``
    (the attack's per-beat integer arrays, e.g. ``broken_by``) at those beats. Returns (record, found): the record
    for the metrics JSON and the escalated adversarial beats at the positions ``keep`` (figures), by (g, position).

    ``nested`` (an attack with a nested pass over the grid, ``attack.over_grid``, and its per-eps replay
    ``attack.jobs``): ``independent`` (bool ``[len(grid), len(subset)]``) is what the per-eps evaluation does not
    count as correct (broken, or wrong clean); each
    round replays the per-eps round on it bit for bit (the same beats, batches and seeds; Square once for all of
    them, :func:`_nested_round`), the convergence of each eps is decided on it as the per-eps escalation decides,
    and a valid break at eps_i is carried to every larger eps where the beat still stood, converged or not: the
    outcome stays nested and holds every break the per-eps escalation finds. The rounds' scores are the outcome's;
    ``independent_balanced_accuracy`` the replayed per-eps outcome's, which the decisions read.
    """
    y = np.asarray(data.y.numpy()[subset])
    grid = [float(e) for e in grid]
    t0 = time.perf_counter()
    before = _scores(y, pred, grid, classes, eps_max)
    rounds = [{"round": 0, "effort": effort_at(attack, params, keys, 1), **before, "added": [0] * len(grid),
               "rejected": [0] * len(grid), "attacked": [0] * len(grid)}]
    keep_set = set(int(k) for k in (keep if keep is not None else ()))
    found: dict[tuple[int, int], np.ndarray] = {}
    stopped = MAX_DOUBLINGS
    active = [g for g, eps in enumerate(grid) if eps > 0]   # the eps not yet converged
    if nested:
        if independent is None or np.shape(independent) != pred.shape:
            raise EcgConfigError(f"escalation of a nested pass: the per-eps outcome must be [{len(grid)}, "
                                 f"{len(subset)}] (eps x beats), got {None if independent is None else np.shape(independent)}")
        alone = np.asarray(independent, dtype=bool).copy()
        alone_scores = _scores(y, np.where(alone, pred, y[None, :]), grid, classes, eps_max)
        rounds[0]["independent_balanced_accuracy"] = alone_scores["balanced_accuracy"]
    for r in range(1, escalation.max_doublings + 1):
        effort = effort_at(attack, params, keys, 2 ** r)
        call, seed_r = {**params, **effort}, round_seed(seed, r)
        added, rejected, attacked = [0] * len(grid), [0] * len(grid), [0] * len(grid)
        started = time.perf_counter()
        if nested:
            _nested_round(model, data, attack, subset=subset, y=y, pred=pred, alone=alone, grid=grid, active=active,
                          call=call, seed=seed_r, bounds=bounds, batch_size=batch_size, device=device,
                          workers=workers, infos=infos, keep_set=keep_set, found=found,
                          counts=(added, rejected, attacked))
        for g in [] if nested else active:
            eps = grid[g]
            standing = np.flatnonzero(pred[g] == y)
            attacked[g] = int(standing.size)
            for b, start in enumerate(range(0, standing.size, batch_size)):
                positions = standing[start : start + batch_size]
                x, yb, mask = data.take(subset[positions])[:3]
                x, yb = x.to(device), yb.to(device)
                mask = mask.to(device) if mask is not None else None
                out = attack(model, x, yb, eps, mask=mask, bounds=bounds, seed=seed_r + b, **call)
                x_adv, info = out if isinstance(out, tuple) else (out, {})
                valid, new_pred, checked = valid_breaks(model, x, yb, x_adv, eps, mask, bounds)
                with torch.inference_mode():
                    claimed = (logits_of(model, x_adv.detach(), mask).argmax(1) != yb).cpu().numpy()
                rejected[g] += int((claimed & ~valid).sum())
                added[g] += int(valid.sum())
                pred[g, positions[valid]] = new_pred[valid]
                for key, values in info.items():
                    if infos is not None and key in infos:
                        infos[key][g, positions[valid]] = np.asarray(values.cpu())[valid]
                for i in np.flatnonzero(valid):
                    if int(positions[i]) in keep_set:
                        found[(g, int(positions[i]))] = checked[i].cpu().numpy()
        scores = _scores(y, pred, grid, classes, eps_max)
        rounds.append({"round": r, "effort": effort, "seed": seed_r, **scores, "added": added, "rejected": rejected,
                       "attacked": attacked, "seconds": time.perf_counter() - started})
        decided_on = "balanced_accuracy"
        if nested:  # decided on the replayed per-eps outcome, as the per-eps escalation decides
            rounds[-1]["independent_balanced_accuracy"] = _scores(y, np.where(alone, pred, y[None, :]), grid, classes,
                                                                  eps_max)["balanced_accuracy"]
            decided_on = "independent_balanced_accuracy"
        moved = np.asarray(rounds[-2][decided_on]) - np.asarray(rounds[-1][decided_on])
        active = [g for g in active if moved[g] >= escalation.tolerance]
        if not active:
            stopped = CONVERGED
            break
    return summary(rounds, grid, escalation, stopped, time.perf_counter() - t0), found


def _nested_round(model, data, attack, *, subset, y, pred, alone, grid, active, call, seed, bounds, batch_size,
                  device, workers, infos, keep_set, found, counts) -> None:
    """One escalation round replaying the per-eps round bit for bit (``attack.jobs``: at each ``active`` eps the
    beats ``alone`` leaves standing, in the same batches, batch b seeded ``seed + b``; Square once for all of them),
    every break checked (:func:`valid_breaks`) on its batch as the per-eps round checks it. ``alone`` (the per-eps
    outcome, bool broken ``[len(grid), n]``) gains the breaks at their eps; ``pred`` gains each, as checked, at its
    eps and every larger eps where the beat still stands. Updates ``pred``, ``alone``, ``infos``, ``found`` and the
    per-eps ``counts`` (added, rejected, attacked) in place."""
    added, rejected, attacked = counts
    jobs_of, kwargs = attack.jobs, grid_call(call)
    batches = []  # (g, positions, batch seed): the per-eps round's batches
    for g in active:
        standing = np.flatnonzero(~alone[g])  # as the per-eps round: its pred[g] == y
        attacked[g] = int(standing.size)
        batches += [(g, standing[start : start + batch_size], seed + b)
                    for b, start in enumerate(range(0, standing.size, batch_size))]
    if not batches:
        return
    beats = np.unique(np.concatenate([positions for _, positions, _ in batches]))
    x, yb, mask = data.take(subset[beats])[:3]
    x, yb = x.to(device), yb.to(device)
    mask = mask.to(device) if mask is not None else None
    row_of = {int(p): r for r, p in enumerate(beats)}
    jobs = [(grid[g], torch.tensor([row_of[int(p)] for p in positions], dtype=torch.long, device=device), s)
            for g, positions, s in batches]
    chunks = [list(range(w, len(jobs), workers)) for w in range(min(workers, len(jobs)))]

    def work(chunk):
        return chunk, jobs_of(model, x, yb, [jobs[j] for j in chunk], mask=mask, bounds=bounds, **kwargs)

    done: dict[int, tuple] = {}
    with frozen(model):
        for chunk, results in in_threads(work, chunks, workers):
            done.update(zip(chunk, results))
    for j, (g, positions, _) in sorted(enumerate(batches), key=lambda item: item[1][0]):  # smallest eps first
        x_adv, info = done[j]
        rows = jobs[j][1]
        sub_mask = None if mask is None else mask[rows]
        valid, new_pred, checked = valid_breaks(model, x[rows], yb[rows], x_adv, grid[g], sub_mask, bounds)
        with torch.inference_mode():
            claimed = (logits_of(model, x_adv.detach(), sub_mask).argmax(1) != yb[rows]).cpu().numpy()
        rejected[g] += int((claimed & ~valid).sum())
        alone[g, positions[valid]] = True
        for h in range(g, len(grid)):  # checked inside eps_g's ball: inside every larger one
            take = valid & (pred[h, positions] == y[positions])
            added[h] += int(take.sum())
            pred[h, positions[take]] = new_pred[take]
            for key, values in info.items():
                if infos is not None and key in infos:
                    infos[key][h, positions[take]] = np.asarray(values.cpu())[take]
            for i in np.flatnonzero(take):
                if int(positions[i]) in keep_set:
                    found[(h, int(positions[i]))] = checked[i].cpu().numpy()


def summary(rounds: list[dict], grid: Sequence[float], escalation: Escalation, stopped: str, seconds: float) -> dict:
    """The metrics JSON's ``escalation``: the rounds, per eps the accuracy after each round and the beats added,
    the last round's largest move (and at which eps), and why it stopped."""
    last = np.asarray(rounds[-2]["balanced_accuracy"]) - np.asarray(rounds[-1]["balanced_accuracy"])
    worst = int(np.argmax(np.where(np.asarray(grid) > 0, last, -np.inf)))
    per_eps = [{"eps": float(eps), "balanced_accuracy": [r["balanced_accuracy"][g] for r in rounds],
                "accuracy": [r["accuracy"][g] for r in rounds], "added": [r["added"][g] for r in rounds],
                "rejected": [r["rejected"][g] for r in rounds], "last_move": float(last[g]),
                "converged": bool(last[g] < escalation.tolerance)}
               for g, eps in enumerate(grid) if eps > 0]
    return {"max_doublings": escalation.max_doublings, "tolerance": escalation.tolerance,
            "metric": "balanced_accuracy", "doublings": len(rounds) - 1, "stopped": stopped,
            "converged": stopped == CONVERGED, "last_move": float(last[worst]), "last_move_eps": float(grid[worst]),
            "added": int(sum(sum(r["added"]) for r in rounds)), "rounds": rounds, "per_eps": per_eps,
            "seconds": seconds}


def in_words(record: Mapping) -> str:
    """How far the escalation went and why it stopped, for the flag and the report."""
    n = record["doublings"]
    rounds = f"{n} doubling{'s' if n != 1 else ''}"
    move = f"{100 * record['last_move']:.1f} point at eps {record['last_move_eps']:g}"
    if record["converged"]:
        return (f"converged after {rounds} (the last moved at most {move}, under the "
                f"{100 * record['tolerance']:g}-point tolerance; {record['added']} beats added)")
    return f"{rounds}, still moving {move} ({record['stopped']}; {record['added']} beats added)"
