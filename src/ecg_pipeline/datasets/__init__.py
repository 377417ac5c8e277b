"""Custom Kedro datasets for the project (``type: ecg_pipeline.datasets.<Name>`` in the catalog)."""

from .npz_dataset import NpzDataset
from .physionet_source import PhysioNetSource

__all__ = ["NpzDataset", "PhysioNetSource"]
