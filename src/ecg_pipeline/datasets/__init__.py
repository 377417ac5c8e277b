"""Custom Kedro datasets for the project (``type: ecg_pipeline.datasets.<Name>`` in the catalog)."""

from .folder import FolderDataset
from .npz_dataset import NpzDataset
from .physionet_source import PhysioNetSource
from .torch_model import TorchModelDataset

__all__ = ["FolderDataset", "NpzDataset", "PhysioNetSource", "TorchModelDataset"]
