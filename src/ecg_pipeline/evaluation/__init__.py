"""Classification and robustness metrics, attack evaluation (``evaluate``), model selection, input-gradient
diagnostics (``logit_gradient_norms``); Kedro-free."""

from .evaluate import evaluate
from .gradients import logit_gradient_norms
from .spec import AttackSpec

__all__ = ["AttackSpec", "evaluate", "logit_gradient_norms"]
