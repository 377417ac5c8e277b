"""TRADES, Zhang et al. 2019 ("Theoretically principled trade-off between robustness and accuracy"), eq. 5 with
the inner maximisation of their algorithm 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of

from ..objective_base import Objective, ObjectiveResult, check_non_negative


def trades_kl(clean_logits: torch.Tensor, adversarial_logits: torch.Tensor) -> torch.Tensor:
    """``KL(f(x) || f(x'))`` of Zhang et al. 2019 eq. 5, summed over the classes, averaged over the batch (their
    code: ``KLDivLoss(sum) / batch``): ``sum_k p_k (log p_k - log q_k)``, ``p = softmax f(x)``, ``q = softmax f(x')``."""
    log_p, log_q = F.log_softmax(clean_logits, 1), F.log_softmax(adversarial_logits, 1)
    return (log_p.exp() * (log_p - log_q)).sum(1).mean()


class Trades(Objective):
    """TRADES, Zhang et al. 2019 eq. 5: ``CE(f(x), y) + beta max_{x' in B(x, eps)} KL(f(x) || f(x'))``.

    The inner max by their algorithm 1: start at ``x + 0.001 N(0, I)`` (``start_std``), ``steps`` signed-gradient
    ascent steps of ``step_size`` on the KL with ``f(x)`` held fixed, each projected onto the eps-ball and
    ``bounds``; the outer loss differentiates both ``f(x)`` and ``f(x')`` (x' held fixed). Paper defaults on
    CIFAR-10: beta 6, eps 0.031, 10 steps of 0.007. The random start comes from this objective's own generator,
    seeded per (seed, epoch, batch) like ``adversarial``, the batch counter kept in checkpoints so that a resumed run
    draws the same starts.
    """

    name = "trades"

    def __init__(self, beta: float = 6.0, eps: float = 0.1, steps: int = 10, step_size: float = 0.01,
                 start_std: float = 0.001, bounds=(0.0, 1.0), seed: int = 0):
        check_non_negative(beta=beta, eps=eps, steps=steps, start_std=start_std)
        if isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or step_size <= 0:
            raise EcgDataError(f"step_size must be > 0, got {step_size!r}", key="step_size")
        self.beta, self.eps, self.steps, self.step_size = float(beta), float(eps), int(steps), float(step_size)
        self.start_std, self.seed = float(start_std), int(seed)
        self.bounds = tuple(bounds) if bounds is not None else None
        self._epoch, self._batch = None, 0

    def state_dict(self) -> dict:
        """The batch counter, which a checkpoint taken mid-epoch keeps so that a resumed run draws the same starts."""
        return {"epoch": self._epoch, "batch": self._batch}

    def load_state_dict(self, state: dict) -> None:
        self._epoch, self._batch = state["epoch"], state["batch"]

    def _generator(self, epoch: int, device) -> torch.Generator:
        self._batch = self._batch + 1 if epoch == self._epoch else 1
        self._epoch = epoch
        generator = torch.Generator(device=device)
        generator.manual_seed((self.seed * 1_000_003 + epoch * 100_003 + self._batch) % 2**63)
        return generator

    def _project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x_adv = torch.max(torch.min(x_adv, x + self.eps), x - self.eps)
        return x_adv.clamp(*self.bounds) if self.bounds is not None else x_adv

    def examples(self, model, x, clean_logits, mask, epoch) -> torch.Tensor:
        """``x'`` maximising the KL to ``f(x)`` in the eps-ball (algorithm 1, lines 5-8)."""
        generator = self._generator(epoch, x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x_adv = self._project(x + self.start_std * noise, x)
        clean = clean_logits.detach()
        for _ in range(self.steps):
            x_adv = x_adv.detach().requires_grad_(True)
            with torch.enable_grad():
                (grad,) = torch.autograd.grad(trades_kl(clean, logits_of(model, x_adv, mask)), x_adv)
            x_adv = self._project(x_adv.detach() + self.step_size * grad.sign(), x)
        return x_adv.detach()

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        logits = logits_of(model, x, mask)
        ce = F.cross_entropy(logits, y)
        if self.beta == 0 or self.eps == 0:
            return ce, logits, {}
        x_adv = self.examples(model, x, logits, mask, epoch)
        kl = trades_kl(logits, logits_of(model, x_adv, mask))
        return ce + self.beta * kl, logits, {"ce": ce.item(), "kl": kl.item()}
