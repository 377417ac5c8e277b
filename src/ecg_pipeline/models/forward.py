"""The one forward pass every caller uses (attacks, training, evaluation): mask-aware models get the mask."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

_state = threading.local()


@contextmanager
def double_backprop() -> Iterator[None]:
    """Marks the forward passes inside as ones whose graph will be differentiated twice, as an
    input-gradient regulariser does (NSR, Jacobian): first with respect to the input with
    ``create_graph=True``, then the loss built on that gradient with respect to the weights, graph-free.

    Models may then build a graph for exactly that (``KachueeCNN`` uses a convolution whose backward
    stays on fast kernels when differentiated again, and which gives no weight gradients in the
    graph-recording pass). Differentiating such a graph in any other way (weight gradients with
    ``create_graph=True``) is not supported: run that forward pass outside this context.
    """
    previous = getattr(_state, "double_backprop", False)
    _state.double_backprop = True
    try:
        yield
    finally:
        _state.double_backprop = previous


def in_double_backprop() -> bool:
    """Whether the current thread is inside :func:`double_backprop`."""
    return getattr(_state, "double_backprop", False)


def logits_of(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Forward pass; mask-aware models (``model.uses_mask``, e.g. the CPSC ResNet) also get the mask."""
    if mask is not None and getattr(model, "uses_mask", False):
        return model(x, mask)
    return model(x)


def features_of(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The input of the model's final linear layer (``model.head``); mask-aware models also get the mask."""
    if mask is not None and getattr(model, "uses_mask", False):
        return model.features(x, mask)
    return model.features(x)
