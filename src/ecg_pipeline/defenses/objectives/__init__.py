"""The training objectives, one module each, behind the one call shape of
:class:`~ecg_pipeline.defenses.objective_base.Objective`; :data:`OBJECTIVES` names them for the configuration.

Every module of this package is imported here, and each objective class registers itself under its ``name``
(``Objective.__init_subclass__``): adding an objective is one module here plus the run that selects it
(docs/extending.md). Today: ``ce`` (:class:`CrossEntropy`, seed 001's baseline), ``nsr`` (:class:`NSR`, seed 001
eq. (7) with R of eq. (6)), ``jacobian`` (seed 001 eqs. (12) / (13)), ``adversarial`` (seed 001 eqs. (10) / (11)),
``trades`` (Zhang et al. 2019 eq. 5), ``ibp`` and ``crown_ibp`` (Gowal et al. 2018; Zhang et al. 2020; bounds in
``defenses.bounds``),
``decorrelation`` (seed 004 eqs. (5) / (6)) and ``atk_gan`` (:class:`AtkGan` in ``defenses.atk_gan``, seed 002
eqs. (1)-(5)).
"""

from __future__ import annotations

import importlib
import pkgutil

from ecg_pipeline.errors import EcgConfigError

from ..atk_gan import AtkGan
from ..objective_base import OBJECTIVES, Objective, ObjectiveResult
from .adversarial import Adversarial
from .cross_entropy import CrossEntropy
from .decorrelated import Decorrelated
from .jacobian import Jacobian, logit_jacobian
from .nsr import NSR

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OBJECTIVES", "Adversarial", "AtkGan", "CrossEntropy", "Decorrelated", "Jacobian", "NSR", "Objective",
           "ObjectiveResult", "build_objective", "logit_jacobian"]


def build_objective(name: str, **params) -> Objective:
    """The objective called ``name`` with its parameters; unknown names or keys are errors."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise EcgConfigError(f"unknown training objective {name!r}; expected one of {sorted(OBJECTIVES)}",
                             key="name") from None
    try:
        return cls(**params)
    except TypeError as err:
        raise EcgConfigError(f"objective {name!r}: {err}") from None
