"""Jacobian regularisation (Hoffman et al.) as seed 001 trains it: eqs. (12) and (13), and the authors' L1 code."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import double_backprop, logits_of

from ..objective_base import Objective, ObjectiveResult, check_non_negative


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


class Jacobian(Objective):
    """Jacobian regularisation (Hoffman et al.), seed 001.

    - ``form="eq12"`` (MIT-BIH, default): ``sum_n CE + lambda * ||J||_F`` over the batch, eq. (12);
    - ``form="eq13"`` (CPSC): ``mean_n CE + lambda / (N K) * ||J||_F``, eq. (13);
    - ``form="l1_code"``: the authors' MIT-BIH code, ``mean CE + lambda * sum |J| / (N * D)``.
    ``start_epoch``: the regulariser only from this epoch on (CPSC: 11).
    """

    name = "jacobian"

    def __init__(self, lam: float = 0.9, form: str = "eq12", start_epoch: int = 1):
        check_non_negative(lam=lam)
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

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        reduction = "sum" if self.form == "eq12" else "mean"
        if epoch < self.start_epoch or self.lam == 0:
            logits = logits_of(model, x, mask)
            return F.cross_entropy(logits, y, reduction=reduction), logits, {}
        logits, jac = logit_jacobian(model, x, mask)
        ce = F.cross_entropy(logits, y, reduction=reduction)
        penalty = self.penalty(jac)
        return ce + self.lam * penalty, logits, {"ce": ce.item(), "jacobian": penalty.item()}
