"""Custom Kedro datasets for the project (``type: ecg_pipeline.datasets.<Name>`` in the catalog)."""

from .collection import StoredCollection
from .folder import FolderDataset
from .image_folder import ImageFolderDataset
from .npz_dataset import NpzDataset
from .optional import OptionalDataset, StoredArtifact
from .physionet_source import PhysioNetSource
from .torch_model import TorchModelDataset

__all__ = ["FolderDataset", "ImageFolderDataset", "NpzDataset", "OptionalDataset", "PhysioNetSource", "StoredArtifact", "StoredCollection",
           "TorchModelDataset"]
