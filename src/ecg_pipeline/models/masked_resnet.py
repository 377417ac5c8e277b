"""The CPSC 2018 ResNet with masked average pooling ("resnet18a") of Ma & Liang (seed 001, Fig. 2).

Stem ``Conv1d(8, 64, k11, s2, p5) - GroupNorm(64, 64) - LeakyReLU - MaxPool(3, 2, 1)``; 4 stages of
2 basic blocks with widths 64/128/256/512 where *every* block has stride 2; then
``Conv1d(512, 512, k3)`` (no padding) ``+ ReLU``; masked average pooling; ``Linear(512, 9)``.
Basic block: ``conv k3 (stride 2) - GN - LeakyReLU - conv k3 - GN``, shortcut ``conv1x1 stride 2 - GN``,
add, LeakyReLU. GroupNorm uses one group per channel; convs before a GroupNorm have no bias
(as in the paper's code).

Every stride-2 layer maps a length ``L`` to ``ceil(L / 2)``, so the last block outputs
``ceil(L / 1024)`` steps and the final k3 conv ``ceil(L / 1024) - 2`` (31 for the 33,792-sample
CPSC input). Masked pooling (the paper's "output masking"): the ``[n, 1, L]`` 0/1 mask is
zero-padded on the right to a multiple of 1024 and average-pooled with kernel 3 x 1024, stride
1024 -- the input span of each output step -- giving one weight per feature step (for L = 33,792
this is exactly the code's ``AvgPool1d(3072, 1024)``). Weights < 0.5 are set to 0; the others
keep their fractional value (the code's rounding to 1 is commented out); the pooled feature is
``sum_t m_t f_t / (sum_t m_t + 1e-8)``.

Known property, not a bug of this port: GroupNorm with one group per channel normalises each
channel over the *whole* time axis, padding included, so the content of the padded region (and
its length) changes every feature through the normalisation statistics. The mask only removes
padded *positions* from the final average. With zero padding (as produced by the padding code)
and attacks that multiply their noise by the mask, the padded content is always zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.errors import EcgDataError

WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2
DOWNSAMPLE = 2 * 2 * 2 ** (len(WIDTHS) * BLOCKS_PER_STAGE)  # stem conv, stem pool, 8 blocks: 1024
FINAL_KERNEL = 3
MASK_THRESHOLD = 0.5


def _gn(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(channels, channels)  # one group per channel


class BasicBlock(nn.Module):
    """``conv k3 s2 - GN - LeakyReLU - conv k3 - GN`` + ``conv1x1 s2 - GN`` shortcut, LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.gn1 = _gn(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.gn2 = _gn(out_channels)
        self.shortcut = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), _gn(out_channels)
        )
        self.act = nn.LeakyReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.gn1(self.conv1(x)))
        out = self.gn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


def feature_length(input_length: int) -> int:
    """Time steps after the final k3 conv: ``ceil(L / 1024) - 2`` (31 for L = 33,792)."""
    return math.ceil(int(input_length) / DOWNSAMPLE) - (FINAL_KERNEL - 1)


def pool_mask(mask: torch.Tensor, threshold: float = MASK_THRESHOLD) -> torch.Tensor:
    """``[n, 1, L]`` 0/1 input mask -> ``[n, 1, feature_length(L)]`` weights (values < 0.5 -> 0)."""
    length = mask.shape[-1]
    padded_length = math.ceil(length / DOWNSAMPLE) * DOWNSAMPLE
    m = F.pad(mask, (0, padded_length - length))
    m = F.avg_pool1d(m, kernel_size=FINAL_KERNEL * DOWNSAMPLE, stride=DOWNSAMPLE)
    return torch.where(m < threshold, torch.zeros_like(m), m)


def masked_average_pool(features: torch.Tensor, pooled_mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean over time: ``[n, C, T]`` x ``[n, 1, T]`` -> ``[n, C]``."""
    return (features * pooled_mask).sum(dim=2) / (pooled_mask.sum(dim=2) + 1e-8)


class MaskedResNet(nn.Module):
    """ResNet-18-like 1-D CNN for padded 8-lead CPSC 2018 records, with masked average pooling.

    Args:
        in_channels: leads (8: I, II, V1-V6).
        n_classes: outputs (9 CPSC 2018 classes).
        width: channels of the stem and first stage; the stages have ``width * (1, 2, 4, 8)``
            (64: the paper's 64/128/256/512). Smaller widths are for smoke runs (the ci env), not results.

    ``forward(x, mask=None)``: ``x`` ``[n, in_channels, L]`` with ``L > 2048`` (33,792 in the
    paper), ``mask`` ``[n, 1, L]`` (or ``[n, L]``; bool or float) with 1 on real samples;
    ``None`` means all ones. Output ``[n, n_classes]``. ``features(x, mask)`` is the 512-d pooled
    feature, the input of ``head``.
    """

    uses_mask = True

    def __init__(self, in_channels: int = 8, n_classes: int = 9, width: int = WIDTHS[0]) -> None:
        super().__init__()
        if int(in_channels) < 1 or int(n_classes) < 1 or int(width) < 1:
            raise EcgDataError(
                f"MaskedResNet: in_channels={in_channels}, n_classes={n_classes} and width={width} must be >= 1"
            )
        self.model_config = {"in_channels": int(in_channels), "n_classes": int(n_classes), "width": int(width)}
        self.in_channels = int(in_channels)
        widths = tuple(int(width) * w // WIDTHS[0] for w in WIDTHS)
        self.stem = nn.Sequential(
            nn.Conv1d(self.in_channels, widths[0], 11, stride=2, padding=5, bias=False),
            _gn(widths[0]),
            nn.LeakyReLU(),
            nn.MaxPool1d(kernel_size=3, stride=2, padding=1),
        )
        stages = []
        in_ch = widths[0]
        for stage_width in widths:
            blocks = []
            for _ in range(BLOCKS_PER_STAGE):
                blocks.append(BasicBlock(in_ch, stage_width, stride=2))
                in_ch = stage_width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final = nn.Sequential(nn.Conv1d(widths[-1], widths[-1], FINAL_KERNEL), nn.ReLU())
        self.head = nn.Linear(widths[-1], int(n_classes))

    def _check(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise EcgDataError(
                f"MaskedResNet: input of shape {tuple(x.shape)}; expected [n, {self.in_channels}, length]"
            )
        n, _, length = x.shape
        if feature_length(length) < 1:
            raise EcgDataError(
                f"MaskedResNet: input length {length} is too short; expected more than "
                f"{(FINAL_KERNEL - 1) * DOWNSAMPLE} samples (33,792 for CPSC 2018)"
            )
        if mask is None:
            return x, x.new_ones((n, 1, length))
        if mask.dim() == 2:
            mask = mask.unsqueeze(1)
        if mask.shape != (n, 1, length):
            raise EcgDataError(
                f"MaskedResNet: mask of shape {tuple(mask.shape)} does not match input "
                f"{tuple(x.shape)}; expected [{n}, 1, {length}]"
            )
        return x, mask.to(dtype=x.dtype)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, 512, feature_length(L)]`` after the final conv + ReLU (before pooling)."""
        return self.final(self.stages(self.stem(x)))

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The 512-d masked average of the final feature map, the input of ``head``."""
        x, mask = self._check(x, mask)
        return masked_average_pool(self.feature_map(x), pool_mask(mask))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, mask))
