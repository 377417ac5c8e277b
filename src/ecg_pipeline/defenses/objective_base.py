"""The objective protocol, stated once: :class:`Objective`, the base class every training objective derives
from, with an explicit default for each thing an objective may add to the one call.

``objective(model, x, y, mask, epoch) -> (loss, logits, stats)``: ``loss`` a scalar to minimise, ``logits``
of the clean batch (for running accuracy), ``stats`` floats to log per epoch. An objective with
:attr:`~Objective.extras` is called with ``extra={name: tensor}`` as well (those per-sample arrays of each
batch). The trainer (``defenses.trainer``) and ``fit`` (``defenses.fit``) call the other hooks on every
objective; the defaults below make them do nothing.

A subclass that sets :attr:`~Objective.name` registers itself in :data:`OBJECTIVES` under that name (the key
a run's ``objective.name`` selects), so a new objective is one module in ``defenses/objectives/`` (every module
there is imported by the package) plus the run that uses it in the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError

ObjectiveResult = tuple[torch.Tensor, torch.Tensor, dict[str, float]]

#: Every objective by the name a run's configuration selects it with, filled as the classes are defined.
OBJECTIVES: dict[str, type["Objective"]] = {}


class Objective:
    """A training objective. Subclasses set :attr:`name`, implement :meth:`__call__` and override only the
    hooks they need:

    - :attr:`extras`: names of the per-sample arrays of the training set each batch carries besides ``x`` and
      ``y`` (passed as ``extra``; part of the run's fingerprint);
    - :attr:`companions`: names of the models it trains besides the trainer's (:meth:`companion_models`);
    - :meth:`bind`: called once by the trainer before training, with the model, device and the run's
      optimizer factory (to build and optimise companion models);
    - :meth:`check_training_set`: called once by ``fit`` before anything trains;
    - :meth:`state_dict` / :meth:`load_state_dict`: what a checkpoint keeps of the objective (None: nothing).
    """

    name: ClassVar[str] = ""
    extras: ClassVar[tuple[str, ...]] = ()
    companions: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, register: bool = True, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not register:
            return
        if "name" not in cls.__dict__ and cls.name:
            return  # a variant of a registered objective (a wrapper, a test's probe): its parent's name, not registered
        if not cls.name:
            raise TypeError(f"objective class {cls.__qualname__}: set the class attribute `name` (the key a run's "
                            "objective.name selects it by), or declare it with register=False")
        known = OBJECTIVES.get(cls.name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(f"objective name {cls.name!r} of {cls.__module__}.{cls.__qualname__} is already taken by "
                            f"{known.__module__}.{known.__qualname__}")
        OBJECTIVES[cls.name] = cls

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, epoch: int,
                 extra: dict[str, torch.Tensor] | None = None) -> ObjectiveResult:
        raise NotImplementedError

    def bind(self, model: nn.Module, device: torch.device, make_optimizer: Callable) -> None:
        """Nothing to build beside the trainer's model."""

    def check_training_set(self, model: nn.Module, train_data: Any, batch_size: int) -> None:
        """Nothing to check beyond what the trainer checks."""

    def companion_models(self) -> dict[str, nn.Module]:
        """The models trained besides the trainer's, by the names of :attr:`companions`."""
        return {}

    def state_dict(self) -> dict | None:
        """No state a resumed run needs."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


class FunctionObjective(Objective, register=False):
    """A plain function ``(model, x, y, mask, epoch) -> (loss, logits, stats)`` as an :class:`Objective` with
    every default (tests and benchmarks pass such functions to the trainer)."""

    name = "function"

    def __init__(self, function: Callable[..., ObjectiveResult]):
        self.function = function

    def __call__(self, model, x, y, mask, epoch, **extra) -> ObjectiveResult:
        return self.function(model, x, y, mask, epoch, **extra)


def as_objective(objective: Objective | Callable[..., ObjectiveResult]) -> Objective:
    """``objective`` itself, or a plain function wrapped as an :class:`Objective` with the defaults."""
    return objective if isinstance(objective, Objective) else FunctionObjective(objective)


def check_non_negative(**values: float) -> None:
    """Each keyword a number >= 0 (not a bool), else an error naming it."""
    for name, value in values.items():
        try:
            valid = not isinstance(value, bool) and float(value) >= 0
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise EcgDataError(f"{name} must be >= 0, got {value!r}", key=name)
