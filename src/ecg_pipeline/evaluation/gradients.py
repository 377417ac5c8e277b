"""Input-gradient norms of the logits: a diagnostic for gradient masking (Kedro-free).

NSR (seed 001 eq. 6-7) penalises ``||dz_y/dx||_1`` of the true-class logit only. A model can satisfy
that while another logit stays steep, so a targeted attack (APGD-T, DLR loss) that pushes the rival
logit up still succeeds while CE-loss PGD looks weak. :func:`logit_gradient_norms` measures, per
sample, the L1 input-gradient norm of the true-class logit ``z_y``, of the strongest other logit
``z_j*`` (``j* = argmax_{j != y} z_j``) and of the margin ``z_y - z_j*``, and how often the CE loss has
an input gradient that is exactly zero (what a gradient attack on CE then cannot move).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.attacks.base import frozen, margin
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return float("inf") if numerator > 0 else float("nan")


def logit_gradient_norms(model: nn.Module, x, y, *, mask=None, batch_size: int = 512) -> dict:
    """Per-sample L1 input-gradient norms of ``z_y``, ``z_j*`` and the margin ``z_y - z_j*``, and the
    fraction of samples whose CE-loss input gradient is exactly zero (every entry ``== 0``).

    ``x``: inputs ``[n, ...]`` (tensor or array); ``y``: integer labels ``[n]``; ``mask`` (optional, for
    padded inputs): the gradients count only where it is nonzero (what an attack may perturb) and the
    model gets it through :func:`~ecg_pipeline.models.logits_of`. ``j*`` is the argmax of the other
    logits at ``x``, so the margin gradient is ``dz_y/dx - dz_j*/dx``. The model runs in eval mode with
    its weights untouched (no weight gradients); its mode and ``requires_grad`` flags are restored.

    Returns ``{"true_logit", "other_logit", "margin"}``: float arrays ``[n]`` of the L1 norms;
    ``"other_class"``: ``j*`` per sample; ``"margin_value"``: ``m = z_y - z_j*`` per sample (``> 0`` iff
    correct; ``m / ||dm/dx||_1`` is the first-order L-inf distance to the boundary with ``j*``);
    ``"ce_grad_zero"``: bool ``[n]``; ``"ce_grad_zero_fraction"``; and ``"summary"``: the medians of the
    three norms, ``other_to_true_ratio`` = median(other) / median(true) (``inf`` when only the
    denominator is 0), the zero-gradient fraction, ``n``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EcgDataError(f"batch_size must be a positive integer, got {batch_size!r}")
    x = torch.as_tensor(x)
    y = torch.as_tensor(y).long()
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise EcgDataError(f"x has {x.shape[0]} rows but y has shape {tuple(y.shape)}; expected one label per row")
    mask = None if mask is None else torch.as_tensor(mask)
    if mask is not None and mask.shape[0] != x.shape[0]:
        raise EcgDataError(f"mask has {mask.shape[0]} rows for {x.shape[0]} inputs")
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None and x.is_floating_point() else None
    parts: dict[str, list[torch.Tensor]] = {"true_logit": [], "other_logit": [], "margin": [], "other_class": [],
                                            "margin_value": [], "ce_grad_zero": []}
    with frozen(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size].to(device=device, dtype=dtype).detach().requires_grad_(True)
            yb = y[start:start + batch_size].to(device)
            mb = None if mask is None else mask[start:start + batch_size].to(device)
            logits = logits_of(model, xb, mb)
            k = logits.shape[1]
            if k < 2:
                raise EcgDataError(f"the model has {k} output; the strongest other logit needs at least 2")
            if int(yb.min()) < 0 or int(yb.max()) >= k:
                raise EcgDataError(f"labels outside the model's classes 0..{k - 1}")
            j_star = logits.detach().scatter(1, yb[:, None], float("-inf")).argmax(1)
            outputs = (logits.gather(1, yb[:, None]).sum(), logits.gather(1, j_star[:, None]).sum(),
                       F.cross_entropy(logits, yb, reduction="sum"))  # each sample's depends on its own input only
            if logits.requires_grad:
                grads = [torch.autograd.grad(out, xb, retain_graph=i < 2)[0] for i, out in enumerate(outputs)]
            else:  # a forward pass cut off from its input (e.g. detached): every gradient is zero
                grads = [torch.zeros_like(xb) for _ in outputs]
            if mb is not None:
                grads = [g * (mb != 0).to(g.dtype) for g in grads]
            g_true, g_other, g_ce = (g.flatten(1) for g in grads)
            parts["true_logit"].append(g_true.abs().sum(1))
            parts["other_logit"].append(g_other.abs().sum(1))
            parts["margin"].append((g_true - g_other).abs().sum(1))
            parts["other_class"].append(j_star)
            parts["margin_value"].append(margin(logits.detach(), yb))
            parts["ce_grad_zero"].append((g_ce == 0).all(1))
    out = {key: torch.cat(values).cpu().numpy() if values else np.zeros(0) for key, values in parts.items()}
    out["ce_grad_zero"] = out["ce_grad_zero"].astype(bool)
    n = int(y.shape[0])
    out["ce_grad_zero_fraction"] = float(out["ce_grad_zero"].mean()) if n else float("nan")
    medians = {key: float(np.median(out[key])) if n else float("nan") for key in ("true_logit", "other_logit", "margin")}
    out["summary"] = {
        "n": n,
        "median_true_logit": medians["true_logit"],
        "median_other_logit": medians["other_logit"],
        "median_margin": medians["margin"],
        "other_to_true_ratio": _ratio(medians["other_logit"], medians["true_logit"]),
        "ce_grad_zero_fraction": out["ce_grad_zero_fraction"],
    }
    return out
