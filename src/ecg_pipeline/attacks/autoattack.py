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
``nested: true``; opt-in: on the zoo's nsr_mlp it was 1.57x faster but one (eps, beat) pair of 1,400 broken by the
independent evaluation stood under it, so the independent evaluation stays the default): the L-inf balls clipped to the bounds are nested, so one pass over the grid does the work of
one call per eps without the waste. A beat broken at eps_i carries its (checked) example to every eps_j > eps_i
and is not attacked there again; the gradient members run from the smallest eps upwards on the beats still
unbroken; FAB-T and Square (:data:`DESCENDING`) run from the largest eps downwards and skip, at a smaller eps, a
beat they failed to break at a larger one (for FAB-T, with one restart, this is exact: its trajectory knows no
eps but for when it stops; for Square, a random search, it is the issue-27 schedule, checked per beat against the
independent evaluation by ``benchmarks/nested_eval.py``). Every call gets only the beats still standing.
``workers`` (2 on a free two-core machine) is read by the evaluation: it runs its batches in that many threads,
each seeded as before, so the outcome does not depend on it.
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
#: The expensive members run from the largest eps down over a grid, skipping beats they failed on at a larger eps.
DESCENDING = ("fab_t", "square")


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
    ``x_adv[g]`` the beats at ``grid[g]`` and ``info["broken_by"]`` ``[len(grid), n]`` as :func:`autoattack`'s per eps.

    ``standing`` (bool ``[len(grid), n]``, default every clean-correct beat at every eps > 0): the (eps, beat) pairs
    to attack (escalation passes the ones still unbroken at the eps not yet converged); a break found at eps_i is
    carried to every larger eps still standing. Seeds per member as :func:`autoattack` (``seed + i + len(attacks)
    * s``, the same at every eps)."""
    grid = [float(e) for e in grid]
    for eps in grid:
        check_attack_inputs(x, y, eps, mask=mask, bounds=bounds)
    if any(b < a for a, b in zip(grid, grid[1:])):
        raise AttackError(f"autoattack over a grid: the eps must be in increasing order, got {grid}")
    settings = _member_settings(attacks, steps, restarts, n_target_classes, max_queries, p_init)
    crafters = _surrogates(model, tuple(surrogates))
    n, n_grid = x.shape[0], len(grid)
    with frozen(model), torch.no_grad():
        clean_right = logits_of(model, x, mask).argmax(1) == y
    todo = clean_right[None, :].repeat(n_grid, 1)
    todo[[g for g, eps in enumerate(grid) if eps == 0]] = False
    if standing is not None:
        if tuple(standing.shape) != (n_grid, n):
            raise AttackError(f"autoattack over a grid: standing must be [{n_grid}, {n}] (eps x beats), got "
                              f"{tuple(standing.shape)}")
        todo &= standing.to(device=x.device, dtype=torch.bool)
    x_adv = [x.detach().clone() for _ in grid]
    broken_by = torch.full((n_grid, n), UNBROKEN, dtype=torch.int64, device=x.device)
    broken_by[:, ~clean_right] = CLEAN_WRONG
    crafted_on = torch.full_like(broken_by, UNBROKEN)

    def run(i: int, name: str, s: int, crafter: nn.Module, g: int, index: torch.Tensor) -> torch.Tensor:
        """Member ``name`` on the beats ``index`` at ``grid[g]``; records and carries its breaks, returns them."""
        sub_mask = mask[index] if mask is not None and mask.shape[0] == n else mask
        found = _ATTACKS[name](crafter, x[index], y[index], grid[g], mask=sub_mask, bounds=bounds,
                               seed=seed + i + len(attacks) * s, **settings[name])
        with frozen(model), torch.no_grad():
            success = logits_of(model, found, sub_mask).argmax(1) != y[index]
        hit = index[success]
        for h in range(g, n_grid):  # the example lies in every larger ball too: carried, never attacked there
            take = hit[todo[h, hit]]
            x_adv[h][take] = found[success][todo[h, hit]]
            broken_by[h, take] = i
            crafted_on[h, take] = s if name != "square" else len(crafters)
            todo[h, take] = False
        return success

    for i, name in enumerate(attacks):
        for s, (_, crafter) in enumerate(crafters if name != "square" else [("self", model)]):
            if name in DESCENDING:
                failed = torch.zeros(n, dtype=torch.bool, device=x.device)  # unbroken at a larger eps: skipped
                for g in reversed(range(n_grid)):
                    index = (todo[g] & ~failed).nonzero().flatten()
                    if index.numel():
                        failed[index[~run(i, name, s, crafter, g, index)]] = True
            else:
                for g in range(n_grid):
                    index = todo[g].nonzero().flatten()
                    if index.numel():
                        run(i, name, s, crafter, g, index)
    info = {"broken_by": broken_by}
    if tuple(surrogates) != ("self",):
        info["surrogate"] = crafted_on
    return x_adv, info


autoattack.over_grid = autoattack_over_grid  # read by evaluation.robustness and .escalation


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
