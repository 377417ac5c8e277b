"""A registry model as a flat list of verifiable operations, read from its weights in float64.

The verifier never runs the torch model's own ``forward``: it translates the model once into a list of
:class:`Op` (affine maps, ReLU, max-pooling, residual markers) whose float64 forward pass
(:func:`forward`) is the semantic definition every bound is a bound of. The translation is checked against
the model's forward pass in the tests (to ~1e-5 on real beats).

Residual additions are two markers in the flat list: :class:`Save` keeps the current activation on a stack,
:class:`AddSaved` adds the most recently saved one back. Backward bound propagation (CROWN) reverses this:
the coefficient reaching an ``AddSaved`` goes both ways, and meets the other branch again at ``Save``.

Supported (exact type, checked before any work): ``models.mlp.MLP`` and ``models.kachuee_cnn.KachueeCNN``
(translated from ``ResidualBlock.reference``, the layer-by-layer definition, not the channels-last fast path).
Everything else in the registry (masked ResNet, Han CNN, ensembles, Fourier input stage, ECG-ATK-GAN models)
is refused with an :class:`~ecg_pipeline.errors.EcgModelError` naming the model class and its first layer
the verifier does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.errors import EcgModelError
from ecg_pipeline.models.kachuee_cnn import KachueeCNN, ResidualBlock
from ecg_pipeline.models.mlp import MLP

DTYPE = torch.float64
SUPPORTED_MODELS = (MLP, KachueeCNN)
#: Layer types the translation reads (container types included); anything else is refused by name.
KNOWN_LAYERS = (nn.Linear, nn.Conv1d, nn.ReLU, nn.MaxPool1d, nn.Flatten, nn.Sequential, ResidualBlock)


@dataclass(frozen=True, eq=False)
class Dense:
    """``h -> W h + b`` on a flat vector (``nn.Linear``)."""

    weight: torch.Tensor   # [out, in]
    bias: torch.Tensor     # [out]


@dataclass(frozen=True, eq=False)
class Conv:
    """``nn.Conv1d`` with stride 1, dilation 1, one group and zero padding, on ``[channels, length]``."""

    weight: torch.Tensor   # [out_channels, in_channels, kernel]
    bias: torch.Tensor     # [out_channels]
    padding: int


@dataclass(frozen=True)
class ReLU:
    """``max(h, 0)``, elementwise."""


@dataclass(frozen=True)
class MaxPool:
    """``nn.MaxPool1d(kernel, stride)`` without padding, on ``[channels, length]``."""

    kernel: int
    stride: int


@dataclass(frozen=True)
class Flatten:
    """``[channels, length] -> [channels * length]`` (torch's row-major order)."""


@dataclass(frozen=True)
class Save:
    """Start of a residual branch: keep the current activation."""


@dataclass(frozen=True)
class AddSaved:
    """End of a residual branch: add the activation kept by the matching :class:`Save`."""


Op = Dense | Conv | ReLU | MaxPool | Flatten | Save | AddSaved


@dataclass(frozen=True, eq=False)
class Network:
    """The translated model: ``ops`` applied to an input of shape ``input_shape`` (one beat, no batch axis)."""

    name: str
    ops: tuple
    input_shape: tuple[int, ...]
    n_classes: int

    @property
    def is_fully_connected(self) -> bool:
        """Dense and ReLU only, on a flat input (what the MILP encodes)."""
        return len(self.input_shape) == 1 and all(isinstance(op, (Dense, ReLU)) for op in self.ops)


def _tensor(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(device="cpu", dtype=DTYPE).clone()


def _refuse(model: nn.Module, layer: str, kind: str, why: str) -> EcgModelError:
    return EcgModelError(
        f"verification: cannot translate model {type(model).__name__}: layer {layer!r} ({kind}) {why}; the "
        f"verifier knows {', '.join(c.__name__ for c in SUPPORTED_MODELS)} built from Linear, Conv1d (stride 1, "
        "zero padding), ReLU, MaxPool1d (no padding), Flatten and residual addition")


def check_supported(model: nn.Module) -> None:
    """Refuse, before any work, a model the translation does not know: an unknown class or any layer of an
    unknown type (named), or a Conv1d / MaxPool1d with settings the bounds do not model."""
    for name, module in model.named_modules():
        if name and not isinstance(module, KNOWN_LAYERS):
            raise _refuse(model, name, type(module).__name__, "is not a layer the verifier knows")
        if isinstance(module, nn.Conv1d) and (module.stride != (1,) or module.dilation != (1,) or module.groups != 1
                                               or module.padding_mode != "zeros" or isinstance(module.padding, str)):
            raise _refuse(model, name, "Conv1d", "has stride, dilation, groups or padding mode the verifier does not model")
        if isinstance(module, nn.MaxPool1d) and (module.padding != 0 or module.dilation != 1 or module.ceil_mode):
            raise _refuse(model, name, "MaxPool1d", "has padding, dilation or ceil_mode the verifier does not model")
    if type(model) not in SUPPORTED_MODELS:
        raise EcgModelError(
            f"verification: cannot translate model {type(model).__name__}: its layers are known but its forward "
            f"wiring is not; the verifier knows {', '.join(c.__name__ for c in SUPPORTED_MODELS)}")
    if getattr(model, "uses_mask", False):
        raise EcgModelError(f"verification: model {type(model).__name__} takes a padding mask; the verifier does not")


def _sequential_ops(model: nn.Module, prefix: str, seq: nn.Sequential) -> list:
    ops: list = []
    for name, layer in seq.named_children():
        if isinstance(layer, nn.Linear):
            ops.append(Dense(_tensor(layer.weight), _tensor(layer.bias)))
        elif isinstance(layer, nn.ReLU):
            ops.append(ReLU())
        elif isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                raise _refuse(model, f"{prefix}.{name}", "Flatten", "flattens other axes than all but the batch")
            ops.append(Flatten())
        else:
            raise _refuse(model, f"{prefix}.{name}", type(layer).__name__, "is not expected in this Sequential")
    return ops


def _conv(layer: nn.Conv1d) -> Conv:
    return Conv(_tensor(layer.weight), _tensor(layer.bias), int(layer.padding[0]))


def translate(model: nn.Module) -> Network:
    """The float64 op list of an ``MLP`` or ``KachueeCNN`` (refused otherwise, naming the layer)."""
    check_supported(model)
    if isinstance(model, MLP):
        ops = [*_sequential_ops(model, "body", model.body),
               *_sequential_ops(model, "head", nn.Sequential(model.head))]
        return Network("mlp", tuple(ops), (model.input_length,), model.head.out_features)
    ops = [_conv(model.stem)]
    for block in model.blocks:   # ResidualBlock.reference: pool(relu(conv2(relu(conv1(x))) + x))
        ops += [Save(), _conv(block.conv1), ReLU(), _conv(block.conv2), AddSaved(), ReLU(),
                MaxPool(int(block.pool.kernel_size), int(block.pool.stride))]
    ops += _sequential_ops(model, "hidden", model.hidden)
    ops.append(Dense(_tensor(model.head.weight), _tensor(model.head.bias)))
    return Network("kachuee_cnn", tuple(ops), (1, model.input_length), model.head.out_features)


def conv1d(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
    """``F.conv1d`` (stride 1, zero padding) as one matrix product over unfolded windows: torch's float64
    convolution on CPU takes a slow reference kernel (tens of times slower than a float64 matrix product)."""
    out_channels, in_channels, kernel = weight.shape
    windows = F.pad(h, (padding, padding)).unfold(-1, kernel, 1)            # [n, C_in, L_out, kernel]
    out = windows.transpose(1, 2).reshape(h.shape[0], -1, in_channels * kernel) @ weight.reshape(out_channels, -1).T
    out = out.transpose(1, 2)
    return out + bias.unsqueeze(1) if bias is not None else out


def conv_transpose1d(lam: torch.Tensor, weight: torch.Tensor, padding: int) -> torch.Tensor:
    """The adjoint of :func:`conv1d` (without bias): a convolution with the taps reversed and the channels
    swapped, padded by ``kernel - 1 - padding``."""
    kernel = weight.shape[2]
    return conv1d(lam, weight.flip(2).transpose(0, 1), None, kernel - 1 - padding)


def apply_op(op, h: torch.Tensor) -> torch.Tensor:
    """One op on a batch ``h`` of shape ``[n, *shape]`` (no residual markers)."""
    if isinstance(op, Dense):
        return h @ op.weight.T + op.bias
    if isinstance(op, Conv):
        return conv1d(h, op.weight, op.bias, op.padding)
    if isinstance(op, ReLU):
        return torch.relu(h)
    if isinstance(op, MaxPool):
        return F.max_pool1d(h, op.kernel, op.stride)
    if isinstance(op, Flatten):
        return h.reshape(h.shape[0], -1)
    raise TypeError(f"apply_op: {op!r}")


def activations(network: Network, h: torch.Tensor):
    """Yield ``h`` (``[n, *shape]``) before op 0, then after each op in turn: the one walk through the ops, with the
    residual connections (``Save`` / ``AddSaved``) resolved."""
    saved: list[torch.Tensor] = []
    yield h
    for op in network.ops:
        if isinstance(op, Save):
            saved.append(h)
        elif isinstance(op, AddSaved):
            h = h + saved.pop()
        else:
            h = apply_op(op, h)
        yield h


def activation_shapes(network: Network) -> list[tuple[int, ...]]:
    """``shapes[k]``: the shape of one beat's activation before op ``k`` (``shapes[-1]``: the logits')."""
    return [tuple(h.shape[1:]) for h in activations(network, torch.zeros((1, *network.input_shape), dtype=DTYPE))]


def forward(network: Network, x: torch.Tensor) -> torch.Tensor:
    """The network's logits for beats ``x`` (``[n, *input_shape]``, or ``[n, 1, L]`` for the MLP), in float64."""
    *_, logits = activations(network, x.to(DTYPE).reshape(x.shape[0], *network.input_shape))
    return logits
