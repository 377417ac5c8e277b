"""The validation worst case of a model while it trains: a history column per epoch, the curve of robust
overfitting and what early stopping selects on.

Rice, Wong & Kolter (2020, ICML, "Overfitting in adversarially robust deep learning", sec. 3 and 4) found that the
robust test error of adversarial training rises again after its best epoch while the training loss keeps falling,
and that early stopping on a held-out robust score recovers the best epoch. Here that score is the worst case of a
reduced AutoAttack (APGD-CE, APGD-T, Square, each on the beats still unbroken; the sweep's `worst_case_selection`
at a smaller budget) on a fixed class-balanced subset of the validation split, summarised as ACC_robust of seed 001
eq. (8) on balanced accuracy (:func:`.metrics.robust_score`): the column ``val_acc_robust_balanced``, which a run's
``select_best`` may name. Selecting on PGD would reward gradient masking (issue 28), hence the gradient-free member.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ecg_pipeline.attacks.registry import check_attack_params, get_attack
from ecg_pipeline.config import from_mapping, positive_int
from ecg_pipeline.data.batches import Batches
from ecg_pipeline.errors import EcgConfigError

from .robustness import evaluate_attack

#: The history column the score is written to (the sweep criterion's name, with the validation prefix).
COLUMN = "val_acc_robust_balanced"


@dataclass(frozen=True)
class EpochRobustness:
    """What a run's ``validation_attack`` sets; every default held here. The MIT-BIH defaults: the data's eps grid
    up to its ``eps_max`` 0.1 (points above it do not enter eq. 8), 50 validation beats per class (250), a fifth of
    the selection attack's budget (20 APGD steps, 300 Square queries); about 1 s an epoch on the MLP."""

    attack: str = "autoattack"
    params: dict[str, Any] = field(default_factory=lambda: {
        "steps": 20, "restarts": 1, "max_queries": 300, "attacks": ["apgd_ce", "apgd_t", "square"]})
    grid: list[float] = field(default_factory=lambda: [0.0, 0.01, 0.03, 0.05, 0.1])
    eps_max: float = 0.1
    bounds: list[float] | None = field(default_factory=lambda: [0.0, 1.0])
    per_class: int = 50
    batch_size: int = 512
    seed: int = 0
    section: str = field(default="validation_attack", compare=False, repr=False)

    def __post_init__(self) -> None:
        where = self.section
        positive_int(self.per_class, "per_class", where)
        positive_int(self.batch_size, "batch_size", where)
        grid = list(self.grid) if isinstance(self.grid, (list, tuple)) else None
        if not grid or any(isinstance(e, bool) or not isinstance(e, (int, float)) or e < 0 for e in grid):
            raise EcgConfigError(f"parameters '{where}.grid': expected a list of eps >= 0, got {self.grid!r}")
        if 0 not in grid or not any(abs(e - self.eps_max) < 1e-12 for e in grid):
            raise EcgConfigError(f"parameters '{where}.grid': ACC_robust (seed 001 eq. 8) needs the clean point 0 and "
                                 f"eps_max {self.eps_max} in the grid, got {grid}")
        try:
            get_attack(self.attack)
        except Exception as error:
            raise EcgConfigError(f"parameters '{where}.attack': {error}") from None
        check_attack_params(self.attack, self.params, f"{where}.params")

    @classmethod
    def from_params(cls, params: dict | None, section: str) -> EpochRobustness:
        return from_mapping(cls, {**(params or {}), "section": section}, section)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain mapping (what a checkpoint's identity records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "section"}

    def score(self, model: nn.Module, data: Batches, device: torch.device) -> dict[str, float]:
        """``{COLUMN: ACC_robust, "val_robust_seconds": its time}`` of ``model`` on ``data``; the model's training
        mode and the global random state are as they were (the training run resumes bit-identically)."""
        was_training = model.training
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            result, _ = evaluate_attack(model, data, get_attack(self.attack), grid=self.grid,
                                        attack_params=dict(self.params), bounds=tuple(self.bounds) if self.bounds else None,
                                        eps_max=self.eps_max, per_class=self.per_class, batch_size=self.batch_size,
                                        seed=self.seed, keep_per_class=1, device=device, progress=False,
                                        name="validation worst case")
        model.train(was_training)
        return {COLUMN: float(result["acc_robust_balanced"]), "val_robust_seconds": time.perf_counter() - t0}
