"""What every attack shares: one call shape, input checks before any compute, the projection onto
the eps-ball / domain bounds / mask, a model that is used but never changed, and what an algorithm declares
about itself (:func:`register_attack`: its name and properties; :func:`declare_params`: its value checks),
read by ``registry.py``.

Call shape (every attack in the registry)::

    x_adv = attack(model, x, y, eps, *, mask=None, bounds=None, seed=0, **hyperparameters)

``x`` is a float tensor ``[n, channels, length]``; ``y`` int64 ``[n]``; ``mask`` (optional) a 0/1
tensor broadcastable to ``x`` (``[n, 1, length]``) marking real samples of padded inputs: the
perturbation is zero wherever the mask is zero; ``bounds`` (optional) ``(low, high)`` of the input
domain, e.g. ``(0, 1)`` for normalised beats. ``eps`` is the L-inf radius (for noise attacks, the
noise amplitude) in input units.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ecg_pipeline.errors import EcgAttackError
from ecg_pipeline.models import logits_of

Bounds = tuple[float, float] | None


class AttackError(EcgAttackError):
    """Bad attack input: the message names the parameter or tensor at fault."""


# ---- declared hyper-parameter checks: read by the declaration before any node runs (registry.check_attack_params)

#: A value check: ``None`` when ``value`` is fine, else what was expected (``"an integer >= 1"``).
Check = Callable[[Any], "str | None"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(minimum: int | None = None, *, none: bool = False) -> Check:
    """An int (not a bool) ``>= minimum``; ``none``: null allowed too."""
    expected = "an integer" + (f" >= {minimum}" if minimum is not None else "") + (" or null" if none else "")

    def check(value):
        if value is None and none:
            return None
        ok = isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)
        return None if ok else expected
    return check


def number(*, above: float | None = None, at_least: float | None = None, below: float | None = None,
           at_most: float | None = None, none: bool = False) -> Check:
    """A finite number in the given range (``above``/``below`` exclusive, ``at_least``/``at_most`` inclusive)."""
    parts = [f"{op} {bound}" for op, bound in ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
             if bound is not None]
    expected = "a number" + (" " + " and ".join(parts) if parts else "") + (" or null" if none else "")

    def check(value):
        if value is None and none:
            return None
        if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
            return expected
        ok = ((above is None or value > above) and (at_least is None or value >= at_least)
              and (below is None or value < below) and (at_most is None or value <= at_most))
        return None if ok else expected
    return check


def flag() -> Check:
    return lambda value: None if isinstance(value, bool) else "true or false"


def one_of(*choices: Any) -> Check:
    return lambda value: None if value in choices else f"one of {list(choices)}"


def some_of(*choices: Any) -> Check:
    """A non-empty list of ``choices``."""
    def check(value):
        ok = isinstance(value, (list, tuple)) and value and all(v in choices for v in value)
        return None if ok else f"a non-empty list of some of {list(choices)}"
    return check


def declare_params(attack: Callable, *rules: Callable[[dict], "str | None"], **checks: Check) -> Callable:
    """Attach the value checks of ``attack``'s hyper-parameters (``checks``: key -> :data:`Check`) and rules over
    several keys (``rules``: ``params -> None | message``), so the declaration refuses a bad value before any node
    runs. Keys without a check are type-checked against the default in the signature."""
    attack.param_checks = {**getattr(attack, "param_checks", {}), **checks}
    attack.param_rules = (*getattr(attack, "param_rules", ()), *rules)
    return attack


def retire_params(attack: Callable, **why: str) -> Callable:
    """Name hyper-parameters ``attack`` no longer takes (key -> why it went, what to do), so a configuration that
    still sets one is refused with that reason instead of a bare "no parameter" (registry.check_attack_params)."""
    attack.retired_params = {**getattr(attack, "retired_params", {}), **why}
    return attack


# ---- what an algorithm declares about itself: collected by registry.py, which imports every module of the package

@dataclass(frozen=True)
class AttackProperties:
    """What the evaluation needs to know about one attack algorithm, declared by the algorithm's own module.

    ``gradient_free``: never reads the model's gradients (score- or decision-based): a white-box result it beats
    was masked (``evaluation.diagnostics``). ``search``: a decision-based attack's eps-free search, run once per
    grid and scored per eps (``evaluation.robustness``); implies ``gradient_free``. ``effort_keys``: the
    hyper-parameters that set its effort, each doubled by the evaluation's "more effort" check.
    """

    name: str
    function: Callable
    gradient_free: bool = False
    search: Callable | None = None
    effort_keys: tuple[str, ...] = ()


#: Every registered algorithm by name, filled in as the package's modules are imported (:func:`register_attack`).
DECLARED: dict[str, AttackProperties] = {}


def register_attack(name: str, *, gradient_free: bool | None = None, search: Callable | None = None,
                    effort_keys: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: declare ``name`` (the ``attack:`` of an attack block in conf/) and the algorithm's properties
    (:class:`AttackProperties`); ``gradient_free`` defaults to whether a ``search`` is given. Refuses, at import,
    a name taken by another function, a search declared gradient-based, and an effort key the attack does not take."""
    def register(attack: Callable) -> Callable:
        free = search is not None if gradient_free is None else bool(gradient_free)
        if search is not None and not free:
            raise AttackError(f"attack {name!r}: a decision-based search reads labels only; "
                              "it cannot be gradient_free=False")
        taken = DECLARED.get(name)
        if taken is not None and (taken.function.__module__, taken.function.__qualname__) != (
                attack.__module__, attack.__qualname__):
            raise AttackError(f"attack name {name!r} is already registered to {taken.function.__module__}."
                              f"{taken.function.__qualname__}")
        takes = {*inspect.signature(attack).parameters, *(inspect.signature(search).parameters if search else ())}
        unknown = [key for key in effort_keys if key not in takes]
        if isinstance(effort_keys, str) or unknown:
            raise AttackError(f"attack {name!r}: effort_keys must be a tuple of its parameters, got {effort_keys!r}"
                              + (f" ({unknown} not among them)" if unknown else ""))
        DECLARED[name] = AttackProperties(name, attack, free, search, tuple(effort_keys))
        return attack
    return register


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients for the duration of an attack, then restored as found.

    Attacks only need input gradients: switching ``requires_grad`` off on the weights stops autograd
    from building (and back-propagating into) the weight side of the graph, which is most of a
    backward pass's cost for small inputs.
    """
    was_training = model.training
    grad_flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), grad_flags):
            p.requires_grad_(flag)
        model.train(was_training)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, mask: torch.Tensor | None, bounds: Bounds) -> torch.Tensor:
    """Back into the eps-ball around ``x``, zero outside the mask, then into the domain bounds."""
    delta = torch.clamp(x_adv - x, -eps, eps)
    if mask is not None:
        delta = delta * mask
    out = x + delta
    if bounds is not None:
        out = torch.clamp(out, bounds[0], bounds[1])
    return out


def per_row(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample vector ``v`` [n] viewed as [n, 1, ..., 1] to broadcast against ``x`` [n, ...]."""
    return v.view((-1,) + (1,) * (x.dim() - 1))


def check_attack_inputs(
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    n_classes: int | None = None,
    **positive: float | None,
) -> None:
    """Refuse bad input before any compute. ``positive`` are step sizes etc. that must be > 0."""
    if not torch.is_tensor(x) or x.dim() < 2:
        raise AttackError(f"x must be a tensor [n, channels, length], got {type(x).__name__} of shape {getattr(x, 'shape', None)}")
    if not torch.is_tensor(y) or y.shape != x.shape[:1]:
        raise AttackError(f"y must be a tensor of {x.shape[0]} labels, got shape {getattr(y, 'shape', None)}")
    if eps is None or not float(eps) >= 0:
        raise AttackError(f"eps must be >= 0, got {eps}")
    for name, value in positive.items():
        if value is not None and not float(value) > 0:
            raise AttackError(f"{name} must be > 0, got {value}")
    if mask is not None:
        try:
            torch.broadcast_shapes(mask.shape, x.shape)
        except RuntimeError:
            raise AttackError(f"mask of shape {tuple(mask.shape)} does not match input of shape {tuple(x.shape)}") from None
        if mask.shape[0] != x.shape[0]:
            raise AttackError(f"mask has {mask.shape[0]} rows for {x.shape[0]} inputs")
    if bounds is not None and not bounds[0] < bounds[1]:
        raise AttackError(f"bounds must be (low, high) with low < high, got {bounds}")
    if n_classes is not None and y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        bad = sorted(set(y[(y < 0) | (y >= n_classes)].tolist()))
        raise AttackError(f"labels {bad[:10]} are outside the class set 0..{n_classes - 1}")


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y - max_{j != y} z_j per sample: > 0 iff classified correctly (used by CW, SPSA, stopping)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return true - other.max(dim=1).values


def feasible_box(x: torch.Tensor, eps: float, mask: torch.Tensor | None = None, bounds: Bounds = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element ``(low, high)`` of the feasible set: the eps-ball around ``x``, zero width where the
    mask is 0, intersected with the domain bounds.

    ``v.clamp(low, high)`` equals :func:`project` ``(v, x, eps, mask, bounds)`` for 0/1 masks (clamping
    to ``[a, b]`` and then to ``[c, d]`` is clamping to ``[clamp(a, c, d), clamp(b, c, d)]``), but is one
    in-place op per step instead of five allocating ones: iterative attacks compute the box once.
    Shared by the gradient attacks (pgd/bim/fgsm/cw, sap).
    """
    radius = torch.full_like(x, float(eps)) if mask is None else torch.broadcast_to(float(eps) * mask.to(x.dtype), x.shape)
    low, high = x - radius, x + radius
    if bounds is not None:
        low.clamp_(bounds[0], bounds[1])
        high.clamp_(bounds[0], bounds[1])
    return low, high


def check_attack_call(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    **positive: float | None,
) -> int:
    """:func:`check_attack_inputs` plus what a gradient attack needs before it starts: a floating
    ``x``, integer labels, and labels inside the model's class set (the output count is read from one
    forward pass on one input). Returns the number of classes. Shared by the gradient attacks.
    """
    check_attack_inputs(x, y, eps, mask=mask, bounds=bounds, **positive)
    if not x.is_floating_point():
        raise AttackError(f"x must be a floating-point tensor, got {x.dtype}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise AttackError(f"y must hold integer class labels, got {y.dtype}")
    if x.shape[0] == 0:
        return 0
    with torch.no_grad(), frozen(model):
        n_classes = int(logits_of(model, x[:1].detach(), None if mask is None else mask[:1]).shape[-1])
    check_attack_inputs(x, y, eps, mask=mask, bounds=bounds, n_classes=n_classes)
    return n_classes
