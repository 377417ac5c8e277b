"""The training configuration of one run: every key a run may set, each default held here once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ecg_pipeline.config import from_mapping, positive_int
from ecg_pipeline.errors import EcgDataError

# Keys that change what a run computes are in its checkpoint's identity; these do not. ``device`` and
# ``num_threads`` do, but as resolved when the run starts ("auto" and null name no device or thread count):
# the trainer records those (ecg_pipeline.defenses.identity).
NOT_FINGERPRINTED = ("progress", "device", "num_threads", "checkpoint_every_s", "resume")
SAMPLERS = ("shuffle", "balanced")
# What a run does with a stored checkpoint of its folder (the trainer's docstring has the whole table):
#   auto    resume only a checkpoint of exactly this run (same epochs, data, code, threads, device); anything
#           else starts fresh, with a warning saying why
#   extend  also continue a checkpoint of the same run asked for fewer epochs (a 5-epoch run extended to 10)
#   fresh   never resume: train from the start (--params=runs.<run>.resume=fresh)
RESUME_MODES = ("auto", "extend", "fresh")
# Options added after models were stored (checkpoints, the zoo's entries), with their defaults: at these values they
# are left out of the fingerprint and of a written configuration, so what was stored before them stays the same run.
ADDED_LATER = {"validation_attack": None, "renorm_rows": False}


@dataclass(frozen=True)
class TrainingConfig:
    """One training run (seed 001's MIT-BIH defaults: Adamax, lr 1e-3, batch 128, 50 epochs)."""

    model: dict[str, Any] = field(default_factory=dict)          # {name: <registry name>, **its arguments}
    objective: dict[str, Any] = field(default_factory=lambda: {"name": "ce"})   # {name: ce|nsr|jacobian|adversarial, ...}
    optimizer: str = "adamax"
    lr: float = 1e-3
    optimizer_args: dict[str, Any] | None = None
    batch_size: int = 128
    epochs: int = 50
    seed: int = 0
    device: str = "auto"                      # CUDA when available, else CPU
    max_batches_per_epoch: int | None = None  # cap (ci env, smoke runs)
    max_shift: int | None = None              # random placement offset of padded records in training
    sampler: str = "shuffle"                  # "shuffle": each record once an epoch; "balanced": every class tiled
                                              # to the largest class count each epoch (seed 001's CPSC up-sampling)
    extra_copies: dict[str, int] | None = None  # {class name: k}: k more copies of each training record of the class
                                              # in every epoch (Han et al.'s CinC 2017 augmentation: {"~": 5, A: 1})
    progress: bool = True
    num_threads: int | None = None            # intra-op CPU threads (None: torch's default)
    checkpoint_every_s: float = 300.0         # a mid-epoch checkpoint this often (seconds); 0: at epoch ends only
    select_best: str | None = None            # a history column (val_accuracy): keep the epoch that maximised it
    validation_attack: dict[str, Any] | None = None  # a validation worst case each epoch (column val_acc_robust_balanced;
                                              # evaluation.epoch_robustness: {} takes its defaults); null: none
    renorm_rows: bool = False                 # seed 001's code: every weight row rescaled to unit L2 norm at the start
                                              # and after each batch, rows without gradient in an epoch re-drawn
    resume: str = "auto"                      # auto | extend | fresh: what to do with a stored checkpoint (RESUME_MODES)
    section: str = field(default="training", compare=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("batch_size", "epochs"):
            positive_int(getattr(self, key), key, self.section)
        for key in ("max_batches_per_epoch", "num_threads"):
            positive_int(getattr(self, key), key, self.section, allow_none=True)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise EcgDataError(f"parameters '{self.section}.lr': expected a number > 0, got {self.lr!r}")
        every = self.checkpoint_every_s
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not every >= 0:
            raise EcgDataError(f"parameters '{self.section}.checkpoint_every_s': expected a number >= 0 "
                               f"(0: checkpoints at epoch ends only), got {every!r}")
        if self.select_best is not None and (not isinstance(self.select_best, str) or not self.select_best):
            raise EcgDataError(f"parameters '{self.section}.select_best': expected a history column name "
                               f"(e.g. val_accuracy) or null, got {self.select_best!r}")
        if self.validation_attack is not None:
            self.epoch_robustness()  # its keys and attack checked before any training
        if not isinstance(self.renorm_rows, bool):
            raise EcgDataError(f"parameters '{self.section}.renorm_rows': expected true or false, got {self.renorm_rows!r}")
        if not isinstance(self.objective, dict) or "name" not in self.objective:
            raise EcgDataError(f"parameters '{self.section}.objective': expected a mapping with a 'name', "
                               f"got {self.objective!r}")
        if self.resume not in RESUME_MODES:
            raise EcgDataError(f"parameters '{self.section}.resume': expected one of {list(RESUME_MODES)} (auto: resume "
                               f"only an exact match; extend: also continue a shorter run; fresh: train from the "
                               f"start), got {self.resume!r}")
        if self.sampler not in SAMPLERS:
            raise EcgDataError(f"parameters '{self.section}.sampler': expected one of {list(SAMPLERS)}, got {self.sampler!r}")
        if self.extra_copies is not None and not isinstance(self.extra_copies, dict):
            raise EcgDataError(f"parameters '{self.section}.extra_copies': expected a mapping of class name -> extra "
                               f"copies (e.g. {{'~': 5, A: 1}}) or null, got {self.extra_copies!r}")
        start = self.objective.get("start_epoch", 1)
        if isinstance(start, bool) or not isinstance(start, int) or start < 1:
            raise EcgDataError(f"parameters '{self.section}.objective.start_epoch': expected an epoch >= 1, got {start!r}")
        if start > self.epochs:
            raise EcgDataError(f"parameters '{self.section}.objective.start_epoch': the warm-up ends at epoch {start}, "
                               f"beyond the run's {self.epochs} epochs (the {self.objective['name']} objective would "
                               f"never switch on); lower start_epoch or raise '{self.section}.epochs'")
        ramp_epochs = self.objective.get("epochs")
        if self.objective.get("ramp") and ramp_epochs is not None and ramp_epochs != self.epochs:
            raise EcgDataError(f"parameters '{self.section}.objective.epochs': the eps ramp (eq. 11) ends at epoch "
                               f"{ramp_epochs}, the run has {self.epochs}; leave it out to ramp over the run's epochs")

    def epoch_robustness(self):
        """The per-epoch validation worst case this run computes (an ``EpochRobustness``; None: none)."""
        from ecg_pipeline.evaluation.epoch_robustness import EpochRobustness  # the attacks load only when asked for

        if self.validation_attack is None:
            return None
        if not isinstance(self.validation_attack, dict):
            raise EcgDataError(f"parameters '{self.section}.validation_attack': expected a mapping (or {{}} for the "
                               f"defaults of evaluation.epoch_robustness) or null, got {self.validation_attack!r}")
        return EpochRobustness.from_params(self.validation_attack, f"{self.section}.validation_attack")

    @classmethod
    def from_params(cls, params: dict, section: str, *, ignore=()) -> TrainingConfig:
        return from_mapping(cls, {**params, "section": section}, section, ignore=ignore)

    def objective_params(self) -> dict[str, Any]:
        """The objective's parameters, with ``epochs`` (the end of the eps ramp of eq. 11) taken from the
        run where an adversarial objective ramps and leaves it out."""
        params = dict(self.objective)
        if params.get("name") == "adversarial" and params.get("ramp"):
            params.setdefault("epochs", self.epochs)
        return params

    def fingerprinted(self, *, epochs: bool = True) -> dict[str, Any]:
        """The settings a checkpoint belongs to (a change in any of them starts the run over, see the trainer).

        ``epochs=False``: without the epoch count, what names the run's checkpoint folder, so that runs that
        differ only in their epochs find each other's checkpoints (to refuse a longer one or, with
        ``resume: extend``, continue a shorter one); where the objective depends on the epoch count (the eps
        ramp of eq. 11) it is in the objective's parameters and stays."""
        settings = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.name not in (*NOT_FINGERPRINTED, "section")}
        if not epochs:
            del settings["epochs"]
        # options added later are left out at their defaults, so checkpoints written before them still match
        if settings["select_best"] is None:
            del settings["select_best"]
        if settings["sampler"] == "shuffle":
            del settings["sampler"]
        if not settings["extra_copies"]:
            del settings["extra_copies"]
        for key, default in ADDED_LATER.items():
            if settings[key] == default:
                del settings[key]
        if "validation_attack" in settings:  # resolved: {} and the defaults written out are the same run
            settings["validation_attack"] = self.epoch_robustness().as_dict()
        return {**settings, "objective": self.objective_params()}
