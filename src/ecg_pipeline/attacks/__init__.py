"""Adversarial attacks and noise corruptions: torch, Kedro-free, one call shape (see base.py)."""
