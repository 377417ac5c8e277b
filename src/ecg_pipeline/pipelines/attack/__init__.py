"""The attack-evaluation template and the ``attack`` pipeline (every model run x the attacks that judge it)."""

from .pipeline import attack_pipeline, create_pipeline

__all__ = ["attack_pipeline", "create_pipeline"]
