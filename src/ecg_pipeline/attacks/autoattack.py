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
"""

from __future__ import annotations

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
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The ensemble at ``eps``, ``attacks`` in the order given: ``steps``/``restarts`` for both APGDs (and FAB-T),
    ``n_target_classes`` for APGD-T (and FAB-T), ``max_queries``/``p_init`` for Square; ``surrogates``: what the
    gradient attacks craft on (module doc)."""
    check_attack_inputs(x, y, eps, mask=mask, bounds=bounds)
    unknown = [a for a in attacks if a not in _ATTACKS]
    if unknown:
        raise AttackError(f"autoattack: unknown attack(s) {unknown}; expected some of {list(_ATTACKS)}")
    settings = {"apgd_ce": {"steps": steps, "restarts": restarts},
                "apgd_t": {"steps": steps, "restarts": restarts, "n_target_classes": n_target_classes},
                "fab_t": {"steps": steps, "restarts": restarts, "n_target_classes": n_target_classes},
                "square": {"max_queries": max_queries, "p_init": p_init}}
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


def _surrogates(model: nn.Module, names: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """``[(label, module)]`` the gradient attacks craft on; anything beyond ``self`` needs an ensemble."""
    if names == ("self",):
        return [("self", model)]
    if not hasattr(model, "surrogates"):
        raise AttackError(f"autoattack: surrogates {list(names)} need an ensemble (a model with members), got "
                          f"{type(model).__name__}; use surrogates: [self] for a single model")
    return model.surrogates(names)


from .base import declare_params, integer, number, some_of  # noqa: E402

declare_params(autoattack, steps=integer(1), restarts=integer(1), n_target_classes=integer(1, none=True),
               max_queries=integer(1), p_init=number(above=0, at_most=1), attacks=some_of(*STANDARD),
               surrogates=some_of("self", "mean_logits", "members"))
