"""The training objectives, one module each, behind the one call shape of
:class:`~ecg_pipeline.defenses.objective_base.Objective`; :data:`OBJECTIVES` names them for the configuration.

=================  =====================================  ==============================================
name               class (module)                         formula
=================  =====================================  ==============================================
``ce``             :class:`CrossEntropy` (cross_entropy)  seed 001's CE baseline
``nsr``            :class:`NSR` (nsr)                     seed 001 eq. (7) with R of eq. (6)
``jacobian``       :class:`Jacobian` (jacobian)           seed 001 eqs. (12) / (13)
``adversarial``    :class:`Adversarial` (adversarial)     seed 001 eqs. (10) / (11)
``atk_gan``        :class:`AtkGan` (``defenses.atk_gan``)  seed 002 eqs. (1)-(5)
``decorrelation``  :class:`Decorrelated` (decorrelated)   seed 004 eqs. (5) / (6)
=================  =====================================  ==============================================
"""

from __future__ import annotations

from ecg_pipeline.errors import EcgDataError

from ..atk_gan import AtkGan
from ..objective_base import Objective, ObjectiveResult
from .adversarial import Adversarial
from .cross_entropy import CrossEntropy
from .decorrelated import Decorrelated
from .jacobian import Jacobian, logit_jacobian
from .nsr import NSR

__all__ = ["OBJECTIVES", "Adversarial", "AtkGan", "CrossEntropy", "Decorrelated", "Jacobian", "NSR", "Objective",
           "ObjectiveResult", "build_objective", "logit_jacobian"]

OBJECTIVES: dict[str, type[Objective]] = {"ce": CrossEntropy, "nsr": NSR, "jacobian": Jacobian, "adversarial": Adversarial,
                                          "atk_gan": AtkGan, "decorrelation": Decorrelated}


def build_objective(name: str, **params) -> Objective:
    """The objective called ``name`` with its parameters; unknown names or keys are errors."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise EcgDataError(f"unknown training objective {name!r}; expected one of {sorted(OBJECTIVES)}",
                           key="name") from None
    try:
        return cls(**params)
    except TypeError as err:
        raise EcgDataError(f"objective {name!r}: {err}") from None
