"""Classification and robustness metrics, attack evaluation (``evaluate``), model selection; Kedro-free."""

from .evaluate import evaluate
from .spec import AttackSpec

__all__ = ["AttackSpec", "evaluate"]
