"""``evaluate_atk_gan`` (ECG-ATK-GAN judged on the paper's protocol) and ``report_atk_gan`` (its tables and figure)."""

from .pipeline import create_pipeline, create_report_pipeline

__all__ = ["create_pipeline", "create_report_pipeline"]
