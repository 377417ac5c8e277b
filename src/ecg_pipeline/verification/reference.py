"""A plain per-beat float64 CROWN for fully connected networks, written as the paper states it.

Zhang et al. 2018, Theorem 3.2 and eq. (5)-(7), one beat at a time with numpy: for each layer, the bounds of its
pre-activations by a backward pass from an identity through the layers below, then the margins ``C z``. No
batching, no IBP intersection, no rounding widening: the peer that ``benchmarks/verification.py`` times the
batched :mod:`.bounds` against, and the independent implementation ``tests/verification`` checks it with.
"""

from __future__ import annotations

import numpy as np

from .network import Dense, Network, ReLU


def _layers(network: Network) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """``(W, b, followed_by_relu)`` per Dense layer."""
    ops = list(network.ops)
    layers = []
    for k, op in enumerate(ops):
        if isinstance(op, Dense):
            relu = k + 1 < len(ops) and isinstance(ops[k + 1], ReLU)
            layers.append((op.weight.numpy(), op.bias.numpy(), relu))
        elif not isinstance(op, ReLU):
            raise TypeError(f"reference CROWN: Dense and ReLU only, found {type(op).__name__}")
    return layers


def _backward(lam: np.ndarray, layers, relax, top: int, lower_box: np.ndarray, upper_box: np.ndarray) -> np.ndarray:
    """Lower bound of ``lam . z_top`` (``z_top``: output of Dense layer ``top``) over the box."""
    bias = np.zeros(lam.shape[0])
    for k in range(top, -1, -1):
        weight, b, _ = layers[k]
        bias += lam @ b
        lam = lam @ weight
        if k > 0 and layers[k - 1][2]:        # through the ReLU after layer k-1
            lower_slope, upper_slope, intercept = relax[k - 1]
            positive, negative = np.maximum(lam, 0), np.minimum(lam, 0)
            bias += negative @ intercept
            lam = positive * lower_slope + negative * upper_slope
    centre, radius = (upper_box + lower_box) / 2, (upper_box - lower_box) / 2
    return lam @ centre - np.abs(lam) @ radius + bias


def crown_margins_one(network: Network, lower_box: np.ndarray, upper_box: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """CROWN lower bounds on ``spec @ logits`` for one beat (``spec``: ``[K-1, K]``)."""
    layers = _layers(network)
    relax: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k, (weight, _, relu) in enumerate(layers):
        if not relu:
            continue
        eye = np.eye(weight.shape[0])
        lower = _backward(eye, layers, relax, k, lower_box, upper_box)
        upper = -_backward(-eye, layers, relax, k, lower_box, upper_box)
        unstable, active = (lower < 0) & (upper > 0), lower >= 0
        upper_slope = np.where(unstable, upper / np.where(unstable, upper - lower, 1.0), active * 1.0)
        lower_slope = np.where(unstable, (upper >= -lower) * 1.0, active * 1.0)
        relax[k] = (lower_slope, upper_slope, np.where(unstable, -upper_slope * lower, 0.0))
    return _backward(spec, layers, relax, len(layers) - 1, lower_box, upper_box)
