"""``train_ens``: the ensembles of seed 004 (members, cached features, the assembled model, the transfer study)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
