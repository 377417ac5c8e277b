"""Classifier architectures (torch only, no Kedro) and their registry: ``build_model(name, **config)``."""

# ensemble and fourier register themselves in MODELS (registry.register_model): imported here so that they always are
from . import ensemble, fourier  # noqa: F401
from .atk_gan import Discriminator, DiscriminatorCode, Generator
from .forward import double_backprop, features_of, in_double_backprop, logits_of
from .han_cnn import HanCNN
from .kachuee_cnn import KachueeCNN
from .masked_resnet import MaskedResNet
from .mlp import MLP
from .registry import MODELS, build_model, model_spec

__all__ = ["MODELS", "Discriminator", "DiscriminatorCode", "Generator", "HanCNN", "KachueeCNN", "MLP", "MaskedResNet", "build_model",
           "double_backprop", "features_of", "in_double_backprop", "logits_of", "model_spec"]
