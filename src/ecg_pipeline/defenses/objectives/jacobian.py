"""Jacobian regularisation (Hoffman et al.) as seed 001 trains it: eqs. (12) and (13), and the authors' L1 code;
optionally with the Frobenius norm estimated from random projections (Hoffman et al. 2019, "Robust learning
with Jacobian regularization", Algorithm 1), ``projections: k`` in the run's objective parameters."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ecg_pipeline.errors import EcgConfigError, EcgDataError
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


def projected_jacobian(model, x: torch.Tensor, mask: torch.Tensor | None, k: int,
                       directions: Callable[[int, int, int], torch.Tensor]):
    """(logits, P) with ``P[n, m, ...] = v_nm^T J(x_n)``, the input gradient of ``sum_c v_nmc z_c(x_n)``, for
    ``v = directions(n, k, K)`` [n, k, K] (drawn once the logits give K): k vector-Jacobian products instead of
    K. The batch runs as k copies inside ``models.double_backprop`` (the fast double-backprop path of the Kachuee
    CNN, as NSR's single product), so one backward gives every product; k = 1 costs one NSR-like pass."""
    n = x.shape[0]
    replicas = x.detach().repeat(k, *([1] * (x.dim() - 1))).requires_grad_(True)
    with double_backprop():
        logits = logits_of(model, replicas, None if mask is None else mask.repeat(k, *([1] * (mask.dim() - 1))))
    v = directions(n, k, logits.shape[1]).to(device=logits.device, dtype=logits.dtype)
    weighted = (logits.view(k, n, -1) * v.movedim(1, 0)).sum()
    (grad,) = torch.autograd.grad(weighted, replicas, create_graph=True)
    return logits[:n], grad.view(k, n, *x.shape[1:]).movedim(0, 1)


def frobenius_sq_estimate(projected: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Hoffman et al. 2019, eq. (9) / Algorithm 1: ``sum_n ||J_n||_F^2 ~ (K / k) sum_n sum_m ||v_nm^T J_n||^2`` for
    ``v_nm`` uniform on the unit sphere of R^K (then ``E[v v^T] = I / K``, so the estimate is unbiased), from
    ``projected`` [n, k, ...] (:func:`projected_jacobian`)."""
    return projected.pow(2).sum() * (n_classes / projected.shape[1])


def unit_directions(n: int, k: int, n_classes: int, generator: torch.Generator) -> torch.Tensor:
    """[n, k, K] directions uniform on the unit sphere of R^K (normalised standard normal draws)."""
    v = torch.randn(n, k, n_classes, generator=generator)
    return v / v.norm(dim=2, keepdim=True)


class Jacobian(Objective):
    """Jacobian regularisation (Hoffman et al.), seed 001.

    - ``form="eq12"`` (MIT-BIH, default): ``sum_n CE + lambda * ||J||_F`` over the batch, eq. (12);
    - ``form="eq13"`` (CPSC): ``mean_n CE + lambda / (N K) * ||J||_F``, eq. (13);
    - ``form="l1_code"``: the authors' MIT-BIH code, ``mean CE + lambda * sum |J| / (N * D)``.
    ``start_epoch``: the regulariser only from this epoch on (CPSC: 11).
    ``projections`` (default None: the exact Jacobian, K products a batch): ``k`` random projections per sample
    instead (Hoffman et al. 2019, Algorithm 1: :func:`frobenius_sq_estimate`), for ``eq12`` / ``eq13``, whose
    squared norm the estimate is unbiased for (the norm itself is its square root: consistent, slightly low for
    small k). The directions come from the objective's own generator, seeded by ``seed`` and kept in the
    checkpoint, so a resumed run draws the same ones and the exact path's random stream is untouched.
    """

    name = "jacobian"

    def __init__(self, lam: float = 0.9, form: str = "eq12", start_epoch: int = 1, projections: int | None = None,
                 seed: int = 0):
        check_non_negative(lam=lam)
        if form not in ("eq12", "eq13", "l1_code"):
            raise EcgDataError(f"Jacobian form must be 'eq12', 'eq13' or 'l1_code', got {form!r}", key="form")
        if projections is not None:
            if isinstance(projections, bool) or not isinstance(projections, int) or projections < 1:
                raise EcgConfigError(f"Jacobian projections must be a count >= 1 of random projections per sample "
                                   f"(or null: the exact Jacobian), got {projections!r}", key="projections")
            if form == "l1_code":
                raise EcgConfigError("Jacobian projections estimate the Frobenius norm (forms eq12, eq13); form "
                                   "'l1_code' sums |J| and needs the exact Jacobian: leave projections out",
                                   key="projections")
        self.lam, self.form, self.start_epoch, self.projections = lam, form, start_epoch, projections
        self.generator = torch.Generator().manual_seed(seed) if projections else None

    def penalty(self, jac: torch.Tensor) -> torch.Tensor:
        n, k = jac.shape[:2]
        if self.form == "eq12":
            return jac.pow(2).sum().sqrt()
        if self.form == "eq13":
            return jac.pow(2).sum().sqrt() / (n * k)
        return jac.abs().sum() / (n * jac[0, 0].numel())

    def projected_penalty(self, projected: torch.Tensor, n_classes: int) -> torch.Tensor:
        """:meth:`penalty` of eq. (12) / (13) with ``||J||_F^2`` estimated from random projections."""
        norm = frobenius_sq_estimate(projected, n_classes).sqrt()
        return norm if self.form == "eq12" else norm / (projected.shape[0] * n_classes)

    def state_dict(self) -> dict | None:
        return {"generator": self.generator.get_state()} if self.generator is not None else None

    def load_state_dict(self, state: dict) -> None:
        if self.generator is not None and state is not None:
            self.generator.set_state(state["generator"].cpu())

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        reduction = "sum" if self.form == "eq12" else "mean"
        if epoch < self.start_epoch or self.lam == 0:
            logits = logits_of(model, x, mask)
            return F.cross_entropy(logits, y, reduction=reduction), logits, {}
        if self.projections:
            def draw(n: int, k: int, n_classes: int) -> torch.Tensor:
                return unit_directions(n, k, n_classes, self.generator)

            logits, projected = projected_jacobian(model, x, mask, self.projections, draw)
            penalty = self.projected_penalty(projected, logits.shape[1])
        else:
            logits, jac = logit_jacobian(model, x, mask)
            penalty = self.penalty(jac)
        ce = F.cross_entropy(logits, y, reduction=reduction)
        return ce + self.lam * penalty, logits, {"ce": ce.item(), "jacobian": penalty.item()}
