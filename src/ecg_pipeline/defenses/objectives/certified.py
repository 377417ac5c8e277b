"""Certified training: IBP (Gowal et al. 2018, eqs. 7-8) and CROWN-IBP (Zhang et al. 2020, ICLR, sec. 3), with
the eps / kappa / beta ramps counted in optimiser steps; the bounds are ``defenses.bounds``."""

from __future__ import annotations

import torch.nn.functional as F

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of

from ..bounds import crown_ibp_layers, crown_ibp_margins, ibp_margins, layer_sequence, worst_case_logits
from ..objective_base import Objective, ObjectiveResult, check_non_negative


def linear_ramp(step: int, start: float, end: float, warmup_steps: int, ramp_steps: int) -> float:
    """``start`` for the first ``warmup_steps`` steps, then linear to ``end`` over ``ramp_steps`` steps, then ``end``
    (Gowal et al. 2018, sec. 4 "Training procedure"; ``step`` counts from 0)."""
    if step < warmup_steps:
        return float(start)
    if ramp_steps <= 0 or step >= warmup_steps + ramp_steps:
        return float(end)
    return float(start + (end - start) * (step - warmup_steps) / ramp_steps)


class IBP(Objective):
    """IBP training, Gowal et al. 2018 eq. 7: ``kappa CE(z, y) + (1 - kappa) CE(z_hat(eps), y)``, with ``z_hat`` the
    worst-case logits of eq. 8 over the L-inf box of radius ``eps`` (clamped to ``bounds``): the IBP lower bound for
    the true class, the upper bound for the others, the margin specification folded into the last layer when
    ``elide`` (the paper's practice).

    Schedules over optimiser steps (one call = one step; counted in the checkpoint): CE alone (``eps`` 0,
    ``kappa`` 1) for ``warmup_steps``, then over ``ramp_steps`` eps grows linearly from 0 to ``eps_train`` and
    kappa falls linearly from 1 to ``kappa_end`` (paper: 0.5; eps_train 1.1 eps_test on MNIST).
    """

    name = "ibp"

    def __init__(self, eps_train: float = 0.011, kappa_end: float = 0.5, warmup_steps: int = 0,
                 ramp_steps: int = 10_000, bounds=(0.0, 1.0), elide: bool = True):
        check_non_negative(eps_train=eps_train, warmup_steps=warmup_steps, ramp_steps=ramp_steps)
        if not 0.0 <= float(kappa_end) <= 1.0:
            raise EcgDataError(f"kappa_end must lie in [0, 1], got {kappa_end!r}", key="kappa_end")
        self.eps_train, self.kappa_end = float(eps_train), float(kappa_end)
        self.warmup_steps, self.ramp_steps = int(warmup_steps), int(ramp_steps)
        self.bounds = tuple(bounds) if bounds is not None else None
        self.elide = elide
        self.step = 0

    def bind(self, model, device, make_optimizer) -> None:
        layer_sequence(model)   # an unknown model or layer is refused, by name, before any training

    def state_dict(self) -> dict:
        """The step counter: where a resumed run stands on the ramps."""
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])

    def eps_at(self, step: int) -> float:
        return linear_ramp(step, 0.0, self.eps_train, self.warmup_steps, self.ramp_steps)

    def kappa_at(self, step: int) -> float:
        return linear_ramp(step, 1.0, self.kappa_end, self.warmup_steps, self.ramp_steps)

    def margins(self, model, x, y, eps: float, step: int):
        """Lower bounds on ``z_y - z_j`` over the eps-box."""
        return ibp_margins(model, x, y, eps, bounds=self.bounds, elide=self.elide)

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        step, self.step = self.step, self.step + 1
        logits = logits_of(model, x, mask)
        ce_clean = F.cross_entropy(logits, y)
        eps, kappa = self.eps_at(step), self.kappa_at(step)
        if eps == 0 or kappa == 1:
            return ce_clean, logits, {"eps": eps, "kappa": kappa}
        margins = self.margins(model, x, y, eps, step)
        ce_bound = F.cross_entropy(worst_case_logits(margins), y)
        certified = (margins + F.one_hot(y, margins.shape[1]) * 1e30).min(1).values > 0   # every j != y above 0
        return (kappa * ce_clean + (1 - kappa) * ce_bound, logits,
                {"ce_clean": ce_clean.item(), "ce_bound": ce_bound.item(), "eps": eps, "kappa": kappa,
                 "certified": certified.float().mean().item()})


class CrownIBP(IBP):
    """CROWN-IBP training, Zhang et al. 2020 (ICLR, sec. 3, the beta-mixed loss): IBP's loss with the margin lower
    bound ``(1 - beta) m_IBP + beta m_CROWN-IBP`` (``m_CROWN-IBP``: IBP pre-activation bounds, one CROWN pass for
    the margins). beta falls linearly from ``beta_start`` (1) to ``beta_end`` (0) over the eps ramp (their
    section 4 schedule), kappa from 1 to ``kappa_end`` (their MNIST / CIFAR runs: 0 or 0.5). MLP only.
    """

    name = "crown_ibp"

    def __init__(self, eps_train: float = 0.011, kappa_end: float = 0.0, warmup_steps: int = 0,
                 ramp_steps: int = 10_000, bounds=(0.0, 1.0), beta_start: float = 1.0, beta_end: float = 0.0):
        super().__init__(eps_train, kappa_end, warmup_steps, ramp_steps, bounds, elide=True)
        for key, value in (("beta_start", beta_start), ("beta_end", beta_end)):
            if not 0.0 <= float(value) <= 1.0:
                raise EcgDataError(f"{key} must lie in [0, 1], got {value!r}", key=key)
        self.beta_start, self.beta_end = float(beta_start), float(beta_end)

    def bind(self, model, device, make_optimizer) -> None:
        crown_ibp_layers(model)   # a convolution is refused, by name, before any training

    def beta_at(self, step: int) -> float:
        return linear_ramp(step, self.beta_start, self.beta_end, self.warmup_steps, self.ramp_steps)

    def margins(self, model, x, y, eps: float, step: int):
        beta = self.beta_at(step)
        ibp = ibp_margins(model, x, y, eps, bounds=self.bounds)
        if beta == 0:
            return ibp
        return (1 - beta) * ibp + beta * crown_ibp_margins(model, x, y, eps, bounds=self.bounds)

