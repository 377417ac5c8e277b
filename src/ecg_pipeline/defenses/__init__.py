"""Training objectives (CE, NSR, Jacobian, adversarial), the one trainer that runs them, and ``fit``."""

from .config import TrainingConfig
from .fit import fit

__all__ = ["TrainingConfig", "fit"]
