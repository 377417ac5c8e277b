"""PGD adversarial training, seed 001 eqs. (10) and (11)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import logits_of

from ..objective_base import Objective, ObjectiveResult, check_non_negative


class Adversarial(Objective):
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
        check_non_negative(eps=eps)
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

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        logits = logits_of(model, x, mask)
        ce_clean = F.cross_entropy(logits, y)
        if epoch < self.start_epoch or self.eps == 0:
            return ce_clean, logits, {}
        eps = self.eps_at(epoch)
        x_adv = self.examples(model, x, y, mask, epoch)
        ce_adv = F.cross_entropy(logits_of(model, x_adv, mask), y)
        return 0.5 * ce_clean + 0.5 * ce_adv, logits, {"ce_clean": ce_clean.item(), "ce_adv": ce_adv.item(), "eps": eps}
