"""Training objectives, one definition each, behind one call shape.

``objective(model, x, y, mask, epoch) -> (loss, logits, stats)``: ``loss`` a scalar to minimise,
``logits`` of the clean batch (for running accuracy), ``stats`` floats to log per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.attacks.base import margin as logit_margin
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import double_backprop, features_of, logits_of

from .atk_gan import AtkGan

ObjectiveResult = tuple[torch.Tensor, torch.Tensor, dict[str, float]]


class CrossEntropy:
    """Plain cross-entropy on clean inputs (the "CE" baseline of seed 001)."""

    name = "ce"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, epoch: int) -> ObjectiveResult:
        logits = logits_of(model, x, mask)
        return F.cross_entropy(logits, y), logits, {}


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        try:
            valid = not isinstance(value, bool) and float(value) >= 0
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise EcgDataError(f"{name} must be >= 0, got {value!r}", key=name)


def _input_gradient(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d(sum of outputs)/dx with the graph kept, so a loss on the gradient trains the weights (double backprop).

    Each sample's output depends only on its own input (no batch statistics in train mode for the
    models this is used with), so one backward pass gives every sample's gradient at once.
    """
    (grad,) = torch.autograd.grad(outputs.sum(), x, create_graph=True)
    return grad


class NSR:
    """Noise-to-signal-ratio regularised loss, seed 001 eq. (7) with R of eq. (6).

    Per sample: ``(z_y - 1)^2 + sum_{i != y} z_i^2`` (MSE on the logits) and, for correctly
    classified samples only, the margin ``sum_{i != y} max(0, 1 - z_y + z_i)`` and
    ``beta * log(1 + R)``, ``R = ||dz_y/dx||_1 * eps_max / (|z_y| + 0.01)`` (eq. 6; the 0.01 keeps R
    finite, as in the authors' code). ``||dz_y/dx||_1`` is ``||w_y||_1`` of the active linear piece,
    obtained by double backpropagation.

    Options:
    - ``signal="abs"`` (MIT-BIH code, default) or ``"relu"`` (CPSC code: ReLU(z_y) in the denominator);
    - ``start_epoch``: margin and regulariser only from this epoch on (CPSC: 11); before, MSE alone;
    - ``reduction="paper"`` (default): every term averaged over the whole batch, as eq. (7) is a
      per-sample loss; ``"code"``: the authors' code, which averages the margin over its kept terms
      (those in (0, 2)) and the regulariser over the correctly classified samples;
    - ``target="logit"`` (default): R of eq. (6) on the true-class logit ``s = z_y``, as in the paper;
      ``target="margin"``: **this project's variant, not the paper's**: R on the logit margin
      ``s = m = z_y - max_{j != y} z_j``, i.e. ``R = ||dm/dx||_1 * eps_max / (|m| + 0.01)`` (``signal``
      applies to ``m``: ``|m|`` or ``ReLU(m)``; ``j*`` is the argmax of the other logits at ``x``, so on the
      active linear piece ``dm/dx = w_y - w_j*``), also by double backpropagation.
      Why: eq. (6) bounds only how far noise moves ``z_y``, but the decision flips when the margin does,
      and a targeted attack (APGD-T, DLR loss) pushes the other logits up. An eq. (7)-trained MLP can
      keep ``||dz_y/dx||_1`` small while the other logits stay steep (median L1 input-gradient norm 0.34
      for ``z_y`` against 5.1 for the strongest other logit), looking robust to CE-loss PGD without
      being so. With the margin, ``|m| / ||dm/dx||_1`` is the first-order L-inf distance to the
      boundary between ``y`` and its strongest rival ``j*`` (``eps_max * ||dm/dx||_1 < |m|`` means no
      L-inf perturbation of size ``eps_max`` reaches it to first order), so the rival's input gradient is
      penalised as well as ``z_y``'s.
    Everything else (MSE, hinge margin term, reductions, ``start_epoch``) is the same for both targets.
    A batch without a correctly classified sample has zero margin and regulariser, never NaN.
    """

    name = "nsr"
    TARGETS = ("logit", "margin")

    def __init__(self, beta: float = 0.4, eps_max: float = 1.0, signal: str = "abs", start_epoch: int = 1,
                 reduction: str = "paper", target: str = "logit"):
        _check_non_negative(beta=beta, eps_max=eps_max)
        if signal not in ("abs", "relu"):
            raise EcgDataError(f"NSR signal must be 'abs' or 'relu', got {signal!r}", key="signal")
        if reduction not in ("paper", "code"):
            raise EcgDataError(f"NSR reduction must be 'paper' or 'code', got {reduction!r}", key="reduction")
        if target not in self.TARGETS:
            raise EcgDataError(f"NSR target must be 'logit' or 'margin', got {target!r}", key="target")
        self.beta, self.eps_max, self.signal, self.start_epoch, self.reduction = beta, eps_max, signal, start_epoch, reduction
        self.target = target

    def regularised(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The quantity ``s`` that R is taken of, per sample: ``z_y`` (``target="logit"``, eq. 6) or the
        margin ``z_y - max_{j != y} z_j`` (``target="margin"``, this project's variant)."""
        if self.target == "margin":
            return logit_margin(logits, y)
        return logits.gather(1, y[:, None]).squeeze(1)

    def regulariser(self, s: torch.Tensor, grad_s: torch.Tensor) -> torch.Tensor:
        """R per sample, ``||ds/dx||_1 * eps_max / (signal(s) + 0.01)``: eq. (6) of seed 001 with
        ``s = z_y``, or the margin variant with ``s = m`` (see the class docstring), from ``s`` and its
        input gradient ``grad_s``."""
        signal = s.abs() if self.signal == "abs" else torch.relu(s)
        return grad_s.flatten(1).abs().sum(1) * self.eps_max / (signal + 0.01)

    def __call__(self, model, x, y, mask, epoch) -> ObjectiveResult:
        active = epoch >= self.start_epoch
        twice = active and self.beta > 0  # a loss on the input gradient: double backprop
        if twice:
            x = x.detach().requires_grad_(True)
        with double_backprop() if twice else nullcontext():
            logits = logits_of(model, x, mask)
        onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
        mse = ((logits - onehot) ** 2).sum(1).mean()
        stats = {"mse": mse.item()}
        if not active:
            return mse, logits, stats
        n = logits.shape[0]
        correct = logits.detach().argmax(1) == y
        z_y = logits.gather(1, y[:, None]).squeeze(1)
        hinge = (1 - z_y[:, None] + logits).scatter(1, y[:, None], 0.0)  # i != y terms only
        hinge = torch.relu(hinge) * correct[:, None]
        if self.reduction == "paper":
            margin = hinge.sum() / n
        else:
            kept = (hinge > 0) & (hinge < 2)
            margin = (hinge * kept).sum() / kept.sum().clamp(min=1)
        loss = mse + margin
        stats["margin"] = margin.item()
        if self.beta > 0:
            s = self.regularised(logits, y)
            grad_s = _input_gradient(s * correct, x)
            log_r = torch.log1p(self.regulariser(s, grad_s)) * correct
            reg = log_r.sum() / (n if self.reduction == "paper" else correct.sum().clamp(min=1))
            loss = loss + self.beta * reg
            stats["log1p_nsr"] = reg.item()
        return loss, logits, stats


def logit_jacobian(model, x: torch.Tensor, mask: torch.Tensor | None = None, *, create_graph: bool = True):
    """(logits, J) with ``J[n, k, ...] = dz_k(x_n)/dx_n``: K vector-Jacobian products batched in one
    vmapped backward pass (``is_grads_batched``) instead of K separate double-backprop passes.

    Mask-aware models (the CPSC ResNet) take K passes: the backward of its GroupNorm / max-pool stack
    has no vmap batching rule (a shape RuntimeError under ``is_grads_batched``, torch 2.x).

    Models with ``jacobian_by_replicas`` (the Kachuee CNN) are run on K copies of the batch inside
    ``models.double_backprop``, copy c differentiated for class c, so one backward gives every row: K times
    the forward work, but on the model's fast double-backprop path, which vmap cannot run (1.3-1.5x faster a
    Jacobian training step of the CNN, ``benchmarks/training_step.py --compare``; slower for the MLP, which keeps vmap).
    """
    if create_graph and mask is None and getattr(model, "jacobian_by_replicas", False):
        n, k = x.shape[0], model.model_config["n_classes"]
        replicas = x.detach().repeat(k, *([1] * (x.dim() - 1))).requires_grad_(True)
        with double_backprop():
            logits = logits_of(model, replicas)
        chosen = logits.view(k, n, k).diagonal(dim1=0, dim2=2)  # [n, k]: copy c's logit of class c
        (grad,) = torch.autograd.grad(chosen.sum(), replicas, create_graph=True)
        return logits[:n], grad.view(k, n, *x.shape[1:]).movedim(0, 1)
    x = x.detach().requires_grad_(True)
    logits = logits_of(model, x, mask)
    k = logits.shape[1]
    basis = torch.eye(k, dtype=logits.dtype, device=logits.device)[:, None, :].expand(k, *logits.shape)
    if getattr(model, "uses_mask", False):
        rows = [torch.autograd.grad(logits, x, grad_outputs=basis[c], retain_graph=True, create_graph=create_graph)[0]
                for c in range(k)]
        return logits, torch.stack(rows, dim=1)
    (jac,) = torch.autograd.grad(logits, x, grad_outputs=basis, is_grads_batched=True, create_graph=create_graph)
    return logits, jac.movedim(0, 1)


class Jacobian:
    """Jacobian regularisation (Hoffman et al.), seed 001.

    - ``form="eq12"`` (MIT-BIH, default): ``sum_n CE + lambda * ||J||_F`` over the batch, eq. (12);
    - ``form="eq13"`` (CPSC): ``mean_n CE + lambda / (N K) * ||J||_F``, eq. (13);
    - ``form="l1_code"``: the authors' MIT-BIH code, ``mean CE + lambda * sum |J| / (N * D)``.
    ``start_epoch``: the regulariser only from this epoch on (CPSC: 11).
    """

    name = "jacobian"

    def __init__(self, lam: float = 0.9, form: str = "eq12", start_epoch: int = 1):
        _check_non_negative(lam=lam)
        if form not in ("eq12", "eq13", "l1_code"):
            raise EcgDataError(f"Jacobian form must be 'eq12', 'eq13' or 'l1_code', got {form!r}", key="form")
        self.lam, self.form, self.start_epoch = lam, form, start_epoch

    def penalty(self, jac: torch.Tensor) -> torch.Tensor:
        n, k = jac.shape[:2]
        if self.form == "eq12":
            return jac.pow(2).sum().sqrt()
        if self.form == "eq13":
            return jac.pow(2).sum().sqrt() / (n * k)
        return jac.abs().sum() / (n * jac[0, 0].numel())

    def __call__(self, model, x, y, mask, epoch) -> ObjectiveResult:
        reduction = "sum" if self.form == "eq12" else "mean"
        if epoch < self.start_epoch or self.lam == 0:
            logits = logits_of(model, x, mask)
            return F.cross_entropy(logits, y, reduction=reduction), logits, {}
        logits, jac = logit_jacobian(model, x, mask)
        ce = F.cross_entropy(logits, y, reduction=reduction)
        penalty = self.penalty(jac)
        return ce + self.lam * penalty, logits, {"ce": ce.item(), "jacobian": penalty.item()}


class Adversarial:
    """PGD adversarial training, seed 001 eq. (10): ``0.5 CE(x) + 0.5 CE(x_adv)``.

    ``x_adv`` from ``steps``-step PGD of the attack library (step ``step_size``, default 0.01, or
    ``step_ratio * eps_t``, uniform random start in [-eps, eps], clamped to ``bounds``). ``start_epoch``:
    CE alone before it (CPSC: 11); with ``ramp=True`` eps grows linearly per eq. (11):
    ``eps_t = eps (t - (start_epoch - 1)) / (epochs - (start_epoch - 1))``; ``epochs`` defaults to the run's
    (filled in by :meth:`TrainingConfig.objective_params`). Seed 001's CPSC setting: 20 steps of
    ``4 eps_t / 20`` (``step_ratio=0.2``), so the step follows the ramp.
    """

    name = "adversarial"

    def __init__(self, eps: float = 0.1, steps: int = 10, step_size: float | None = None, bounds=(0.0, 1.0),
                 start_epoch: int = 1, ramp: bool = False, epochs: int | None = None, seed: int = 0,
                 step_ratio: float | None = None):
        _check_non_negative(eps=eps)
        if step_size is not None and step_ratio is not None:
            raise EcgDataError(f"give step_size ({step_size}) or step_ratio ({step_ratio}), not both", key="step_ratio")
        if step_size is None and step_ratio is None:
            step_size = 0.01
        for key, value in (("step_size", step_size), ("step_ratio", step_ratio)):
            if value is not None and not (not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0):
                raise EcgDataError(f"{key} must be > 0, got {value!r}", key=key)
        if ramp and not epochs:
            raise EcgDataError("the eps ramp of eq. (11) needs 'epochs' (the total number of epochs)")
        self.eps, self.steps, self.step_size, self.start_epoch, self.ramp, self.epochs = eps, steps, step_size, start_epoch, ramp, epochs
        self.step_ratio = step_ratio
        self.bounds = tuple(bounds) if bounds is not None else None
        self.seed = seed
        self._epoch, self._batch = None, 0

    def state_dict(self) -> dict:
        """The batch counter, which a checkpoint taken mid-epoch keeps so that a resumed run draws the same starts."""
        return {"epoch": self._epoch, "batch": self._batch}

    def load_state_dict(self, state: dict) -> None:
        self._epoch, self._batch = state["epoch"], state["batch"]

    def eps_at(self, epoch: int) -> float:
        """eq. (11) when ramping, else eps."""
        if not self.ramp:
            return self.eps
        warm = self.start_epoch - 1
        return self.eps * (epoch - warm) / max(self.epochs - warm, 1)

    def examples(self, model, x, y, mask, epoch) -> torch.Tensor:
        """The PGD adversarial examples this objective trains on at ``epoch``."""
        from ecg_pipeline.attacks.pgd import pgd

        # A new random start per batch, derived from (seed, epoch, batch) so a resumed run draws the same.
        self._batch = self._batch + 1 if epoch == self._epoch else 1
        self._epoch = epoch
        seed = (self.seed * 1_000_003 + epoch * 100_003 + self._batch) % 2**63
        return pgd(model, x, y, self.eps_at(epoch), steps=self.steps, step_size=self.step_size,
                   step_ratio=self.step_ratio, random_start=True, mask=mask, bounds=self.bounds, seed=seed)

    def __call__(self, model, x, y, mask, epoch) -> ObjectiveResult:
        logits = logits_of(model, x, mask)
        ce_clean = F.cross_entropy(logits, y)
        if epoch < self.start_epoch or self.eps == 0:
            return ce_clean, logits, {}
        eps = self.eps_at(epoch)
        x_adv = self.examples(model, x, y, mask, epoch)
        ce_adv = F.cross_entropy(logits_of(model, x_adv, mask), y)
        return 0.5 * ce_clean + 0.5 * ce_adv, logits, {"ce_clean": ce_clean.item(), "ce_adv": ce_adv.item(), "eps": eps}


class Decorrelated:
    """Cross-entropy plus decorrelation from the earlier members of an ensemble, seed 004 eq. (6):
    ``CE + lam * L_cor`` with ``L_cor`` of eq. (5) (:func:`ecg_pipeline.defenses.decorrelation.decorrelation_loss`).

    The earlier members' features on the training set, computed once, come with it as the per-sample array
    ``previous_features`` ``[n_train, members, D]``, so every batch carries its samples' rows. Roles and
    projections are drawn from a generator seeded by ``seed`` whose state a checkpoint keeps, so a resumed run
    draws the same.
    """

    name = "decorrelation"
    extras = ("previous_features",)

    def __init__(self, lam: float = 0.2, projection_dim: int | None = 32, seed: int = 0):
        _check_non_negative(lam=lam)
        if projection_dim is not None and (isinstance(projection_dim, bool) or not isinstance(projection_dim, int)
                                           or projection_dim < 1):
            raise EcgDataError(f"decorrelation projection_dim must be a positive integer or null, got {projection_dim!r}",
                               key="projection_dim")
        self.lam, self.projection_dim, self.seed = lam, projection_dim, seed
        self.generator = torch.Generator().manual_seed(seed)

    def check_training_set(self, model, train_data, batch_size: int) -> None:
        """The cached features must be ``[n_train, members, D]`` with the model's feature width, and least
        squares must fit at this batch size."""
        from .decorrelation import check_projection

        x, _, mask, extra = train_data.take(np.arange(1))
        feature_dim = int(features_of(model, x, mask).shape[-1])
        previous = extra["previous_features"]
        if previous.ndim != 3 or previous.shape[2] != feature_dim:
            raise EcgDataError(f"decorrelation: earlier members' features are [n_train, members, D] = "
                               f"{[len(train_data), *previous.shape[1:]]}, expected D = {feature_dim} (the model's "
                               f"feature width)")
        check_projection(self.projection_dim, feature_dim, batch_size)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        from .decorrelation import decorrelation_loss

        features = features_of(model, x, mask)
        logits = model.head(features)
        ce = F.cross_entropy(logits, y)
        previous = extra["previous_features"].to(features.device, features.dtype).transpose(0, 1)
        cor, r2 = decorrelation_loss(features, previous, self.projection_dim, self.generator)
        return ce + self.lam * cor, logits, {"ce": ce.item(), "decorrelation": cor.item(), "r2": r2.item()}


OBJECTIVES: dict[str, Callable[..., Callable]] = {"ce": CrossEntropy, "nsr": NSR, "jacobian": Jacobian, "adversarial": Adversarial,
                                                  "atk_gan": AtkGan, "decorrelation": Decorrelated}


def build_objective(name: str, **params) -> Callable:
    """The objective called ``name`` with its parameters; unknown names or keys are errors."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise EcgDataError(f"unknown training objective {name!r}; expected one of {sorted(OBJECTIVES)}",
                           key="name") from None
    try:
        return cls(**params)
    except TypeError as err:
        raise EcgDataError(f"objective {name!r}: {err}") from None
