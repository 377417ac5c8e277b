"""AutoAttack's "standard" ensemble (Croce & Hein 2020): APGD-CE, then APGD-T, then Square, each run only
on the beats still unbroken, so the result is the per-beat worst case over the three at the cost of one.
AutoAttack's own "standard" runs FAB-T (:mod:`.fab`) between APGD-T and Square: ``attacks: [apgd_ce, apgd_t,
fab_t, square]`` adds it (with the APGDs' ``steps``, ``restarts`` and ``n_target_classes``, as AutoAttack sets
them); the default leaves it out, as before it existed.

Returns ``(x_adv, {"broken_by": ...})``: ``broken_by`` is, per beat, the index in ``attacks`` of the
attack that broke it (``-1``: unbroken, ``-2``: misclassified clean, never attacked). The evaluation
reads it to tell whether the gradient-free Square found what the gradient attacks missed (a sign of
gradient masking).

``surrogates`` (an :class:`~ecg_pipeline.models.ensemble.Ensemble` only; default ``("self",)``, plain
AutoAttack): the gradient attacks are crafted on each named stand-in in turn (``self``, ``mean_logits``: the
members' mean logits, ``members``: each member), always on the beats the judged model still gets right, and every
candidate is judged by the model itself; Square always queries the model itself. This is the adaptive protocol
for a majority vote, whose own gradient is almost nowhere informative: the per-beat worst case over white-box
attacks on every differentiable surrogate and a score-based attack on the vote's scores. ``info["surrogate"]``
then says, per beat, which stand-in the breaking example was crafted on (an index into the expanded list
``self``/``mean_logits``/``member0``.. in the order given, then one more index for Square on the model itself;
``-1``: not broken).

**Over a grid** (:func:`autoattack_over_grid`, what ``evaluation.robustness`` calls once per batch when
``nested: true``): the L-inf balls clipped to the bounds are nested, so a beat broken at eps_i is broken at every
eps_j > eps_i. The pass replays the per-eps calls bit for bit (:func:`autoattack_jobs`: at each eps the same
beats, batches and seeds as ``autoattack`` at that eps) and carries each break, as found, to every larger eps:
its outcome is the per-eps outcome closed upward, never weaker at any (eps, beat) pair, by construction. (An
earlier form skipped, at larger eps, the beats broken at a smaller one and, for FAB-T and Square, at smaller eps
the beats they failed on at a larger one; that changed the batches the randomly started APGDs draw for and the
model's batch-size-dependent float rounding, and on the zoo's nsr_mlp one pair the per-eps evaluation broke
stood.) The saving is Square's: its cost is its query loop (up to ``max_queries`` iterations a call), and
``autoattack_jobs`` runs it ONCE for every eps, each eps a stream of its own radius, seed and forward passes
(:mod:`.square`). ``workers`` (2 on a free two-core machine) is read by the evaluation: it runs its batches in that
many threads, each seeded as before, so the outcome does not depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecg_pipeline.models import logits_of

from .apgd import apgd_ce, apgd_t
from .base import AttackError, Bounds, check_attack_inputs, frozen, register_attack
from .fab import fab_t
from .square import square

ENSEMBLE = ("apgd_ce", "apgd_t", "square")
#: AutoAttack's "standard" order with FAB-T (Croce & Hein 2020, section 4): what ``attacks`` may name.
STANDARD = ("apgd_ce", "apgd_t", "fab_t", "square")
_ATTACKS = {"apgd_ce": apgd_ce, "apgd_t": apgd_t, "fab_t": fab_t, "square": square}
CLEAN_WRONG, UNBROKEN = -2, -1
#: ``info`` key of the nested pass: the (eps, beat) pairs that the ensemble called at that eps alone breaks.
INDEPENDENT = "broken_independently"


@register_attack("autoattack", effort_keys=("steps", "restarts", "max_queries"))
def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int | None = None,
    max_queries: int = 5000,
    p_init: float = 0.8,
    attacks: tuple[str, ...] = ENSEMBLE,
    surrogates: tuple[str, ...] = ("self",),
    nested: bool = False,
    workers: int = 1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The ensemble at ``eps``, ``attacks`` in the order given: ``steps``/``restarts`` for both APGDs (and FAB-T),
    ``n_target_classes`` for APGD-T (and FAB-T), ``max_queries``/``p_init`` for Square; ``surrogates``: what the
    gradient attacks craft on (module doc). ``nested``/``workers``: how an evaluation runs it over a grid
    (:func:`autoattack_over_grid`); one eps alone does not read them."""
    check_attack_inputs(x, y, eps, mask=mask, bounds=bounds)
    settings = _member_settings(attacks, steps, restarts, n_target_classes, max_queries, p_init)
    crafters = _surrogates(model, tuple(surrogates))
    x_adv = x.detach().clone()
    with frozen(model), torch.no_grad():  # not inference_mode: ``todo`` is updated in place below
        todo = logits_of(model, x, mask).argmax(1) == y
    broken_by = torch.full((x.shape[0],), UNBROKEN, dtype=torch.int64, device=x.device)
    broken_by[~todo] = CLEAN_WRONG
    crafted_on = torch.full_like(broken_by, UNBROKEN)
    for i, name in enumerate(attacks):
        for s, (_, crafter) in enumerate(crafters if name != "square" else [("self", model)]):
            index = todo.nonzero().flatten()
            if index.numel() == 0 or eps == 0:
                break
            sub_mask = mask[index] if mask is not None and mask.shape[0] == x.shape[0] else mask
            found = _ATTACKS[name](crafter, x[index], y[index], eps, mask=sub_mask, bounds=bounds,
                                   seed=seed + i + len(attacks) * s, **settings[name])
            with frozen(model), torch.no_grad():
                success = logits_of(model, found, sub_mask).argmax(1) != y[index]
            hit = index[success]
            x_adv[hit] = found[success]
            broken_by[hit] = i
            crafted_on[hit] = s if name != "square" else len(crafters)  # Square: the model itself, counted last
            todo[hit] = False
    info = {"broken_by": broken_by}
    if tuple(surrogates) != ("self",):
        info["surrogate"] = crafted_on
    return x_adv, info


def autoattack_over_grid(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: Sequence[float],
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    standing: torch.Tensor | None = None,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int | None = None,
    max_queries: int = 5000,
    p_init: float = 0.8,
    attacks: tuple[str, ...] = ENSEMBLE,
    surrogates: tuple[str, ...] = ("self",),
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """The ensemble at every eps of ``grid`` in one nested pass (module doc); returns ``(x_adv, info)`` with
    ``x_adv[g]`` the beats at ``grid[g]`` and ``info["broken_by"]`` ``[len(grid), n]`` as :func:`autoattack`'s per eps,
    after carrying; ``info[INDEPENDENT]`` (bool ``[len(grid), n]``): the pairs :func:`autoattack` alone breaks.

    ``standing`` (bool ``[len(grid), n]``, default every beat at every eps > 0): the beats :func:`autoattack` is
    called on at each eps (escalation passes the ones still unbroken); a break found at eps_i is carried to every
    larger eps where the beat stands. Seeds as :func:`autoattack` called on ``x[standing[g]]`` with ``seed``."""
    grid = [float(e) for e in grid]
    for eps in grid:
        check_attack_inputs(x, y, eps, mask=mask, bounds=bounds)
    if any(b < a for a, b in zip(grid, grid[1:])):
        raise AttackError(f"autoattack over a grid: the eps must be in increasing order, got {grid}")
    n, n_grid = x.shape[0], len(grid)
    if standing is not None and tuple(standing.shape) != (n_grid, n):
        raise AttackError(f"autoattack over a grid: standing must be [{n_grid}, {n}] (eps x beats), got "
                          f"{tuple(standing.shape)}")
    pairs = torch.ones(n_grid, n, dtype=torch.bool, device=x.device) if standing is None else \
        standing.to(device=x.device, dtype=torch.bool)
    jobs = [(eps, pairs[g].nonzero().flatten(), seed) for g, eps in enumerate(grid)]
    done = autoattack_jobs(model, x, y, jobs, mask=mask, bounds=bounds, steps=steps, restarts=restarts,
                           n_target_classes=n_target_classes, max_queries=max_queries, p_init=p_init,
                           attacks=attacks, surrogates=surrogates)
    with frozen(model), torch.no_grad():
        clean_right = logits_of(model, x, mask).argmax(1) == y
    todo = clean_right[None, :] & pairs
    todo[[g for g, eps in enumerate(grid) if eps == 0]] = False
    x_adv = [x.detach().clone() for _ in grid]
    broken_by = torch.full((n_grid, n), UNBROKEN, dtype=torch.int64, device=x.device)
    broken_by[:, ~clean_right] = CLEAN_WRONG
    crafted_on = torch.full_like(broken_by, UNBROKEN)
    alone = torch.zeros(n_grid, n, dtype=torch.bool, device=x.device)
    for g, ((_, index, _), (found, info)) in enumerate(zip(jobs, done)):  # increasing eps: the smallest ball first
        rows = (info["broken_by"] >= 0).nonzero().flatten()
        hit = index[rows]
        alone[g, hit] = True
        for h in range(g, n_grid):  # the example lies in every larger ball too: carried where the pair stands
            free = todo[h, hit]
            take = hit[free]
            x_adv[h][take] = found[rows[free]]
            broken_by[h, take] = info["broken_by"][rows[free]]
            if "surrogate" in info:
                crafted_on[h, take] = info["surrogate"][rows[free]]
            todo[h, take] = False
    info = {"broken_by": broken_by, INDEPENDENT: alone}
    if tuple(surrogates) != ("self",):
        info["surrogate"] = crafted_on
    return x_adv, info


def autoattack_jobs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    jobs: Sequence[tuple[float, torch.Tensor, int]],
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int | None = None,
    max_queries: int = 5000,
    p_init: float = 0.8,
    attacks: tuple[str, ...] = ENSEMBLE,
    surrogates: tuple[str, ...] = ("self",),
) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """:func:`autoattack` for each job ``(eps, index, seed)`` on the beats ``x[index]``, bit for bit: per job
    ``(x_adv, info)`` as ``autoattack(model, x[index], y[index], eps, seed=seed, ..)`` returns. Every member but
    Square is that call's (the same beats, seeds and batches); Square runs ONCE for all the jobs' standing beats,
    each job a stream of its own radius and seed, queried in forward passes of its own
    (:func:`~.square.square_with_queries`, ``forward_per_stream``): one query loop instead of one per job."""
    settings = _member_settings(attacks, steps, restarts, n_target_classes, max_queries, p_init)
    crafters = _surrogates(model, tuple(surrogates))
    n = x.shape[0]
    states = []
    for eps, index, seed in jobs:
        check_attack_inputs(x, y, eps, mask=mask, bounds=bounds)
        xs, ys = x[index], y[index]
        ms = mask[index] if mask is not None and mask.shape[0] == n else mask
        with frozen(model), torch.no_grad():
            todo = logits_of(model, xs, ms).argmax(1) == ys
        broken_by = torch.full((xs.shape[0],), UNBROKEN, dtype=torch.int64, device=x.device)
        broken_by[~todo] = CLEAN_WRONG
        states.append({"eps": float(eps), "seed": int(seed), "x": xs, "y": ys, "mask": ms, "todo": todo,
                       "x_adv": xs.detach().clone(), "broken_by": broken_by, "crafted_on": torch.full_like(
                           broken_by, UNBROKEN)})

    def record(state, i: int, s: int, index: torch.Tensor, found: torch.Tensor) -> None:
        """The member's breaks among ``index``, judged by the model itself on the job's own batch."""
        sub_mask = state["mask"][index] if state["mask"] is not None else None
        with frozen(model), torch.no_grad():
            success = logits_of(model, found, sub_mask).argmax(1) != state["y"][index]
        hit = index[success]
        state["x_adv"][hit] = found[success]
        state["broken_by"][hit] = i
        state["crafted_on"][hit] = s if attacks[i] != "square" else len(crafters)
        state["todo"][hit] = False

    for i, name in enumerate(attacks):
        if name == "square":
            _square_once(model, states, i, record, bounds, settings["square"])
            continue
        for s, (_, crafter) in enumerate(crafters):
            for state in states:
                index = state["todo"].nonzero().flatten()
                if index.numel() == 0 or state["eps"] == 0:
                    continue
                sub_mask = state["mask"][index] if state["mask"] is not None else None
                found = _ATTACKS[name](crafter, state["x"][index], state["y"][index], state["eps"], mask=sub_mask,
                                       bounds=bounds, seed=state["seed"] + i + len(attacks) * s, **settings[name])
                record(state, i, s, index, found)
    out = []
    for state in states:
        info = {"broken_by": state["broken_by"]}
        if tuple(surrogates) != ("self",):
            info["surrogate"] = state["crafted_on"]
        out.append((state["x_adv"], info))
    return out


def _square_once(model, states, i, record, bounds, settings) -> None:
    """Square (member ``i``) on every job's standing beats in one call, each job a stream (its eps, its seed + i)
    with its own forward passes; a job whose (eps, seed) another job shares gets its own call (streams are keyed
    by them)."""
    live = [(state, state["todo"].nonzero().flatten()) for state in states]
    live = [(state, index) for state, index in live if index.numel() and state["eps"] > 0]
    keys = [(state["eps"], state["seed"] + i) for state, _ in live]
    if len(set(keys)) < len(keys):  # would share a generator: one call per job, as autoattack makes it
        groups = [[job] for job in live]
    else:
        groups = [live] if live else []
    for group in groups:
        xs = torch.cat([state["x"][index] for state, index in group])
        ys = torch.cat([state["y"][index] for state, index in group])
        masks = [state["mask"] for state, _ in group]
        ms = None if masks[0] is None else torch.cat([state["mask"][index] for state, index in group])
        radii = torch.cat([torch.full((index.numel(),), state["eps"], dtype=xs.dtype, device=xs.device)
                           for state, index in group])
        seeds = torch.cat([torch.full((index.numel(),), state["seed"] + i, dtype=torch.long, device=xs.device)
                           for state, index in group])
        found = square(model, xs, ys, radii if len(group) > 1 else group[0][0]["eps"], mask=ms, bounds=bounds,
                       seed=seeds if len(group) > 1 else group[0][0]["seed"] + i, forward_per_stream=True, **settings)
        at = 0
        for state, index in group:
            record(state, i, 0, index, found[at : at + index.numel()])
            at += index.numel()


autoattack.over_grid = autoattack_over_grid  # read by evaluation.robustness and .escalation
autoattack.jobs = autoattack_jobs  # read by evaluation.escalation


def _member_settings(attacks, steps, restarts, n_target_classes, max_queries, p_init) -> dict[str, dict]:
    """Each member's keyword arguments; refuses an unknown member before any work."""
    unknown = [a for a in attacks if a not in _ATTACKS]
    if unknown:
        raise AttackError(f"autoattack: unknown attack(s) {unknown}; expected some of {list(_ATTACKS)}")
    return {"apgd_ce": {"steps": steps, "restarts": restarts},
            "apgd_t": {"steps": steps, "restarts": restarts, "n_target_classes": n_target_classes},
            "fab_t": {"steps": steps, "restarts": restarts, "n_target_classes": n_target_classes},
            "square": {"max_queries": max_queries, "p_init": p_init}}


def _surrogates(model: nn.Module, names: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """``[(label, module)]`` the gradient attacks craft on; anything beyond ``self`` needs an ensemble."""
    if names == ("self",):
        return [("self", model)]
    if not hasattr(model, "surrogates"):
        raise AttackError(f"autoattack: surrogates {list(names)} need an ensemble (a model with members), got "
                          f"{type(model).__name__}; use surrogates: [self] for a single model")
    return model.surrogates(names)


from .base import declare_params, flag, integer, number, some_of  # noqa: E402

declare_params(autoattack, nested=flag(), workers=integer(1), steps=integer(1), restarts=integer(1), n_target_classes=integer(1, none=True),
               max_queries=integer(1), p_init=number(above=0, at_most=1), attacks=some_of(*STANDARD),
               surrogates=some_of("self", "mean_logits", "members"))
