"""The configuration of one attack evaluation (``attacks.<name>`` in conf/): each default held here once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecg_pipeline.config import from_mapping, positive_int
from ecg_pipeline.errors import EcgConfigError, EcgDataError

from .escalation import Escalation


@dataclass(frozen=True)
class AttackSpec:
    """One attack over a grid of strengths (seed 001's MIT-BIH defaults are in conf/base/parameters_attack.yml)."""

    attack: str                                   # the function in ecg_pipeline.attacks.registry
    grid: tuple[float, ...]                       # strengths: eps values, or e.g. snr_db for real noise
    grid_param: str = "eps"
    params: dict[str, Any] = field(default_factory=dict)   # the attack's own hyper-parameters
    eps: float | None = None                      # fixed eps when the grid is over another parameter
    bounds: tuple[float, float] | None = None     # input domain the adversarial examples are clipped to
    eps_max: float | None = None                  # ACC_robust / F1_robust (seed 001 eq. 8) integrate up to here
    per_class: int | None = None                  # seeded class-balanced subset (None: the whole split)
    batch_size: int = 512
    seed: int = 0
    keep_per_class: int = 2                       # adversarial examples kept per class (report figures)
    device: str = "auto"
    progress: bool = True
    noise_record: str | None = None               # NSTDB record (em, ma, bw) for attacks that add real noise
    noise_channel: str = "noise1"
    num_threads: int | None = None
    diagnostics: bool = False                     # gradient-masking flags (evaluation.diagnostics) in the metrics
    diagnostics_per_class: int = 50               # beats per class for the costly checks (more effort, transfer)
    transfer_from: str | None = None              # family whose model of the same data and architecture is the
                                                  # source of the transfer check (e.g. "ce")
    escalation: Escalation | None = None          # {max_doublings, tolerance}: doubled effort on the unbroken beats
                                                  # until the accuracy stops moving (evaluation.escalation); None: off
    section: str = field(default="attack", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", tuple(float(v) for v in self.grid or ()))
        if self.bounds is not None:
            object.__setattr__(self, "bounds", tuple(float(b) for b in self.bounds))
        where = f"parameters '{self.section}"
        if not self.grid:
            raise EcgDataError(f"{where}.grid': the grid of {self.grid_param} values is empty")
        if self.grid_param == "eps" and min(self.grid) < 0:
            raise EcgDataError(f"{where}.grid': eps must be >= 0, the grid has {min(self.grid)}")
        if self.eps_max is not None:
            if self.grid_param != "eps":
                raise EcgDataError(f"{where}.eps_max': ACC_robust needs an eps grid, this grid is over {self.grid_param}")
            if 0.0 not in self.grid:
                raise EcgDataError(f"{where}.grid': ACC_robust (eps_max {self.eps_max}) needs eps 0 (the clean score) "
                                   f"in the grid {list(self.grid)}")
            if not any(abs(v - self.eps_max) < 1e-12 for v in self.grid) or not self.eps_max > 0:
                raise EcgDataError(f"{where}.eps_max': {self.eps_max} must be a positive grid point; grid is {list(self.grid)}")
        for key in ("batch_size", "keep_per_class", "diagnostics_per_class"):
            positive_int(getattr(self, key), key, self.section)
        for key in ("per_class", "num_threads"):
            positive_int(getattr(self, key), key, self.section, allow_none=True)
        object.__setattr__(self, "escalation", Escalation.from_value(self.escalation, self.section))
        if self.escalation is not None:
            self._check_escalation(where)

    def _check_escalation(self, where: str) -> None:
        """Escalation reruns the attack per eps with its declared effort keys doubled: it needs both."""
        from ecg_pipeline.attacks.registry import EFFORT_KEYS

        if self.grid_param != "eps":
            raise EcgConfigError(f"{where}.escalation': escalation reruns the attack per eps; this grid is over "
                                 f"{self.grid_param}")
        if self.attack in EFFORT_KEYS and not EFFORT_KEYS[self.attack]:
            raise EcgConfigError(f"{where}.escalation': attack {self.attack!r} declares no effort keys "
                                 "(attacks.registry.effort_keys): there is no effort to double; set escalation: null")

    @classmethod
    def from_params(cls, params: dict, name: str, *, ignore=("data",)) -> AttackSpec:
        """The spec of ``attacks.<name>``; ``attack`` defaults to ``name``."""
        section = f"attacks.{name}"
        return from_mapping(cls, {"attack": name, **params, "section": section}, section, ignore=ignore)

    @property
    def needs_noise(self) -> bool:
        return self.noise_record is not None

    @property
    def needs_ensemble(self) -> bool:
        """It crafts on an ensemble's surrogates (``params.surrogates`` beyond ``[self]``): it judges ensembles only."""
        return tuple(self.params.get("surrogates") or ("self",)) != ("self",)
