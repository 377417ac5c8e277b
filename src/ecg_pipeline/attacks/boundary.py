"""The Boundary attack: a decision-based attack that sees only the model's top-1 label.

Brendel, Rauber & Bethge, "Decision-Based Adversarial Attacks: Reliable Attacks Against Black-Box
Machine Learning Models", ICLR 2018. Start from a point that is already misclassified, then walk
along the decision boundary towards the clean input ``o``: each step draws Gaussian candidates,

1. orthogonal ("spherical") step: ``eta ~ N(0, I)`` rescaled to ``||eta||_2 = delta * d(o, x_adv)``,
   its component along ``o - x_adv`` removed, and the candidate ``x_adv + eta`` moved back onto the
   sphere of radius ``d(o, x_adv)`` around ``o``;
2. step towards the original: the candidates that are still adversarial move by
   ``epsilon * (o - candidate)``;

the closest adversarial candidate becomes the new ``x_adv``. Both step sizes adapt to their success
rates (the paper targets about 50 % for the orthogonal step): a rate below 20 % multiplies the step by
``step_adapt``, a rate above 50 % divides by it (the thresholds of ART's implementation). Only labels
are queried, through :class:`~ecg_pipeline.attacks.oracle.LabelOracle` (counted, budgeted, no grad).

Starting point (``init=``):

- ``"blend_uniform"`` (default): uniform noise in the domain (``bounds``, else the batch's value
  range) at the masked positions, redrawn until misclassified (``init_tries``), then a binary search
  along the segment to the clean input for the closest misclassified blend (``init_search_steps``);
  the starting point of the paper's reference implementation (Foolbox).
- ``"uniform"``: the misclassified uniform noise itself (no blending; ART's starting point).
- ``"other_class"``: the nearest (L2) input of the same batch whose label (clean oracle query,
  already paid for by that input) is not this sample's class, masked, then the same blend search;
  samples without such a neighbour fall back to ``"blend_uniform"``.

Eps convention (:func:`~ecg_pipeline.attacks.oracle.within_eps_ball`): the attack minimises the L2
distance and ignores ``eps``. :func:`boundary` returns the found adversarial point only where it lies
inside the L-inf eps-ball around ``x`` (the sample then counts as broken at that eps), and ``x``
unchanged everywhere else; the point is never projected into the ball. :func:`boundary_search`
returns the raw result (point, success, queries) so that an eps grid needs one search, not one per eps.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import AttackError, Bounds, frozen, per_row, project, register_attack
from .oracle import (
    eps_ball_attack,
    DecisionResult,
    LabelOracle,
    blend_search,
    check_decision_inputs,
    domain_of,
    split_rows,
    uniform_starts,
)

BOUNDARY_INITS = ("blend_uniform", "uniform", "other_class")


def _flat_norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1)


def _ratio_per_sample(hits: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    tried = torch.bincount(rows, minlength=n)
    good = torch.bincount(rows[hits], minlength=n)
    return good.to(torch.float64) / tried.clamp_min(1).to(torch.float64)


def _adapt(step: torch.Tensor, ratio: torch.Tensor, which: torch.Tensor, factor: float) -> None:
    """Shrink where the success rate is below 20 %, grow where it is above 50 % (samples ``which``)."""
    r = ratio[which]
    s = step[which]
    s = torch.where(r < 0.2, s * factor, torch.where(r > 0.5, s / factor, s))
    step[which] = s


def boundary_search(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    max_queries: int = 5000,
    init: str = "blend_uniform",
    candidates: int = 20,
    spherical_step: float = 0.01,
    source_step: float = 0.01,
    step_adapt: float = 0.667,
    source_trials: int = 5,
    init_tries: int = 50,
    init_search_steps: int = 10,
) -> DecisionResult:
    """Run the Boundary attack with at most ``max_queries`` label queries per sample (counting the
    clean-label query and the initialisation) and return what it found (see :class:`DecisionResult`).

    Per iteration each sample draws ``k = min(candidates, remaining // 2)`` orthogonal candidates
    (Gaussian, relative size ``spherical_step``) and queries the step towards the original (relative
    size ``source_step``) for those that stayed adversarial; if none of these does, the source step is
    shrunk and retried on the same candidates, up to ``source_trials`` times while the budget allows
    (ART's ``num_trial`` loop). ``init``, ``init_tries``, ``init_search_steps``: the starting point
    (module docstring). Deterministic for a ``seed`` (a local ``torch.Generator``).
    """
    check_decision_inputs(
        x, y, 0.0, mask=mask, bounds=bounds, max_queries=max_queries,
        integers={"candidates": candidates, "source_trials": source_trials, "init_tries": init_tries, "init_search_steps": init_search_steps},
        spherical_step=spherical_step, source_step=source_step,
    )
    if not 0 < float(step_adapt) < 1:
        raise AttackError(f"step_adapt must lie in (0, 1), got {step_adapt}")
    if init not in BOUNDARY_INITS:
        raise AttackError(f"unknown init {init!r}; expected one of {list(BOUNDARY_INITS)}")
    x = x.detach()
    n = x.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    oracle = LabelOracle(model, n, max_queries, mask=mask)
    all_rows = torch.arange(n)
    with torch.no_grad(), frozen(model):
        clean_labels = oracle(x, all_rows) if n else torch.empty(0, dtype=torch.int64)
        oracle.check_labels(y)
        success = clean_labels != y
        x_adv = x.clone()
        todo = (~success).nonzero().squeeze(1)
        if todo.numel():
            start, found = _starting_points(
                oracle, x, y, todo, clean_labels, init=init, mask=mask, bounds=bounds,
                tries=init_tries, search_steps=init_search_steps, gen=gen,
            )
            x_adv[found] = start[found]
            success |= found
            active = todo[found[todo]]
            _walk(
                oracle, x, y, x_adv, active, mask=mask, bounds=bounds, gen=gen, candidates=candidates,
                spherical_step=float(spherical_step), source_step=float(source_step), step_adapt=float(step_adapt),
                source_trials=source_trials,
            )
    return DecisionResult(x_adv=x_adv, success=success, queries=oracle.queries.clone())


def _starting_points(oracle, x, y, todo, clean_labels, *, init, mask, bounds, tries, search_steps, gen):
    n = x.shape[0]
    start = x.clone()
    found = torch.zeros(n, dtype=torch.bool)
    if init == "other_class":
        flat = x.flatten(1)
        for i in todo.tolist():
            others = (clean_labels != y[i]).nonzero().squeeze(1)
            if others.numel() == 0:
                continue
            j = others[(flat[others] - flat[i]).norm(dim=1).argmin()]
            start[i] = x[j]
        tried = todo[(start[todo] != x[todo]).flatten(1).any(dim=1)]
        if tried.numel():
            m = None if mask is None else mask[tried]
            cand = project(start[tried], x[tried], float("inf"), m, bounds)
            ok = tried[oracle.remaining()[tried] >= 1]
            if ok.numel():
                sel = (tried[:, None] == ok[None, :]).any(dim=1)
                adv = oracle.is_adversarial(cand[sel], ok, y)
                start[ok[adv]] = cand[sel][adv]
                found[ok[adv]] = True
    rest = todo[~found[todo]]
    if rest.numel():
        s, f = uniform_starts(
            oracle, x, y, rest, domain=domain_of(x, bounds), mask=mask, bounds=bounds, tries=tries, gen=gen
        )
        start[f] = s[f]
        found |= f
    hit = todo[found[todo]]
    if init != "uniform" and hit.numel():
        start = blend_search(oracle, x, start, y, hit, steps=search_steps)
    return start, found


def _walk(
    oracle, x, y, x_adv, active, *, mask, bounds, gen, candidates, spherical_step, source_step, step_adapt, source_trials
):
    """The main loop, in place on ``x_adv`` for the samples ``active``, until their budget is spent."""
    n = x.shape[0]
    delta = torch.full((n,), spherical_step, dtype=torch.float64)
    epsilon = torch.full((n,), source_step, dtype=torch.float64)
    while active.numel():
        k = torch.clamp(oracle.remaining()[active] // 2, max=candidates)
        active = active[k >= 1]
        k = k[k >= 1]
        if active.numel() == 0:
            break
        rows = split_rows(k, active)
        orig, cur = x[rows], x_adv[rows]
        m = None if mask is None else mask[rows]
        diff = orig - cur
        dist = _flat_norm(diff).clamp_min(1e-12)
        unit = diff / per_row(dist, x)

        # 1. orthogonal step on the sphere of radius dist around the original
        eta = torch.randn(cur.shape, generator=gen, dtype=x.dtype).to(x.device)
        if m is not None:
            eta = eta * m
        eta = eta / per_row(_flat_norm(eta).clamp_min(1e-12), x) * per_row(delta[rows].to(x.dtype) * dist, x)
        eta = eta - per_row((eta * unit).flatten(1).sum(dim=1), x) * unit
        sphere = cur + eta - orig
        sphere = orig + sphere * per_row(dist / _flat_norm(sphere).clamp_min(1e-12), x)
        sphere = project(sphere, orig, float("inf"), m, bounds)
        adv = oracle.is_adversarial(sphere, rows, y)
        _adapt(delta, _ratio_per_sample(adv, rows, n), active, step_adapt)
        if not bool(adv.any()):
            continue

        # 2. step towards the original, from the candidates that stayed adversarial; where none of a
        # sample's source steps stays adversarial, retry them with the shrunk source step
        surv, surv_rows = sphere[adv], rows[adv]
        per_sample = torch.bincount(surv_rows, minlength=n)
        pending = torch.unique(surv_rows)
        good_parts, row_parts = [], []
        for _ in range(source_trials):
            pending = pending[oracle.remaining()[pending] >= per_sample[pending]]
            if pending.numel() == 0:
                break
            take = torch.isin(surv_rows, pending)
            c, c_rows = surv[take], surv_rows[take]
            src = c + per_row(epsilon[c_rows].to(x.dtype), x) * (x[c_rows] - c)
            src = project(src, x[c_rows], float("inf"), None if mask is None else mask[c_rows], bounds)
            adv2 = oracle.is_adversarial(src, c_rows, y)
            _adapt(epsilon, _ratio_per_sample(adv2, c_rows, n), pending, step_adapt)
            good_parts.append(src[adv2])
            row_parts.append(c_rows[adv2])
            pending = pending[~torch.isin(pending, c_rows[adv2])]
        if not row_parts or sum(r.numel() for r in row_parts) == 0:
            continue
        good, good_rows = torch.cat(good_parts), torch.cat(row_parts)
        d = _flat_norm(good - x[good_rows])
        # closest adversarial candidate per sample, accepted only if closer than the current point
        best = torch.full((n,), float("inf"), dtype=d.dtype).scatter_reduce(0, good_rows, d, reduce="amin")
        sel = (d == best[good_rows]).nonzero().squeeze(1)
        samples, inverse = torch.unique(good_rows[sel], return_inverse=True)
        first = torch.full((samples.numel(),), sel.numel(), dtype=torch.int64)
        first = first.scatter_reduce(0, inverse, torch.arange(sel.numel()), reduce="amin")
        pick = sel[first]
        closer = best[samples] < _flat_norm(x_adv[samples] - x[samples])
        x_adv[samples[closer]] = good[pick[closer]]


boundary = eps_ball_attack(
    boundary_search,
    "boundary",
    """Boundary attack (Brendel et al., 2018) scored in the L-inf eps-ball: the adversarial point the L2-minimising search found where it lies within ``eps`` (L-inf) of ``x``, else ``x`` unchanged (see the module docstring). ``eps == 0`` returns ``x`` without querying the model.""",
)
register_attack("boundary", search=boundary_search, effort_keys=("max_queries",))(boundary)


from .base import declare_params, integer, number, one_of  # noqa: E402

declare_params(boundary_search, max_queries=integer(1), init=one_of(*BOUNDARY_INITS), candidates=integer(1),
               spherical_step=number(above=0), source_step=number(above=0), step_adapt=number(above=0, below=1),
               source_trials=integer(1), init_tries=integer(1), init_search_steps=integer(1))
