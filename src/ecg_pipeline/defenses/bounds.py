"""Differentiable certified bounds for training: interval bound propagation (IBP) and CROWN-IBP, in the model's own
dtype on its own parameters, so that a loss on the bounds trains the weights.

``verification`` (the verifier) translates a model once into detached float64 operations and widens every bound
for rounding: right for a certificate, useless for a gradient. Here the same formulas run on the live
``nn.Module`` parameters (float32, autograd on), with no rounding widening: a training signal, not a proof.
The tests check both against ``verification`` on a real MLP (to float32 tolerance).

- :func:`ibp_margins`: IBP (Gowal et al. 2018, eqs. 6-7: centre / radius through affine layers, monotone layers on
  both ends), the margin specification ``C`` (row ``e_y - e_j``) folded into the last layer (their "elision") or
  not (``elide=False``: ``l_y - u_j`` from the plain logit bounds, the worst-case logits of their eq. 8).
- :func:`crown_ibp_margins`: CROWN-IBP (Zhang et al. 2020, section 3): IBP bounds on every pre-activation, then one
  CROWN backward pass (Zhang et al. 2018, Theorem 3.2) of ``C`` from the logits to the input, with the ReLU's
  linear relaxation (upper: the chord ``u (z - l) / (u - l)``; lower: ``alpha z``, ``alpha = 1[u >= -l]``).
  The MLP (Linear / ReLU) only: a convolution is refused by name.

Layers read (``layer_sequence``): the registry's ``MLP`` (Linear, ReLU) and ``KachueeCNN`` (Conv1d, ReLU,
MaxPool1d, Flatten, Linear, the residual addition of ``ResidualBlock``); a layer of another type, or another model
class, is refused with an :class:`~ecg_pipeline.errors.EcgModelError` naming it, before any bound is computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.errors import EcgModelError
from ecg_pipeline.models.kachuee_cnn import KachueeCNN, ResidualBlock
from ecg_pipeline.models.mlp import MLP

SUPPORTED_MODELS = (MLP, KachueeCNN)
KNOWN_LAYERS = (nn.Linear, nn.Conv1d, nn.ReLU, nn.MaxPool1d, nn.Flatten, nn.Sequential, ResidualBlock)
SAVE, ADD = "save", "add"   # residual markers: keep the current bounds / add the kept ones back


def layer_sequence(model: nn.Module) -> list:
    """The model's layers in forward order (the modules themselves, so their parameters stay live), with
    :data:`SAVE` / :data:`ADD` around each residual branch. Refuses an unknown model or layer by name."""
    for name, module in model.named_modules():
        if name and not isinstance(module, KNOWN_LAYERS):
            raise EcgModelError(f"certified training: model {type(model).__name__} has layer {name!r} of type "
                                f"{type(module).__name__}; the bounds know Linear, Conv1d, ReLU, MaxPool1d, Flatten "
                                "and the residual blocks of KachueeCNN")
    if type(model) not in SUPPORTED_MODELS:
        raise EcgModelError(f"certified training: model {type(model).__name__}; the bounds know the wiring of "
                            f"{', '.join(c.__name__ for c in SUPPORTED_MODELS)} only")
    if isinstance(model, MLP):
        return [*model.body, model.head]
    layers: list = [model.stem]
    for block in model.blocks:   # ResidualBlock.reference: pool(relu(conv2(relu(conv1(x))) + x))
        layers += [SAVE, block.conv1, nn.ReLU(), block.conv2, ADD, nn.ReLU(), block.pool]
    return [*layers, *model.hidden, model.head]


def input_box(x: torch.Tensor, eps: float | torch.Tensor, bounds: tuple[float, float] | None):
    """``[max(x - eps, lo), min(x + eps, hi)]``."""
    lower, upper = x - eps, x + eps
    if bounds is not None:
        lower, upper = lower.clamp(min=bounds[0]), upper.clamp(max=bounds[1])
    return lower, upper


def margin_spec(y: torch.Tensor, n_classes: int, dtype=torch.float32) -> torch.Tensor:
    """``C`` of Zhang et al. 2018, ``[B, K, K]``: row ``j`` is ``e_y - e_j`` (row ``y`` is zero, so its margin is 0)."""
    eye = torch.eye(n_classes, dtype=dtype, device=y.device)
    return eye[y].unsqueeze(1) - eye.unsqueeze(0)


def _shaped(layer, x: torch.Tensor) -> torch.Tensor:
    """The registry models accept ``[n, 1, L]`` and flatten it for the MLP's first Linear."""
    return x.reshape(x.shape[0], -1) if isinstance(layer, nn.Linear) and x.dim() > 2 else x


def _interval_step(layer, lower, upper, saved: list):
    """Interval bounds after ``layer`` (Gowal et al. 2018, eq. 6 for affine layers; monotone layers on both ends)."""
    if layer == SAVE:
        saved.append((lower, upper))
        return lower, upper
    if layer == ADD:
        low, up = saved.pop()
        return lower + low, upper + up
    if isinstance(layer, (nn.Linear, nn.Conv1d)):
        lower, upper = _shaped(layer, lower), _shaped(layer, upper)
        centre, radius = (upper + lower) / 2, (upper - lower) / 2
        if isinstance(layer, nn.Linear):
            mid, rad = layer(centre), radius @ layer.weight.abs().T
        else:
            mid, rad = layer(centre), F.conv1d(radius, layer.weight.abs(), None, layer.stride, layer.padding)
        return mid - rad, mid + rad
    return layer(lower), layer(upper)   # ReLU, MaxPool1d, Flatten: monotone


def interval_bounds(model: nn.Module, lower: torch.Tensor, upper: torch.Tensor, *, stop_before_last: bool = False,
                    layers: list | None = None):
    """IBP bounds on the logits (or on the last layer's input with ``stop_before_last``) over the box ``[lower, upper]``."""
    layers = layer_sequence(model) if layers is None else layers
    saved: list = []
    for layer in layers[:-1] if stop_before_last else layers:
        lower, upper = _interval_step(layer, lower, upper, saved)
    return lower, upper


def ibp_margins(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                bounds: tuple[float, float] | None = (0.0, 1.0), elide: bool = True) -> torch.Tensor:
    """Lower bounds ``[B, K]`` on the margins ``z_y - z_j`` over the eps-box of each beat (0 at ``j = y``), by IBP.

    ``elide`` (Gowal et al. 2018, sec. 3): ``C`` folded into the last layer, ``C W`` applied to the interval of its
    input; else ``l_y - u_j`` from the logit interval, the worst-case logits ``z_hat`` of their eq. 8.
    """
    layers = layer_sequence(model)
    lower, upper = input_box(x, eps, bounds)
    if not elide:
        low, up = interval_bounds(model, lower, upper, layers=layers)
        margins = low.gather(1, y.view(-1, 1)) - up
        return margins.scatter(1, y.view(-1, 1), 0.0)
    low, up = interval_bounds(model, lower, upper, stop_before_last=True, layers=layers)
    last = layers[-1]
    spec = margin_spec(y, last.out_features, last.weight.dtype)
    weight, bias = spec @ last.weight, spec @ last.bias                     # [B, K, n], [B, K]
    centre, radius = (up + low) / 2, (up - low) / 2
    mid = (weight @ centre.unsqueeze(2)).squeeze(2) + bias
    return mid - (weight.abs() @ radius.unsqueeze(2)).squeeze(2)


def worst_case_logits(margins: torch.Tensor) -> torch.Tensor:
    """``z_hat`` of Gowal et al. 2018 eq. 8 up to a per-beat shift (CE does not see a shift): ``-margin_j``, 0 at ``y``."""
    return -margins


def _relu_relaxation(lower: torch.Tensor, upper: torch.Tensor):
    """(lower slope, upper slope, upper intercept) of CROWN's ReLU relaxation (Zhang et al. 2018, sec. 3.2), as
    functions of ``lower, upper`` (the chord is differentiable in them; the adaptive lower slope is a 0/1 choice)."""
    unstable = (lower < 0) & (upper > 0)
    active = (lower >= 0).to(lower.dtype)
    chord = upper / (upper - lower).clamp(min=1e-12)
    upper_slope = torch.where(unstable, chord, active)
    intercept = torch.where(unstable, -chord * lower, torch.zeros_like(lower))
    lower_slope = torch.where(unstable, (upper >= -lower).to(lower.dtype), active)
    return lower_slope, upper_slope, intercept


def crown_ibp_layers(model: nn.Module) -> list:
    """:func:`layer_sequence`, refusing a convolution by name: the CROWN pass here covers Linear and ReLU (the MLP)."""
    layers = layer_sequence(model)
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv1d):
            raise EcgModelError(f"CROWN-IBP: model {type(model).__name__} has convolution {name!r}; the backward "
                                "pass here covers Linear and ReLU layers (the MLP); train a CNN with IBP")
    return layers


def crown_ibp_margins(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                      bounds: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """Lower bounds ``[B, K]`` on ``z_y - z_j`` (0 at ``j = y``) by CROWN-IBP (Zhang et al. 2020, sec. 3): IBP
    pre-activation bounds, then one CROWN backward pass of ``C`` (Zhang et al. 2018, Theorem 3.2). MLP only."""
    layers = crown_ibp_layers(model)
    lower, upper = input_box(x.reshape(x.shape[0], -1), eps, bounds)
    relaxations: dict[int, tuple] = {}
    low, up = lower, upper
    for k, layer in enumerate(layers[:-1]):
        if isinstance(layer, nn.ReLU):
            relaxations[k] = _relu_relaxation(low, up)
        low, up = _interval_step(layer, low, up, [])
    last = layers[-1]
    spec = margin_spec(y, last.out_features, last.weight.dtype)
    lam, bias = spec @ last.weight, spec @ last.bias                         # [B, K, n], [B, K]
    for k in range(len(layers) - 2, -1, -1):
        layer = layers[k]
        if isinstance(layer, nn.Linear):
            bias = bias + lam @ layer.bias
            lam = lam @ layer.weight
        else:   # ReLU: lam >= 0 takes the lower line (slope z), lam < 0 the chord with its intercept
            slope, upper_slope, intercept = relaxations[k]
            bias = bias + (lam.clamp(max=0) @ intercept.unsqueeze(2)).squeeze(2)
            lam = lam * torch.where(lam >= 0, slope.unsqueeze(1), upper_slope.unsqueeze(1))
    centre, radius = ((upper + lower) / 2).unsqueeze(2), ((upper - lower) / 2).unsqueeze(2)
    return (lam @ centre).squeeze(2) - (lam.abs() @ radius).squeeze(2) + bias
