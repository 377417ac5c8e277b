"""The NSR objective: seed 001 eq. (7) with R of eq. (6), in the paper's and the authors' code's reduction,
and this project's margin variant of R."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from ecg_pipeline.attacks.base import margin as logit_margin
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import double_backprop, logits_of

from ..objective_base import Objective, ObjectiveResult, check_non_negative


def input_gradient(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d(sum of outputs)/dx with the graph kept, so a loss on the gradient trains the weights (double backprop).

    Each sample's output depends only on its own input (no batch statistics in train mode for the
    models this is used with), so one backward pass gives every sample's gradient at once.
    """
    (grad,) = torch.autograd.grad(outputs.sum(), x, create_graph=True)
    return grad


class NSR(Objective):
    """Noise-to-signal-ratio regularised loss, seed 001 eq. (7) with R of eq. (6) (``reduction="paper"``), or
    the reduction of the authors' code (``reduction="code"``).

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
        check_non_negative(beta=beta, eps_max=eps_max)
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

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
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
            grad_s = input_gradient(s * correct, x)
            log_r = torch.log1p(self.regulariser(s, grad_s)) * correct
            reg = log_r.sum() / (n if self.reduction == "paper" else correct.sum().clamp(min=1))
            loss = loss + self.beta * reg
            stats["log1p_nsr"] = reg.item()
        return loss, logits, stats
