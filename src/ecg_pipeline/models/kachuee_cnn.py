"""The residual 1-D CNN of Kachuee et al. (arXiv 1805.00794) as used by Ma & Liang (seed 001).

``Conv1d(1, 32, k5, p2)`` with no activation, then 5 residual blocks, each
``Conv(32, 32, k5, p2) - ReLU - Conv(32, 32, k5, p2)``, plus the block input, ReLU,
``MaxPool(k5, s2)``. A 187-sample beat shrinks 187 -> 92 -> 44 -> 20 -> 8 -> 2, so the flattened
feature map has 32 x 2 = 64 values, followed by ``Linear(64, 32) - ReLU - Linear(32, 5)``.
No batch norm. (The paper's code also renormalises weight rows each batch; that is a training
option, not part of the architecture.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.errors import EcgDataError

from .forward import in_double_backprop

CHANNELS = 32
N_BLOCKS = 5
POOL_KERNEL = 5
POOL_STRIDE = 2


def pooled_lengths(input_length: int) -> list[int]:
    """Sequence length at the input and after each of the 5 blocks (187 -> [187, 92, 44, 20, 8, 2])."""
    lengths = [int(input_length)]
    for _ in range(N_BLOCKS):
        lengths.append((lengths[-1] - POOL_KERNEL) // POOL_STRIDE + 1)
    return lengths


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def _transposed(weight: torch.Tensor) -> torch.Tensor:
    """The weight of the convolution that is this one's transpose (its input-gradient map): the taps
    reversed, in and out swapped. A 'same' (1, k) convolution with it is the transposed convolution."""
    return _channels_last(weight.flip(3).transpose(0, 1))


class _Convolution(torch.autograd.Function):
    """A 'same' ``(1, k)`` 2-D convolution, channels-last, whose backward is written with forward
    convolutions, so that its own derivative (double backprop: NSR, Jacobian) runs on oneDNN's fast
    kernels too. torch's built-in double backward of a convolution computes the weight term as a
    convolution over the batch axis with reordered memory, several times slower here
    (``benchmarks/training_step.py --compare``).

    In a backward pass that records a graph (``create_graph=True``: the input-gradient pass of NSR and
    Jacobian) it returns the input gradient only; that pass is taken with respect to the input, and the
    weights get their gradients in the next, graph-free pass. Used inside
    :func:`~ecg_pipeline.models.forward.double_backprop` only.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias, padding=(0, weight.shape[3] // 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad = _channels_last(grad)
        padding = (0, weight.shape[3] // 2)
        grad_x = F.conv2d(grad, _transposed(weight), padding=padding) if ctx.needs_input_grad[0] else None
        if torch.is_grad_enabled():
            return grad_x, None, None
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_weight = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], list(padding), [1, 1], False, [0, 0], 1, [False, True, False])[1]
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 2, 3))
        return grad_x, grad_weight, grad_bias


class _ReLU(torch.autograd.Function):
    """ReLU whose backward treats the on/off pattern as a constant (it is, almost everywhere): torch's own
    ReLU backward, differentiated again, also builds an all-zero gradient for the pre-activation and adds
    it in, a wasted pass over the feature map per layer under double backprop."""

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        out = torch.relu(h)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out.detach(), 0)


class _ReLUMaxPool(torch.autograd.Function):
    """``ReLU(MaxPool(5, 2)(h))`` on ``[n, c, 1, length]``, its backward routing each gradient to the
    window's argmax with the indices held constant, for the reason :class:`_ReLU` gives."""

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        pooled, index = F.max_pool2d(h, (1, POOL_KERNEL), (1, POOL_STRIDE), return_indices=True)
        out = torch.relu(pooled)
        ctx.save_for_backward(h, index, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        h, index, out = ctx.saved_tensors
        grad = torch.ops.aten.threshold_backward(grad, out.detach(), 0)
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad, h.detach(), [1, POOL_KERNEL], [1, POOL_STRIDE], [0, 0], [1, 1], False, index)


def conv_channels_last(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv(h)`` for ``h`` of shape ``[n, c, 1, length]`` in channels-last memory, as a ``(1, k)`` 2-D
    convolution with the weight laid out channels-last too, so oneDNN runs it without reordering either
    (about 2x faster than the 1-D layout for a forward pass on CPU). Inside
    :func:`~ecg_pipeline.models.forward.double_backprop` it is :class:`_Convolution`."""
    weight = _channels_last(conv.weight.unsqueeze(2))
    if in_double_backprop():
        return _Convolution.apply(h, weight, conv.bias)
    return F.conv2d(h, weight, conv.bias, padding=(0, conv.padding[0]))


class ResidualBlock(nn.Module):
    """``conv - ReLU - conv``, add the input, ReLU, ``MaxPool(5, 2)``.

    ``forward`` takes ``[n, c, 1, length]`` in channels-last memory and pools before the ReLU (ReLU is
    monotonic, so it commutes with max; after the pool it touches about half the values). ``reference``
    is the original layer-by-layer path on ``[n, c, length]`` (``pool(relu(...))``, kept to check and time
    the fast one against). Both use the same parameters.
    """

    def __init__(self, channels: int = CHANNELS) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=5, padding=2)
        self.pool = nn.MaxPool1d(kernel_size=POOL_KERNEL, stride=POOL_STRIDE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if in_double_backprop():
            out = conv_channels_last(_ReLU.apply(conv_channels_last(x, self.conv1)), self.conv2)
            return _ReLUMaxPool.apply(out + x)
        out = conv_channels_last(torch.relu(conv_channels_last(x, self.conv1)), self.conv2)
        return torch.relu(F.max_pool2d(out + x, (1, POOL_KERNEL), (1, POOL_STRIDE)))

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(torch.relu(self.conv1(x)))
        return self.pool(torch.relu(out + x))


class KachueeCNN(nn.Module):
    """Stem conv, 5 residual blocks, two linear layers.

    Args:
        input_length: samples per beat (187); fixes the flattened size ``32 * pooled_lengths[-1]``.
        n_classes: number of outputs (5 AAMI classes).

    Input ``[n, 1, input_length]`` (``[n, input_length]`` accepted); output ``[n, n_classes]``.
    ``features(x)`` is the 32-d post-ReLU hidden layer, the input of ``head``.
    """

    uses_mask = False
    jacobian_by_replicas = True   # see defenses.objectives.logit_jacobian

    def __init__(self, input_length: int = 187, n_classes: int = 5) -> None:
        super().__init__()
        lengths = pooled_lengths(input_length)
        if lengths[-1] < 1 or int(n_classes) < 1:
            raise EcgDataError(
                f"KachueeCNN: input_length={input_length} leaves {lengths[-1]} samples after "
                f"{N_BLOCKS} pooling blocks (lengths {lengths}); expected >= 1 (input_length >= 125), "
                f"and n_classes={n_classes} >= 1"
            )
        self.model_config = {"input_length": int(input_length), "n_classes": int(n_classes)}
        self.input_length = int(input_length)
        self.lengths = lengths
        self.stem = nn.Conv1d(1, CHANNELS, kernel_size=5, padding=2)  # no activation after it
        self.blocks = nn.Sequential(*(ResidualBlock(CHANNELS) for _ in range(N_BLOCKS)))
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(CHANNELS * lengths[-1], 32), nn.ReLU())
        self.head = nn.Linear(32, int(n_classes))

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[2] != self.input_length:
            raise EcgDataError(
                f"KachueeCNN: input of shape {tuple(x.shape)}; expected [n, 1, {self.input_length}]"
            )
        return x

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The ``[n, 32, 2]`` output of the last residual block (before flattening).

        Computed as ``(1, 5)`` 2-D convolutions in channels-last memory (:func:`conv_channels_last`):
        the same arithmetic as the 1-D layers of ``reference_forward``, equal to float rounding
        (``tests/models``), about 1.5x faster for a CE training step on CPU.
        """
        h = conv_channels_last(_channels_last(self._check(x).unsqueeze(2)), self.stem)
        return self.blocks(h).squeeze(2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 32-d hidden layer after ReLU, the input of the final ``Linear(32, n_classes)``."""
        return self.hidden(self.feature_map(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The forward pass as first written (``ResidualBlock.reference``): the baseline that
        ``benchmarks/training_step.py`` and the tests compare ``forward`` against."""
        z = self.stem(self._check(x))
        for block in self.blocks:
            z = block.reference(z)
        return self.head(self.hidden(z))
