"""Certified robustness of one model over an eps grid, on the attacks' test subset: the LOWER end of the bracket.

:func:`certify_grid` certifies the seeded class-balanced subset the attacks evaluate
(:func:`ecg_pipeline.data.balance.balanced_subset` with the same ``per_class`` and ``seed``, so the same beats)
at every eps of the same grid, with one bound method (:func:`.certify.certify`), then optionally runs the exact
MILP (Tjeng et al. 2019) on up to ``milp_max_beats`` beats per eps that the bounds leave open (a seeded choice),
upgrading them to certified or broken. ``milp_eps`` restricts the MILP to some eps of the grid
(the exact step where the bracket matters most). Two savings for costly bounds (the Kachuee CNN's full CROWN: ~25
s a beat on one core): ``sample_per_class`` bounds a seeded class-balanced sample of the attacks' subset (the
report then brackets on those beats only, the attack worst case restricted to them), and ``nested`` bounds, above
the first eps, only the beats certified at the eps below (the rest left unknown: sound, and rarely a loss, since a
larger ball only loosens the bounds). Its examples are the attacks' per-beat form
(:func:`.certify.certified_examples`): scored like an attack (by ``evaluation.worst_case``, one layer up: the
``<run>.certify`` node does it), the "accuracy" of the certified curve is the certified accuracy, a lower bound of
the robust accuracy, and its ACC_robust (seed 001 eq. 8) a lower bound of the worst case's.

Across the grid the L-inf balls are nested, so a certificate at eps holds at every smaller eps and a
counter-example at eps is one at every larger eps. The outcomes are closed under both (a beat certified at a
larger eps counts certified, with that eps' margin bound, at every smaller one; a break counts upwards): bound
heuristics are not monotone in eps, the truth is. A beat certified at a larger eps but broken at a smaller one
would be a soundness bug and is an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgAttackError, EcgConfigError, EcgDataError, EcgModelError, did_you_mean

from .bounds import other_classes
from .certify import BROKEN, CERTIFIED, METHODS, UNKNOWN, Certificate, certified_examples, certify
from .milp import check_milp_network
from .network import translate

log = logging.getLogger(__name__)

#: What certification takes from its data's ``attack_defaults`` when the block leaves it out: the attacks' beats
#: (per_class, seed), grid, input bounds and ACC_robust range, so the bracket compares like with like.
FROM_ATTACK_DEFAULTS = ("grid", "bounds", "eps_max", "per_class", "seed")
#: The keys of a ``certify:`` block that declare where it applies, not how it certifies (not CertifySpec's).
DECLARATION_KEYS = ("data", "models", "by_model")
BOUND_METHODS = tuple(m for m in METHODS if m != "milp")   # MILP runs on what a bound method leaves open


def spec_params(block: Mapping[str, Any], defaults: Mapping[str, Any] | None, model: str | None = None
                ) -> dict[str, Any]:
    """The block on one data and architecture: the data's ``attack_defaults`` for what certification shares with
    the attacks (:data:`FROM_ATTACK_DEFAULTS`), the block's own keys over them, then ``by_model[model]``'s (its
    ``milp`` merged key by key), the declaration keys removed. The one merge: for the declaration, for the node
    (which reads both as Kedro parameters) and for the zoo's re-check (which reads them from a stamp)."""
    shared = {k: v for k, v in dict(defaults or {}).items() if k in FROM_ATTACK_DEFAULTS}
    merged = {**shared, **{k: v for k, v in dict(block).items() if k not in DECLARATION_KEYS}}
    own = dict((dict(block).get("by_model") or {}).get(model) or {}) if model is not None else {}
    if isinstance(own.get("milp"), Mapping) and isinstance(merged.get("milp"), Mapping):
        own["milp"] = {**merged["milp"], **own["milp"]}
    return {**merged, **own}


@dataclass(frozen=True)
class CertifySpec:
    """One certification over a grid (``certify:`` in ``conf/base/parameters_attack.yml``)."""

    grid: tuple[float, ...]
    bounds: tuple[float, float] | None = (0.0, 1.0)
    eps_max: float | None = None
    per_class: int | None = None
    seed: int = 0
    method: str = "alpha_crown"
    intermediate: str = "crown"
    alpha_steps: int = 20
    alpha_lr: float = 0.1
    margin_tol: float = 1e-4
    batch_size: int = 64
    num_threads: int | None = 1
    sample_per_class: int | None = None   # bound only a seeded class-balanced sample of the attacks' subset
    nested: bool = False               # above the first eps, bound only the beats certified at the eps below
    milp_max_beats: int = 0            # per eps; 0: no MILP
    milp_time_limit: float = 20.0      # seconds per beat
    milp_eps: tuple[float, ...] | None = None   # the eps values the MILP runs at (None: every eps)

    @classmethod
    def from_params(cls, params: dict, section: str = "certify") -> CertifySpec:
        """The spec from a merged parameter block (``milp: {max_beats, time_limit}`` nested); every key and value
        checked, each error naming ``<section>.<key>``."""
        params = dict(params)
        milp = dict(params.pop("milp", None) or {})
        _known_keys(milp, ("max_beats", "time_limit", "eps"), f"{section}.milp")
        _known_keys(params, [f.name for f in fields(cls) if not f.name.startswith("milp_")] + ["milp"], section)
        grid = _grid(params.get("grid"), section)
        bounds = params.get("bounds", (0.0, 1.0))
        if bounds is not None and (len(bounds) != 2 or not float(bounds[0]) < float(bounds[1])):
            raise EcgConfigError(f"parameters '{section}.bounds': expected [low, high] with low < high or null, "
                                 f"got {bounds!r}")
        eps_max = params.get("eps_max")
        if eps_max is not None and not any(np.isclose(eps_max, grid)):
            raise EcgConfigError(f"parameters '{section}.eps_max': {eps_max} is not a grid point ({list(grid)})")
        method = params.get("method", cls.method)
        if method not in BOUND_METHODS:
            raise EcgConfigError(f"parameters '{section}.method': expected one of {list(BOUND_METHODS)} (MILP: "
                                 f"{section}.milp.max_beats){did_you_mean(method, BOUND_METHODS)}, got {method!r}")
        if params.get("intermediate", "crown") not in ("crown", "ibp"):
            raise EcgConfigError(f"parameters '{section}.intermediate': expected crown or ibp, "
                                 f"got {params['intermediate']!r}")
        milp_eps = milp.get("eps")
        if milp_eps is not None:
            values = milp_eps if isinstance(milp_eps, (list, tuple)) else [milp_eps]
            if not values or any(isinstance(e, bool) or not isinstance(e, (int, float)) or not any(np.isclose(e, grid))
                                 for e in values):
                raise EcgConfigError(f"parameters '{section}.milp.eps': expected grid points ({list(grid)}) or null "
                                     f"(every eps), got {milp_eps!r}")
            milp_eps = tuple(float(grid[int(np.argmin(np.abs(np.asarray(grid) - e)))]) for e in values)
        if not isinstance(params.get("nested", False), bool):
            raise EcgConfigError(f"parameters '{section}.nested': expected true or false, got {params['nested']!r}")
        spec = cls(grid=grid, bounds=None if bounds is None else (float(bounds[0]), float(bounds[1])),
                   eps_max=None if eps_max is None else float(eps_max), method=method,
                   **{k: params[k] for k in ("per_class", "seed", "intermediate", "alpha_steps", "alpha_lr",
                                             "margin_tol", "batch_size", "num_threads", "sample_per_class", "nested")
                      if k in params},
                   milp_max_beats=milp.get("max_beats", 0), milp_time_limit=milp.get("time_limit", 20.0),
                   milp_eps=milp_eps)
        for key, low in (("per_class", 1), ("alpha_steps", 0), ("batch_size", 1), ("num_threads", 1),
                         ("milp_max_beats", 0), ("seed", 0), ("sample_per_class", 1)):
            value = getattr(spec, key)
            if value is None and key in ("per_class", "num_threads", "sample_per_class"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise EcgConfigError(f"parameters '{section}.{key.replace('milp_', 'milp.')}': expected an integer "
                                     f">= {low}, got {value!r}")
        for key in ("alpha_lr", "margin_tol", "milp_time_limit"):
            value = getattr(spec, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise EcgConfigError(f"parameters '{section}.{key.replace('milp_', 'milp.')}': expected a number > 0, "
                                     f"got {value!r}")
        return spec


def _known_keys(block: dict, known, section: str) -> None:
    unknown = sorted(set(block) - set(known))
    if unknown:
        raise EcgConfigError(f"parameters '{section}.{unknown[0]}': unknown key{did_you_mean(unknown[0], known)} "
                             f"(expected some of {sorted(known)})")


def _grid(values, section: str) -> tuple[float, ...]:
    """Ascending eps values >= 0 starting at 0 (the clean point: ACC_robust needs it)."""
    if values is None:
        raise EcgConfigError(f"parameters '{section}.grid': no grid (set it, or the data's attack_defaults.grid)")
    try:
        grid = tuple(float(e) for e in values)
    except (TypeError, ValueError):
        raise EcgConfigError(f"parameters '{section}.grid': expected a list of eps values, got {values!r}") from None
    if not grid or grid[0] != 0.0 or list(grid) != sorted(set(grid)):
        raise EcgConfigError(f"parameters '{section}.grid': expected ascending eps values >= 0 that start at 0 "
                             f"(the clean point), got {list(grid)}")
    return grid


def check_model(model: nn.Module, spec: CertifySpec, name: str) -> bool:
    """Refuse, before any work, a model the verifier does not know (naming the layer); True where the MILP applies
    to it (the MLP), False where ``spec`` asks for MILP on a model it does not (the bounds still run)."""
    try:
        network = translate(model)
    except EcgModelError as err:
        raise EcgModelError(f"{name}: {err}") from None
    if spec.milp_max_beats == 0:
        return False
    try:
        check_milp_network(network, type(model).__name__)
    except (EcgModelError, EcgAttackError) as err:
        log.warning("%s: no MILP (%s); the bounds alone decide", name, err)
        return False
    return True


def certify_grid(model: nn.Module, data: dict, spec: CertifySpec, *, name: str = "certify"
                 ) -> tuple[dict, dict[str, np.ndarray]]:
    """Certify ``model`` on ``data`` (a model-input split of fixed-length beats) at every eps of ``spec.grid``, on
    the attacks' subset; returns (record, examples).

    ``record``: :func:`grid_record` (per eps the counts certified / unknown / broken, ``exact``, seconds, the MILP's
    share) with ``classes`` and the total ``seconds``. ``examples``: :func:`.certify.certified_examples` plus
    ``classes`` and ``milp_tried`` (``[G, n]``): the attacks' per-beat form, which
    :func:`ecg_pipeline.evaluation.worst_case.worst_case` scores into the certified curve and ACC_robust. A model
    the verifier refuses, or a padded split, is refused before any bound is computed."""
    milp = check_model(model, spec, name)
    batches = Batches(data)
    if batches.padded is not None:
        raise EcgDataError(f"{name}: certification takes fixed-length beats; this split holds padded records")
    classes = batches.classes or [str(i) for i in range(int(batches.y.max()) + 1)]
    trained_on = list(getattr(model, "meta", {}).get("classes") or [])
    if trained_on and batches.classes and trained_on != list(batches.classes):
        raise EcgDataError(f"{name}: the model was trained on classes {trained_on}, the split has {batches.classes}")
    y = batches.y.numpy()
    subset = balanced_subset(y, spec.per_class, spec.seed)
    if spec.sample_per_class is not None:   # a sample of the attacks' beats: the bracket is scored on it (report)
        subset = subset[balanced_subset(y[subset], spec.sample_per_class, spec.seed)]
    xs, ys = batches.x[subset], batches.y[subset]
    model = model.to("cpu").eval()
    n_classes = translate(model).n_classes
    start = time.perf_counter()
    certificates: list[Certificate] = []
    milp_tried = np.zeros((len(spec.grid), subset.size), dtype=bool)
    milp_decided = np.zeros_like(milp_tried)   # what the MILP itself decided (before the closure over the grid)
    bounded = np.zeros_like(milp_tried)        # the beats the bounds were computed on (all unless ``nested``)
    for g, eps in enumerate(spec.grid):
        # nested: a beat the bounds leave open at a smaller eps is left open above it without trying (the balls
        # are nested; a looser bound rarely closes it): the saving that makes a CNN's full CROWN affordable
        tried = (np.flatnonzero(certificates[-1].outcome == CERTIFIED) if spec.nested and certificates
                 else np.arange(subset.size))
        bounded[g, tried] = True
        part = (certify(model, xs[tried], ys[tried], eps, bounds=spec.bounds, method=spec.method,
                        batch_size=spec.batch_size, alpha_steps=spec.alpha_steps, alpha_lr=spec.alpha_lr,
                        intermediate=spec.intermediate, margin_tol=spec.margin_tol) if tried.size
                else Certificate(spec.method, float(eps), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8),
                                 np.zeros((0, n_classes - 1)), np.zeros((0, n_classes - 1), dtype=np.int64), 0.0))
        cert = _embedded(part, tried, ys, n_classes)
        if milp and (spec.milp_eps is None or any(np.isclose(eps, spec.milp_eps))):
            open_beats = np.flatnonzero(cert.outcome == UNKNOWN)
            rng = np.random.default_rng(spec.seed + g)
            chosen = np.sort(rng.choice(open_beats, min(spec.milp_max_beats, open_beats.size), replace=False))
            if chosen.size:
                exact = certify(model, xs[chosen], ys[chosen], eps, bounds=spec.bounds, method="milp",
                                batch_size=spec.batch_size, alpha_steps=spec.alpha_steps, alpha_lr=spec.alpha_lr,
                                intermediate=spec.intermediate, milp_time_limit=spec.milp_time_limit,
                                margin_tol=spec.margin_tol)
                _merge(cert, exact, chosen)
                milp_tried[g, chosen] = True
                milp_decided[g, chosen] = exact.outcome != UNKNOWN
        certificates.append(cert)
        log.info("%s: eps %g: %d certified, %d unknown, %d broken of %d (%d bounded, %.1f s)", name, eps,
                 int((cert.outcome == CERTIFIED).sum()), int((cert.outcome == UNKNOWN).sum()),
                 int((cert.outcome == BROKEN).sum()), subset.size, tried.size, cert.seconds)
    close_over_grid(certificates, name)
    examples = certified_examples(certificates, subset)
    examples["classes"] = np.asarray(classes, dtype=str)
    examples["milp_tried"] = milp_tried
    examples["bounded"] = bounded
    record = grid_record(certificates, spec, milp_tried, milp_decided, milp, bounded)
    record.update(classes=list(classes), seconds=time.perf_counter() - start)
    return record, examples


def _embedded(cert: Certificate, tried: np.ndarray, y: torch.Tensor, n_classes: int) -> Certificate:
    """``cert`` (of the beats at positions ``tried``) as a certificate of all ``y.numel()`` beats: a beat not tried
    is unknown, its lower margins -inf (no bound was computed)."""
    n = y.numel()
    if tried.size == n:
        return cert
    outcome = np.full(n, UNKNOWN, dtype=np.int8)
    lower = np.full((n, n_classes - 1), -np.inf)
    outcome[tried], lower[tried] = cert.outcome, cert.lower_margin
    others = other_classes(y, n_classes).numpy() if n else np.zeros((0, n_classes - 1), dtype=np.int64)
    beat_seconds = None
    if cert.beat_seconds is not None:
        beat_seconds = np.zeros(n)
        beat_seconds[tried] = cert.beat_seconds
    return Certificate(cert.method, cert.eps, y.reshape(-1).numpy(), outcome, lower, others, cert.seconds, beat_seconds,
                       {int(tried[p]): x for p, x in cert.counterexamples.items()},
                       {int(tried[p]): c for p, c in cert.counterexample_class.items()})


def _merge(cert: Certificate, exact: Certificate, chosen: np.ndarray) -> None:
    """The MILP's verdicts on beats ``chosen`` (positions in ``cert``) in place of the bounds' (its seconds added)."""
    cert.outcome[chosen] = exact.outcome
    cert.lower_margin[chosen] = np.maximum(cert.lower_margin[chosen], exact.lower_margin)
    beat_seconds = np.zeros(cert.y.size) if cert.beat_seconds is None else cert.beat_seconds
    beat_seconds[chosen] = exact.beat_seconds
    cert.beat_seconds = beat_seconds
    cert.seconds += exact.seconds
    for position, point in exact.counterexamples.items():
        cert.counterexamples[int(chosen[position])] = point
        cert.counterexample_class[int(chosen[position])] = exact.counterexample_class[position]


def close_over_grid(certificates: list[Certificate], name: str = "certify") -> None:
    """Nested balls: a certificate (and its margin bound) holds at every smaller eps, a break at every larger one;
    ``certificates`` in ascending eps, changed in place. A beat certified at a larger eps than one it is broken at
    is an error (a soundness bug)."""
    for g in range(len(certificates) - 2, -1, -1):
        here, larger = certificates[g], certificates[g + 1]
        clash = (larger.outcome == CERTIFIED) & (here.outcome == BROKEN)
        if clash.any():
            raise EcgAttackError(f"{name}: beat(s) at positions {np.flatnonzero(clash)[:5].tolist()} certified at eps "
                                 f"{larger.eps:g} but broken at {here.eps:g}: unsound bounds")
        up = larger.outcome == CERTIFIED
        here.outcome[up] = CERTIFIED
        here.lower_margin[up] = np.maximum(here.lower_margin[up], larger.lower_margin[up])
    for g in range(1, len(certificates)):
        here, smaller = certificates[g], certificates[g - 1]
        down = (smaller.outcome == BROKEN) & (here.outcome != BROKEN)
        if (down & (here.outcome == CERTIFIED)).any():
            raise EcgAttackError(f"{name}: beat(s) broken at eps {smaller.eps:g} but certified at {here.eps:g}: "
                                 "unsound bounds")
        here.outcome[down] = BROKEN
        for position in np.flatnonzero(down):
            here.counterexamples[int(position)] = smaller.counterexamples.get(int(position))
            here.counterexample_class[int(position)] = smaller.counterexample_class.get(
                int(position), int(smaller.pred()[position]))


def grid_record(certificates: list[Certificate], spec: CertifySpec, milp_tried: np.ndarray,
                milp_decided: np.ndarray, milp: bool, bounded: np.ndarray | None = None) -> dict:
    """What the verifier did over the grid (ascending eps, the same beats), per eps (``curve``): counts certified /
    unknown / broken, ``exact`` (no beat left unknown), seconds, what the MILP tried and decided. The certified
    accuracy curve and ACC_robust are scored from the examples by the attacks' own code (the node does it:
    ``evaluation`` is above this package)."""
    rows = []
    for g, cert in enumerate(certificates):
        decided = milp_decided[g]
        rows.append({"eps": cert.eps, "n": int(cert.y.size), "certified": int((cert.outcome == CERTIFIED).sum()),
                     "unknown": int((cert.outcome == UNKNOWN).sum()), "broken": int((cert.outcome == BROKEN).sum()),
                     "exact": bool((cert.outcome != UNKNOWN).all()), "seconds": cert.seconds,
                     "bounded": int(cert.y.size if bounded is None else bounded[g].sum()),
                     "seconds_per_beat": cert.seconds / max(int(cert.y.size if bounded is None else bounded[g].sum()), 1),
                     "milp": {"tried": int(milp_tried[g].sum()), "decided": int(decided.sum()),
                              "seconds_per_decided_beat": (float(cert.beat_seconds[decided].mean())
                                                           if decided.any() else None)}})
    return {"grid_param": "eps", "grid": [float(e) for e in spec.grid], "n": int(certificates[0].y.size),
            "per_class_subset": spec.per_class, "sample_per_class": spec.sample_per_class, "nested": spec.nested,
            "seed": spec.seed, "method": spec.method,
            "intermediate": spec.intermediate, "bounds": None if spec.bounds is None else list(spec.bounds),
            "eps_max": spec.eps_max,
            "milp": {"max_beats": spec.milp_max_beats, "time_limit": spec.milp_time_limit,
                     "eps": None if spec.milp_eps is None else list(spec.milp_eps), "applied": milp},
            "curve": rows, "exact": all(r["exact"] for r in rows)}
