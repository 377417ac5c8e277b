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


def relu_max_pool(h: torch.Tensor) -> torch.Tensor:
    """``ReLU(MaxPool1d(5, 2)(h))`` for ``h`` of shape ``[n, c, length]``, computed faster on CPU.

    Equal to ``MaxPool1d(5, 2)(ReLU(h))`` (ReLU is monotonic, so it commutes with max; applied after the
    pool it touches about half the values). The argmax of each window is found with torch's channels-last
    pooling kernel (vectorised over the 32 channels; the plain 1-D kernel is not), and the values are
    taken with ``gather``: autograd then routes each gradient to the same sample ``MaxPool1d`` does, and
    double backprop (NSR) differentiates ``gather`` and ``scatter_add`` exactly. On an exact tie within a
    window the two kernels may pick different samples; both are valid subgradients, and ties have
    measure zero for real-valued inputs. Without a graph to record (inference, score-based attacks) the
    plain kernel, which then skips the indices, is the faster one and is used.
    """
    if not (torch.is_grad_enabled() and h.requires_grad):
        return torch.relu(F.max_pool1d(h, POOL_KERNEL, POOL_STRIDE))
    with torch.no_grad():
        channels_last = h.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last)
        _, index = F.max_pool2d(channels_last, (1, POOL_KERNEL), (1, POOL_STRIDE), return_indices=True)
    return torch.relu(h.gather(2, index.squeeze(2).contiguous()))


def conv_channels_last(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv(h)`` for ``h`` of shape ``[n, c, 1, length]`` in channels-last memory, as a ``(1, k)`` 2-D
    convolution with the weight laid out channels-last too, so oneDNN runs it without reordering either."""
    weight = conv.weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    return F.conv2d(h, weight, conv.bias, padding=(0, conv.padding[0]))


class ResidualBlock(nn.Module):
    """``conv - ReLU - conv``, add the input, ReLU, ``MaxPool(5, 2)``.

    ``forward`` pools with :func:`relu_max_pool` on ``[n, c, length]``; ``forward_channels_last`` is the
    same block on ``[n, c, 1, length]`` in channels-last memory; ``reference`` is the original
    layer-by-layer path (``pool(relu(...))``, kept to check and time the fast ones against). All three
    use the same parameters.
    """

    def __init__(self, channels: int = CHANNELS) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=5, padding=2)
        self.pool = nn.MaxPool1d(kernel_size=POOL_KERNEL, stride=POOL_STRIDE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu_max_pool(self.conv2(torch.relu(self.conv1(x))) + x)

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
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

        Two layouts, one computation (equal to float rounding; ``tests/models``): channels-last 2-D
        convolutions, which oneDNN runs about 1.3x faster on CPU for a forward and one backward
        (training, attacks, inference), and the plain 1-D layout inside
        :func:`~ecg_pipeline.models.forward.double_backprop` (NSR, Jacobian), where torch's double
        backward of the channels-last convolution reorders memory and is the slower one
        (``benchmarks/training_step.py --compare``).
        """
        x = self._check(x)
        if in_double_backprop():
            return self.blocks(self.stem(x))
        h = conv_channels_last(x.unsqueeze(2).contiguous(memory_format=torch.channels_last), self.stem)
        for block in self.blocks:
            h = block.forward_channels_last(h)
        return h.squeeze(2)

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
