"""Training with defenses: the objectives (``objectives/``, one module each, on the base class of
``objective_base``; ECG-ATK-GAN's in ``atk_gan``), the one training loop (``trainer``) with its checkpoints
(``checkpoints``, ``identity``) and optimiser helpers (``optimisation``), and ``fit``, the entry point."""

from .config import TrainingConfig
from .fit import fit

__all__ = ["TrainingConfig", "fit"]
