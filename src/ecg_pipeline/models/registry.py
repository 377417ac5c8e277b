"""Model registry: build any architecture by name from a plain config, and get back the
``{name, config}`` that rebuilds it (what a checkpoint stores next to the ``state_dict``).

Every model in the registry takes only keyword config values that are plain Python scalars, records
its full config (defaults filled in) as ``model.model_config``, has ``uses_mask`` (True only for
models whose ``forward`` takes ``(x, mask)``), a ``features(x)`` method giving the input of the
final linear layer, and that layer as ``head`` (``head(features(x)) == forward(x)``). The one model
that is not a classifier, ECG-ATK-GAN's generator (``atk_gan_generator``), has ``forward(x, y, z)``, no
``features`` and no ``head``; it is built, described and stored the same way.

Models made of other registry models (``ensemble``, ``fourier``) build their members with :func:`build_model`,
so this module cannot import them: they add themselves to :data:`MODELS` with :func:`register_model`, and the
package's ``__init__`` imports them, so they are registered whenever this module is importable (the import
graph has no circle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import inspect
from typing import Any

from torch import nn

from ecg_pipeline.errors import EcgDataError

from .atk_gan import Discriminator, DiscriminatorCode, Generator
from .han_cnn import HanCNN
from .kachuee_cnn import KachueeCNN
from .masked_resnet import MaskedResNet
from .mlp import MLP

MODELS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "kachuee_cnn": KachueeCNN,
    "masked_resnet": MaskedResNet,
    "han_cnn": HanCNN,
    "atk_gan_generator": Generator,
    "atk_gan_discriminator": Discriminator,
    "atk_gan_discriminator_code": DiscriminatorCode,
    # registered by their own modules (register_model), they build their members through this registry:
    # "ensemble": models/ensemble.py, trained members as one deployed model (mean logits or vote);
    # "fourier": models/fourier.py, an inner model behind a Fourier band mask (seed 004, section 5.4).
}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: ``MODELS[name] = cls``, for a model whose module imports this registry (it builds other
    registry models) and which this module therefore cannot import. Refuses a name taken by another class."""
    def register(cls: type[nn.Module]) -> type[nn.Module]:
        taken = MODELS.get(name)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise EcgDataError(f"model name {name!r} is already registered to {taken.__qualname__}")
        MODELS[name] = cls
        return cls
    return register


def config_keys(name: str) -> list[str]:
    """The config keys model ``name`` accepts, in constructor order."""
    cls = _model_class(name)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _model_class(name: Any) -> type[nn.Module]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise EcgDataError(f"unknown model {name!r}; expected one of {sorted(MODELS)}") from None


def check_mask_use(model: str | Mapping, masked: bool, where: str) -> None:
    """Refuse a model that takes a padding mask on unpadded data, or one that ignores it on padded data.

    ``model``: a registry name, or a model declaration ``{"name": ..., **config}``; an input stage that wraps
    a model (``input_stage``: the Fourier partition, ``{"name": "fourier", "model": {...}}``) is judged by
    the model it wraps. A mask-aware model (``uses_mask``, e.g. the CPSC ResNet's masked pooling) fed beats
    would average over samples that are all real and hide a data mix-up; a model without a mask on padded
    records would pool over the zero padding (seed 001's CPSC model exists to avoid exactly that), unless it
    was built for zero-padded input (``zero_padded_input``: Han et al.'s CinC 2017 CNN).
    """
    if isinstance(model, Mapping):
        if getattr(_model_class(model.get("name")), "input_stage", False) and isinstance(model.get("model"), Mapping):
            check_mask_use(model["model"], masked, where)
            return
        model = model.get("name")
    name = model
    cls = _model_class(name)
    uses_mask = bool(getattr(cls, "uses_mask", False))
    if uses_mask and not masked:
        raise EcgDataError(f"{where}: model {name!r} expects padded records with a mask, but the data has no mask "
                           "(fixed-length beats); use a model without a mask (e.g. 'mlp', 'kachuee_cnn') or padded data")
    if masked and not uses_mask and not getattr(cls, "zero_padded_input", False):
        masked_models = sorted(n for n, c in MODELS.items() if getattr(c, "uses_mask", False))
        padded_models = sorted(n for n, c in MODELS.items() if getattr(c, "zero_padded_input", False))
        raise EcgDataError(f"{where}: the data is padded records with a mask, but model {name!r} takes no mask "
                           f"(it would pool over the zero padding); expected one of {masked_models}, or a model "
                           f"built for zero-padded input ({padded_models})")


def build_model(name: str, **config: Any) -> nn.Module:
    """A fresh model ``MODELS[name](**config)`` with ``model.model_name = name``.

    Raises:
        EcgDataError: for an unknown ``name`` (naming the options) or an unknown config key
            (naming it and the accepted keys).
    """
    cls = _model_class(name)
    accepted = config_keys(name)
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise EcgDataError(
            f"model {name!r}: unknown config key(s) {unknown}; expected only {accepted}"
        )
    model = cls(**config)
    model.model_name = name
    return model


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``{"name": ..., "config": {...}}`` such that ``build_model(name, **config)`` rebuilds ``model``'s
    architecture (the full config, defaults filled in). Works for models made by
    :func:`build_model` and for registry classes constructed directly.
    """
    name = getattr(model, "model_name", None)
    if name is None:
        names = [key for key, cls in MODELS.items() if type(model) is cls]
        name = names[0] if names else None
    config = getattr(model, "model_config", None)
    if name not in MODELS or not isinstance(config, dict):
        raise EcgDataError(
            f"cannot describe a {type(model).__name__}: expected a model from the registry "
            f"{sorted(MODELS)} (built with build_model)"
        )
    return {"name": name, "config": dict(config)}
