"""``attack_generation``: ECG-ATK-GAN's source classifier trained, then its six attacks on each split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
